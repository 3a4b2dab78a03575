"""PyTorch baselines of Ou et al. (2022): DiffMF and, sharing its parts, EquiVSet_ind and EquiVSet_copula."""

from .diffmf import DiffMF, DiffMFConfig, unrolled_psi
from .encoders import make_encoder
from .equivset import EquiVSet, EquiVSetConfig, elbo
from .estimators import exact_gains, multilinear_extension, relaxed_gains, score_gains
from .mean_field import draw_uniforms, gradient_estimate, marginal_gains, mean_field_step
from .recognition import (
    RecognitionNetwork,
    VariationalParams,
    bernoulli_entropy,
    gaussian_noise,
    relaxed_bernoulli,
    straight_through,
)
from .set_function import SetFunction
from .subset_gains import blocked_gains, sample_gains, sample_membership
from .training import cross_entropy

__all__ = [
    "DiffMF",
    "DiffMFConfig",
    "EquiVSet",
    "EquiVSetConfig",
    "RecognitionNetwork",
    "SetFunction",
    "VariationalParams",
    "bernoulli_entropy",
    "blocked_gains",
    "cross_entropy",
    "draw_uniforms",
    "elbo",
    "exact_gains",
    "gaussian_noise",
    "gradient_estimate",
    "make_encoder",
    "marginal_gains",
    "mean_field_step",
    "multilinear_extension",
    "relaxed_bernoulli",
    "relaxed_gains",
    "sample_gains",
    "sample_membership",
    "score_gains",
    "straight_through",
    "unrolled_psi",
]

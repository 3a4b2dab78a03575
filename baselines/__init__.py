"""PyTorch baselines of Ou et al. (2022): DiffMF (and, sharing its parts, the EquiVSet variants)."""

from .diffmf import DiffMF, DiffMFConfig, unrolled_psi
from .encoders import make_encoder
from .estimators import exact_gains, multilinear_extension, relaxed_gains, score_gains
from .mean_field import draw_uniforms, gradient_estimate, marginal_gains, mean_field_step
from .set_function import SetFunction
from .training import cross_entropy

__all__ = [
    "DiffMF",
    "DiffMFConfig",
    "SetFunction",
    "cross_entropy",
    "draw_uniforms",
    "exact_gains",
    "gradient_estimate",
    "make_encoder",
    "marginal_gains",
    "mean_field_step",
    "multilinear_extension",
    "relaxed_gains",
    "score_gains",
    "unrolled_psi",
]

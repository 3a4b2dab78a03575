"""PyTorch baselines of Ou et al. (2022): DiffMF (and, sharing its parts, the EquiVSet variants)."""

from .diffmf import DiffMF, DiffMFConfig, unrolled_psi
from .encoders import make_encoder
from .mean_field import draw_uniforms, marginal_gains, mean_field_step
from .set_function import SetFunction
from .subset_gains import blocked_gains, sample_gains, sample_membership
from .training import cross_entropy

__all__ = [
    "DiffMF",
    "DiffMFConfig",
    "SetFunction",
    "blocked_gains",
    "cross_entropy",
    "draw_uniforms",
    "make_encoder",
    "marginal_gains",
    "mean_field_step",
    "sample_gains",
    "sample_membership",
    "unrolled_psi",
]

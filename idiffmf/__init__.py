"""iDiffMF (Özcan, Shi & Ioannidis, AAAI 2025) in JAX + Flax + optax + jaxopt."""

from .algorithm import VARIANTS, IDiffMF, IDiffMFConfig, mean_field_map
from .estimators import exact_gains, gradient_estimate, multilinear_extension, relaxed_gains, score_gains
from .fixed_point import FixedPointConfig, SolveInfo, contraction_factor, implicit_solver, solve
from .multilinear import draw_uniforms, marginal_gains
from .normalization import NORMALIZATION_SCOPES, NORMALIZATIONS, normalize_gains
from .set_function import SetFunction, torch_linear_init
from .training import cross_entropy, make_optimizer, pad_batch

__all__ = [
    "FixedPointConfig",
    "IDiffMF",
    "IDiffMFConfig",
    "NORMALIZATIONS",
    "NORMALIZATION_SCOPES",
    "SetFunction",
    "SolveInfo",
    "VARIANTS",
    "contraction_factor",
    "cross_entropy",
    "draw_uniforms",
    "exact_gains",
    "gradient_estimate",
    "implicit_solver",
    "make_optimizer",
    "marginal_gains",
    "mean_field_map",
    "multilinear_extension",
    "normalize_gains",
    "pad_batch",
    "relaxed_gains",
    "score_gains",
    "solve",
    "torch_linear_init",
]

"""iDiffMF (Özcan, Shi & Ioannidis, AAAI 2025) in JAX + Flax + optax + jaxopt."""

from .algorithm import VARIANTS, IDiffMF, IDiffMFConfig
from .fixed_point import FixedPointConfig, SolveInfo, implicit_solver, solve
from .multilinear import draw_uniforms, marginal_gains
from .normalization import NORMALIZATIONS, normalize_gains
from .set_function import SetFunction, torch_linear_init
from .training import cross_entropy, make_optimizer, pad_batch

__all__ = [
    "FixedPointConfig",
    "IDiffMF",
    "IDiffMFConfig",
    "NORMALIZATIONS",
    "SetFunction",
    "SolveInfo",
    "VARIANTS",
    "cross_entropy",
    "draw_uniforms",
    "implicit_solver",
    "make_optimizer",
    "marginal_gains",
    "normalize_gains",
    "pad_batch",
    "solve",
    "torch_linear_init",
]

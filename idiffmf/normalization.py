"""Scalings of ``∇_ψ F̃`` that make the mean-field map contractive (Asm. 4.1; Sec. 5.1, App. I.3).

Applied to the batch matrix ``G [B, |V|]`` of gradient estimates before the sigmoid of Eq. (8):

* ``"c"`` (iDiffMF_c): ``G · 2 / (|V| c)`` — F̃ scaled by the constant ``2/(|V|c)``.
* ``"fro"`` (iDiffMF_2): ``G · 2 / (|V| ‖G‖_F)`` — Frobenius norm of the whole batch matrix.
* ``"nuclear"`` (iDiffMF_*): ``G · 2 / (|V| ‖G‖_*)`` — nuclear norm of the whole batch matrix.

As published, the two norms are taken over the *batch*: a set's fixed point depends on the other
sets in its batch. ``|V|`` is each set's number of valid positions. Padding rows (all-invalid) add
nothing to either norm.
"""

from __future__ import annotations

import jax.numpy as jnp
import jax

__all__ = ["NORMALIZATIONS", "normalize_gains"]

NORMALIZATIONS = ("c", "fro", "nuclear")

_TINY = 1e-30


def normalize_gains(gains: jax.Array, mask: jax.Array, kind: str, c: float = 1.0) -> jax.Array:
    """Scale ``gains`` (float ``[B, |V|]``) per ``kind``; ``c`` is read for ``"c"`` only."""
    v_size = jnp.maximum(mask.sum(axis=1, keepdims=True), 1).astype(gains.dtype)
    if kind == "c":
        return gains * (2.0 / (v_size * c))
    if kind == "fro":
        norm = jnp.sqrt(jnp.sum(gains**2))
    elif kind == "nuclear":
        norm = jnp.sum(jnp.linalg.svd(gains, compute_uv=False))
    else:
        raise ValueError(f"unknown normalization {kind!r}; choose one of {', '.join(NORMALIZATIONS)}")
    return gains * (2.0 / (v_size * jnp.maximum(norm, _TINY)))

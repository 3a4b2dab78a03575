"""Scalings of ``∇_ψ F̃`` that make the mean-field map contractive (Asm. 4.1; Sec. 5.1, App. I.3).

Applied to the batch matrix ``G [B, |V|]`` of gradient estimates before the sigmoid of Eq. (8):

* ``"c"`` (iDiffMF_c): ``G · 2 / (|V| c)`` — F̃ scaled by the constant ``2/(|V|c)``.
* ``"fro"`` (iDiffMF_2): ``G · 2 / (|V| ‖G‖_F)`` — Frobenius norm.
* ``"nuclear"`` (iDiffMF_*): ``G · 2 / (|V| ‖G‖_*)`` — nuclear norm.

``scope`` says which matrix the norm is taken of. ``"batch"`` (as published) uses the whole batch
matrix, so a set's fixed point — and its prediction — depends on which other sets share its batch.
``"set"`` uses each set's own row ``g_b [1, |V|]``: the map then acts on every set independently.
A ``1 × |V|`` matrix has a single singular value, ``‖g_b‖₂``, so per set the Frobenius and nuclear
norms coincide: ``fro`` and ``nuclear`` with ``scope="set"`` are the same map.

``|V|`` is each set's number of valid positions. Padding rows (all-invalid) add nothing to either
norm, and a zero row is left at zero with finite derivatives.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["NORMALIZATIONS", "NORMALIZATION_SCOPES", "normalize_gains"]

NORMALIZATIONS = ("c", "fro", "nuclear")
NORMALIZATION_SCOPES = ("batch", "set")


def _l2(x: jax.Array, axis=None, keepdims: bool = False) -> jax.Array:
    """Euclidean norm with a finite derivative at 0 (where ``jnp.linalg.norm``'s is NaN)."""
    squares = jnp.sum(x**2, axis=axis, keepdims=keepdims)
    positive = squares > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, squares, 1.0)), 0.0)


def normalize_gains(gains: jax.Array, mask: jax.Array, kind: str, c: float = 1.0, scope: str = "batch") -> jax.Array:
    """Scale ``gains`` (float ``[B, |V|]``) per ``kind`` and ``scope``; ``c`` is read for ``"c"`` only.

    Raises:
        ValueError: for an unknown ``kind`` or ``scope`` (at trace time).
    """
    if scope not in NORMALIZATION_SCOPES:
        raise ValueError(f"unknown normalization scope {scope!r}; choose one of {', '.join(NORMALIZATION_SCOPES)}")
    v_size = jnp.maximum(mask.sum(axis=1, keepdims=True), 1).astype(gains.dtype)
    if kind == "c":
        return gains * (2.0 / (v_size * c))
    if kind not in NORMALIZATIONS:
        raise ValueError(f"unknown normalization {kind!r}; choose one of {', '.join(NORMALIZATIONS)}")
    if scope == "set":
        norm = _l2(gains, axis=1, keepdims=True)  # ‖g_b‖_F = ‖g_b‖_* for a single row
    elif kind == "fro":
        norm = _l2(gains)
    else:
        norm = jnp.sum(jnp.linalg.svd(gains, compute_uv=False))
    # A zero norm means zero gains: divide them by 1. (Clamping the norm to a tiny number instead
    # overflows 1/norm² in float32, and 0 · inf makes the padding rows' derivatives NaN.)
    return gains * (2.0 / (v_size * jnp.where(norm > 0, norm, 1.0)))

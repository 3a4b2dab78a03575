"""Monte Carlo estimates of the multilinear extension's gradient ``∇_ψ F̃`` (Eq. 6) in JAX.

``∂F̃/∂ψ_j = E_{S∼q(ψ)}[F(S ∪ {j}) − F(S ∖ {j})]``, estimated from hard Bernoulli samples
``S = {i : u_i < ψ_i}`` with uniforms ``u`` drawn once per solve, so that the mean-field map is a
deterministic function of ψ during a fixed-point solve. With hard samples the estimate is piecewise
constant in ψ: its derivative with respect to ψ is exactly zero (the comparison has no tangent), so
Thm. 4.3's ``A`` is the identity. :func:`marginal_gains` is the one replaceable estimator.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

__all__ = ["BLOCK_ROWS", "draw_uniforms", "marginal_gains"]

#: Set-function evaluations per block: ``BLOCK_ROWS × hidden`` float32 activations (8 MB at
#: hidden 500) stay in a CPU's last-level cache between the matrix products.
BLOCK_ROWS = 4096


def draw_uniforms(key: jax.Array, batch: int, v_size: int, samples: int, shared: bool) -> jax.Array:
    """Uniforms behind the samples: ``[B, m, |V|]`` if ``shared`` else ``[B, m, |V|, |V|]``.

    Entry ``[b, l, j, i]`` decides whether item ``i`` is in coordinate ``j``'s ``l``-th sample.
    """
    shape = (batch, samples, v_size) if shared else (batch, samples, v_size, v_size)
    return jax.random.uniform(key, shape)


def _set_gains(value: Callable[[jax.Array], jax.Array], a: jax.Array, psi: jax.Array, valid: jax.Array,
               u: jax.Array) -> jax.Array:
    """Eq. (8)'s estimate for one set: a ``[|V|, hidden]``, psi/valid ``[|V|]``, u ``[m, |V|(, |V|)]`` → ``[|V|]``.

    ρ's first layer is linear, so a subset's pre-activation is a sum of member terms,
    ``z(S) = Σ_{i∈S} a_i``, and adding or removing ``j`` adds ``±a_j``.
    """
    if u.ndim == 3:
        # Fresh subset per coordinate j, drawn with ψ_j ← 0 (Alg. 2 line 6): j ∉ S.
        others = 1.0 - jnp.eye(psi.shape[0], dtype=a.dtype)
        member = (u < psi).astype(a.dtype) * valid * others                  # [m, |V| (j), |V| (i)]
        z_without = member @ a                                                # z(S), S ∌ j
        gains = value(z_without + a) - value(z_without)                       # F(S ∪ {j}) − F(S)
    else:
        # One subset per sample, shared by all coordinates; F(S) is evaluated once.
        member = (u < psi).astype(a.dtype) * valid                           # [m, |V|]
        z = member @ a                                                        # z(S) [m, hidden]
        sign = 1.0 - 2.0 * member                                             # +1: j ∉ S, −1: j ∈ S
        toggled = z[:, None, :] + sign[..., None] * a                         # z(S △ {j})
        gains = sign * (value(toggled) - value(z)[:, None])                   # ±(F(S △ {j}) − F(S))
    return gains.mean(axis=0) * valid


def marginal_gains(value: Callable[[jax.Array], jax.Array], a: jax.Array, psi: jax.Array, mask: jax.Array,
                   u: jax.Array) -> jax.Array:
    """Monte Carlo ``∇_ψ F̃(ψ)``: the mean over samples of ``F(S ∪ {j}) − F(S ∖ {j})``.

    Sets are evaluated in blocks of about :data:`BLOCK_ROWS` set-function evaluations
    (``lax.map``), so that each block's ``[rows, hidden]`` activations stay in cache between the
    matrix products and the fused elementwise operations, in the forward and the backward pass.

    Args:
        value: maps first-layer pre-activations ``[..., hidden]`` to ``F`` ``[...]``.
        a: float ``[B, |V|, hidden]`` element terms ``W₁ φ(x_i)``.
        psi: float ``[B, |V|]`` current marginals.
        mask: bool ``[B, |V|]`` valid positions (padding never joins a sample).
        u: uniforms from :func:`draw_uniforms`.

    Returns:
        float ``[B, |V|]``; zero at padding positions.
    """
    samples, v = u.shape[1], psi.shape[1]
    rows_per_set = 2 * samples * v if u.ndim == 4 else samples * (v + 1)
    block = max(1, min(psi.shape[0], BLOCK_ROWS // rows_per_set))
    # Rematerialised per block: the backward pass recomputes one block's activations at a time
    # instead of streaming all of them, [B, m, |V|, hidden], through memory.
    per_block = jax.checkpoint(lambda args: _set_gains(value, *args))
    return jax.lax.map(per_block, (a, psi, mask.astype(a.dtype), u), batch_size=block)

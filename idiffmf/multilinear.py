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

__all__ = ["draw_uniforms", "marginal_gains"]


def draw_uniforms(key: jax.Array, batch: int, v_size: int, samples: int, shared: bool) -> jax.Array:
    """Uniforms behind the samples: ``[B, m, |V|]`` if ``shared`` else ``[B, m, |V|, |V|]``.

    Entry ``[b, l, j, i]`` decides whether item ``i`` is in coordinate ``j``'s ``l``-th sample.
    """
    shape = (batch, samples, v_size) if shared else (batch, samples, v_size, v_size)
    return jax.random.uniform(key, shape)


def marginal_gains(value: Callable[[jax.Array], jax.Array], a: jax.Array, psi: jax.Array, mask: jax.Array,
                   u: jax.Array) -> jax.Array:
    """Monte Carlo ``∇_ψ F̃(ψ)``: the mean over samples of ``F(S ∪ {j}) − F(S ∖ {j})``.

    Args:
        value: maps first-layer pre-activations ``[..., hidden]`` to ``F`` ``[...]``.
        a: float ``[B, |V|, hidden]`` element terms ``W₁ φ(x_i)``.
        psi: float ``[B, |V|]`` current marginals.
        mask: bool ``[B, |V|]`` valid positions (padding never joins a sample).
        u: uniforms from :func:`draw_uniforms`.

    Returns:
        float ``[B, |V|]``; zero at padding positions.
    """
    valid = mask.astype(a.dtype)
    if u.ndim == 4:
        # Fresh subset per coordinate j, drawn with ψ_j ← 0 (Alg. 2 line 6): j ∉ S.
        others = 1.0 - jnp.eye(psi.shape[1], dtype=a.dtype)
        member = (u < psi[:, None, None, :]).astype(a.dtype) * valid[:, None, None, :] * others
        z_without = jnp.einsum("bmji,bih->bmjh", member, a)       # z(S), S ∌ j
        z_with = z_without + a[:, None, :, :]                      # z(S ∪ {j})
        gains = value(z_with) - value(z_without)                   # [B, m, |V|]
    else:
        # One subset per sample, shared by all coordinates; F(S) is evaluated once.
        member = (u < psi[:, None, :]).astype(a.dtype) * valid[:, None, :]         # [B, m, |V|]
        z = jnp.einsum("bmi,bih->bmh", member, a)
        toggled = z[:, :, None, :] + (1.0 - 2.0 * member)[..., None] * a[:, None]  # z(S △ {j})
        f_set, f_toggled = value(z)[..., None], value(toggled)
        gains = jnp.where(member > 0, f_set - f_toggled, f_toggled - f_set)
    return gains.mean(axis=1) * valid

"""Monte Carlo estimates of the multilinear extension's gradient ``∇_ψ F̃`` (Eq. 6) in JAX.

``∂F̃/∂ψ_j = E_{S∼q(ψ)}[F(S ∪ {j}) − F(S ∖ {j})]``, estimated from hard Bernoulli samples
``S = {i : u_i < ψ_i}`` with uniforms ``u`` drawn once per solve, so that the mean-field map is a
deterministic function of ψ during a fixed-point solve. With hard samples the estimate is piecewise
constant in ψ: its derivative with respect to ψ is exactly zero (the comparison has no tangent), so
Thm. 4.3's ``A`` is the identity. :func:`marginal_gains` is the one replaceable estimator.

Its vector–Jacobian product is written by hand (``jax.custom_vjp``), for the same reason as the
PyTorch baselines' (:mod:`setbench.baselines.subset_gains`): coordinate ``j``'s estimate depends on
the parameters only through ``j``'s own subsets, and the loss of Eq. (4) reaches only the
coordinates it weights (``S*`` and as many negatives: 20 of 100 on Gaussian and Moons). The backward
pass therefore re-evaluates, block by block, only the coordinates whose cotangent is non-zero.
"""

from __future__ import annotations

import functools
from typing import Callable

import jax
import jax.numpy as jnp

__all__ = ["BLOCK_ROWS", "CHUNK", "CHUNKED_MAX_FRACTION", "draw_uniforms", "marginal_gains"]

#: Set-function evaluations per block: ``BLOCK_ROWS × hidden`` float32 activations (4 MB at
#: hidden 500) stay in a CPU's cache between the matrix products. Timed alone on a 2-core
#: EPYC (|V| = 100 and 30, fresh and shared samples), 2048 was the fastest of 1024–8192 or level with it.
BLOCK_ROWS = 2048

#: Coordinates per set re-evaluated together in the backward pass; a block of sets runs as many
#: chunks as its set with the most non-zero cotangents needs.
CHUNK = 8

#: The backward pass goes by chunks when their coordinate slots (padding included) are at most this
#: fraction of the ``B·|V|`` coordinates, and re-evaluates every coordinate otherwise. Chunked, a
#: coordinate costs about 1.2× what it costs in the plain blocked pass (gathers, shorter products;
#: timed at |V| = 100).
CHUNKED_MAX_FRACTION = 0.75


def draw_uniforms(key: jax.Array, batch: int, v_size: int, samples: int, shared: bool) -> jax.Array:
    """Uniforms behind the samples: ``[B, m, |V|]`` if ``shared`` else ``[B, m, |V|, |V|]``.

    Entry ``[b, l, j, i]`` decides whether item ``i`` is in coordinate ``j``'s ``l``-th sample.
    """
    shape = (batch, samples, v_size) if shared else (batch, samples, v_size, v_size)
    return jax.random.uniform(key, shape)


def _set_gains(value: Callable[[jax.Array], jax.Array], a: jax.Array, psi: jax.Array, valid: jax.Array,
               u: jax.Array, coords: jax.Array | None = None) -> jax.Array:
    """Eq. (8)'s estimate for one set: a ``[|V|, hidden]``, psi/valid ``[|V|]``, u ``[m, |V|(, |V|)]``.

    ``coords`` int ``[k]`` picks the coordinates estimated (``None``: all ``|V|``); returns ``[k]``,
    not masked. ρ's first layer is linear, so a subset's pre-activation is a sum of member terms,
    ``z(S) = Σ_{i∈S} a_i``, and adding or removing ``j`` adds ``±a_j``.
    """
    positions = jnp.arange(psi.shape[0])
    coords = positions if coords is None else coords
    a_j = a[coords]                                                           # [k, hidden]
    fresh = u.ndim == 3                                                       # one set's u: [m, |V|, |V|]
    if fresh:
        # Fresh subset per coordinate j, drawn with ψ_j ← 0 (Alg. 2 line 6): j ∉ S.
        others = (positions[None, :] != coords[:, None]).astype(a.dtype)     # [k, |V|]
        member = (u[:, coords] < psi).astype(a.dtype) * valid * others        # [m, k (j), |V| (i)]
        z_without = member @ a                                                # z(S), S ∌ j
        gains = value(z_without + a_j) - value(z_without)                     # F(S ∪ {j}) − F(S)
    else:
        # One subset per sample, shared by all coordinates; F(S) is evaluated once.
        member = (u < psi).astype(a.dtype) * valid                           # [m, |V|]
        z = member @ a                                                        # z(S) [m, hidden]
        sign = 1.0 - 2.0 * member[:, coords]                                  # +1: j ∉ S, −1: j ∈ S
        toggled = z[:, None, :] + sign[..., None] * a_j                       # z(S △ {j})
        gains = sign * (value(toggled) - value(z)[:, None])                   # ±(F(S △ {j}) − F(S))
    return gains.mean(axis=0)


def _rows_per_set(u: jax.Array, coordinates: int) -> int:
    """Set-function evaluations per set: ``2m`` per coordinate (fresh) or ``m`` per coordinate + ``m``.

    ``u`` is the whole batch's, ``[B, m, |V|, |V|]`` (fresh) or ``[B, m, |V|]`` (shared).
    """
    samples = u.shape[1]
    fresh = u.ndim == 4
    return 2 * samples * coordinates if fresh else samples * (coordinates + 1)


def _takes_chunks(counts: jax.Array, v: int, per_block: int) -> jax.Array:
    """Whether the backward pass goes by chunks: bool scalar from the per-set ``counts`` int ``[B]`` of
    coordinates with a non-zero cotangent.

    Sets are taken by decreasing count, ``per_block`` at a time, and a block runs as many chunks as
    its first set needs: the chunks evaluate ``Σ_blocks ⌈count / CHUNK⌉ · CHUNK · per_block``
    coordinate slots, padding included, against ``B·|V|`` in the plain pass.
    """
    first = jnp.sort(counts)[::-1][::per_block]
    slots = jnp.sum(-(-first // CHUNK) * CHUNK) * per_block
    return slots <= CHUNKED_MAX_FRACTION * counts.shape[0] * v


def _row_wise(row_value: Callable[..., jax.Array], consts: tuple) -> Callable[[jax.Array], jax.Array]:
    """``value(z)`` for ``z [..., hidden]`` from the closure-converted ``row_value(z_row, *consts)``."""

    def value(z: jax.Array) -> jax.Array:
        rows = z.reshape(-1, z.shape[-1])
        return jax.vmap(lambda row: row_value(row, *consts))(rows).reshape(z.shape[:-1])

    return value


def _blocked(value: Callable[[jax.Array], jax.Array], a, psi, valid, u) -> jax.Array:
    """All coordinates, in blocks of whole sets (``lax.map``), rematerialised per block under autodiff."""
    block = max(1, min(psi.shape[0], BLOCK_ROWS // _rows_per_set(u, psi.shape[1])))
    per_block = jax.checkpoint(lambda args: _set_gains(value, *args))
    return jax.lax.map(per_block, (a, psi, valid, u), batch_size=block) * valid


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _blocked_gains(row_value, a, psi, valid, u, *consts):
    return _blocked(_row_wise(row_value, consts), a, psi, valid, u)


def _blocked_gains_forward(row_value, a, psi, valid, u, *consts):
    return _blocked_gains(row_value, a, psi, valid, u, *consts), (a, psi, valid, u, consts)


def _blocked_gains_backward(row_value, residuals, cotangent):
    """Cotangents of ``(a, psi, valid, u, *consts)`` from the gains' cotangent, float ``[B, |V|]``.

    Sets are sorted by their number of coordinates with a non-zero cotangent and taken in blocks;
    each block re-evaluates, :data:`CHUNK` coordinates per set at a time, only those coordinates
    (:func:`_takes_chunks` decides; otherwise every coordinate, in the plain blocked pass). Zero for
    ψ, the mask and ``u``.
    """
    a, psi, valid, u, consts = residuals
    n, v = psi.shape
    carries = (cotangent != 0) & (valid > 0)
    counts = carries.sum(axis=1)
    # Each set's carrying coordinates first, and sets by decreasing count, so that a block's chunks
    # are those its first set needs; the slots past a set's count have weight zero.
    coords = jnp.argsort(jnp.logical_not(carries).astype(jnp.int32), axis=1, stable=True)
    weights = jnp.take_along_axis(jnp.where(carries, cotangent, 0.0), coords, axis=1)
    width = -(-v // CHUNK) * CHUNK
    coords = jnp.pad(coords, ((0, 0), (0, width - v)))
    weights = jnp.pad(weights, ((0, 0), (0, width - v)))
    order = jnp.argsort(-counts, stable=True)
    per_block = max(1, min(n, BLOCK_ROWS // _rows_per_set(u, CHUNK)))
    blocks = -(-n // per_block)

    def in_blocks(x: jax.Array) -> jax.Array:
        x = jnp.take(x, order, axis=0)
        x = jnp.pad(x, ((0, blocks * per_block - n),) + ((0, 0),) * (x.ndim - 1))
        return x.reshape((blocks, per_block) + x.shape[1:])

    def block_step(grad_consts, block):
        a_b, psi_b, valid_b, u_b, coords_b, weights_b, counts_b = block

        def chunk_step(i, carry):
            grad_a_b, grad_c = carry
            chunk = jax.lax.dynamic_slice_in_dim(coords_b, i * CHUNK, CHUNK, axis=1)    # [sets, CHUNK]
            w = jax.lax.dynamic_slice_in_dim(weights_b, i * CHUNK, CHUNK, axis=1)

            def chunk_gains(a_b, consts):
                value = _row_wise(row_value, consts)
                return jax.vmap(functools.partial(_set_gains, value))(a_b, psi_b, valid_b, u_b, chunk)

            _, vjp = jax.vjp(chunk_gains, a_b, consts)
            d_a, d_c = vjp(w)
            return grad_a_b + d_a, jax.tree_util.tree_map(jnp.add, grad_c, d_c)

        chunks = (jnp.max(counts_b) + CHUNK - 1) // CHUNK
        grad_a_b, grad_consts = jax.lax.fori_loop(0, chunks, chunk_step, (jnp.zeros_like(a_b), grad_consts))
        return grad_consts, grad_a_b

    def sparse(_):
        zeros = jax.tree_util.tree_map(jnp.zeros_like, consts)
        grad_consts, grad_a = jax.lax.scan(block_step, zeros, tuple(map(in_blocks, (a, psi, valid, u, coords,
                                                                                      weights, counts))))
        return jnp.zeros_like(a).at[order].set(grad_a.reshape((-1,) + a.shape[1:])[:n]), grad_consts

    def dense(_):
        _, vjp = jax.vjp(lambda a, consts: _blocked(_row_wise(row_value, consts), a, psi, valid, u), a, consts)
        return vjp(cotangent)

    # A cotangent reaching most coordinates (iDiffMF_2, iDiffMF_*: their normalisations couple them)
    # takes the plain pass.
    grad_a, grad_consts = jax.lax.cond(_takes_chunks(counts, v, per_block), sparse, dense, None)
    return (grad_a, jnp.zeros_like(psi), jnp.zeros_like(valid), jnp.zeros_like(u), *grad_consts)


_blocked_gains.defvjp(_blocked_gains_forward, _blocked_gains_backward)


def marginal_gains(value: Callable[[jax.Array], jax.Array], a: jax.Array, psi: jax.Array, mask: jax.Array,
                   u: jax.Array) -> jax.Array:
    """Monte Carlo ``∇_ψ F̃(ψ)``: the mean over samples of ``F(S ∪ {j}) − F(S ∖ {j})``.

    Sets are evaluated in blocks of about :data:`BLOCK_ROWS` set-function evaluations
    (``lax.map``), so that each block's ``[rows, hidden]`` activations stay in cache between the
    matrix products and the fused elementwise operations. Differentiable in ``a`` and in the arrays
    ``value`` closes over (its parameters); the derivative in ψ is zero. The backward pass stores
    nothing and re-evaluates only the coordinates whose cotangent is non-zero.

    Args:
        value: maps first-layer pre-activations ``[..., hidden]`` to ``F`` ``[...]``; it must
            accept a single row ``[hidden]``.
        a: float ``[B, |V|, hidden]`` element terms ``W₁ φ(x_i)``.
        psi: float ``[B, |V|]`` current marginals.
        mask: bool ``[B, |V|]`` valid positions (padding never joins a sample).
        u: uniforms from :func:`draw_uniforms`.

    Returns:
        float ``[B, |V|]``; zero at padding positions.
    """
    row_value, consts = jax.closure_convert(value, a[0, 0])
    return _blocked_gains(row_value, a, psi, mask.astype(a.dtype), u, *consts)

"""Estimators of ``∇_ψ F̃`` (Eq. 6) under which the mean-field map is differentiable in ψ, in JAX.

``∂F̃/∂ψ_j = E_{S∼q(ψ)}[F(S ∪ {j}) − F(S ∖ {j})]``. The published hard-sample estimate
(:func:`~setbench.idiffmf.multilinear.marginal_gains`) is piecewise constant in ψ, so Thm. 4.3's
``A = I − ∂_ψT`` is the identity. The estimators here make ``∂_ψT`` non-trivial:

* :func:`score_gains` — score-function (REINFORCE) estimate with a leave-one-out baseline, written
  with DiCE weights ``q(S; ψ)/⊥q(S; ψ)`` (value 1), so that its ψ-derivative is an unbiased estimate
  of the Hessian ``∇²_ψ F̃`` (Foerster et al. 2018); its value is unbiased for ``∇_ψ F̃``.
* :func:`relaxed_gains` — binary-concrete memberships ``σ((logit ψ − logit u)/τ)`` (Maddison et al.
  2017; Jang et al. 2017): a smooth map of ψ for fixed ``u``, biased for ``∇_ψ F̃`` (the bias vanishes
  as τ → 0, where the memberships become the hard samples ``1[u < ψ]`` of the same ``u``).
* :func:`exact_gains` — enumeration of all ``2^|V|`` subsets (small ``|V|``): ``∇_ψ F̃`` itself.

Every function takes the arguments of :func:`~setbench.idiffmf.multilinear.marginal_gains`
(``value``, element terms ``a``, ``psi``, ``mask`` and uniforms ``u`` in either layout) and returns
float ``[B, |V|]``, zero at padding positions. :func:`gradient_estimate` picks one by
:class:`~setbench.protocol.MeanFieldConfig`. The PyTorch twins live in
``setbench.baselines.estimators`` and cite the same equations; a test compares them.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from setbench.protocol import MeanFieldConfig, subset_matrix

from .multilinear import marginal_gains

__all__ = ["exact_gains", "gradient_estimate", "multilinear_extension", "relaxed_gains", "score_gains"]

ValueFn = Callable[[jax.Array], jax.Array]  # first-layer pre-activations [..., hidden] -> F [...]


def _logit(x: jax.Array) -> jax.Array:
    """``log x − log(1 − x)`` with ``x`` clipped to ``[eps, 1 − eps]`` (finite at 0, 1 and padding)."""
    eps = jnp.finfo(x.dtype).eps
    x = jnp.clip(x, eps, 1.0 - eps)
    return jnp.log(x) - jnp.log1p(-x)


def relaxed_gains(value: ValueFn, a: jax.Array, psi: jax.Array, mask: jax.Array, u: jax.Array,
                  temperature: float) -> jax.Array:
    """Marginal gains ``F(s̃ ∪ {j}) − F(s̃ ∖ {j})`` at binary-concrete memberships ``s̃``, averaged over samples.

    ``s̃_i = σ((logit ψ_i − logit u_i)/τ)``: the relaxed Bernoulli(ψ_i) that tends to ``1[u_i < ψ_i]``
    as τ → 0, so the estimate tends to :func:`marginal_gains` on the same ``u``. F takes fractional
    memberships through its sum pooling, ``z(s̃) = Σ_i s̃_i a_i``.

    Args:
        value, a, psi, mask, u: as :func:`marginal_gains`; ``u`` ``[B, m, |V|, |V|]`` (a fresh sample
            per coordinate ``j``, with ``j`` itself left out) or ``[B, m, |V|]`` (shared samples).
        temperature: τ > 0.

    Returns:
        float ``[B, |V|]``; zero at padding positions.
    """
    valid = mask.astype(a.dtype)
    if u.ndim == 4:
        others = 1.0 - jnp.eye(psi.shape[1], dtype=a.dtype)
        soft = jax.nn.sigmoid((_logit(psi)[:, None, None, :] - _logit(u)) / temperature)
        member = soft * valid[:, None, None, :] * others                     # [B, m, |V|_j, |V|_i]
        z_without = jnp.einsum("bmji,bih->bmjh", member, a)                # z(s̃ ∖ {j})
    else:
        soft = jax.nn.sigmoid((_logit(psi)[:, None, :] - _logit(u)) / temperature) * valid[:, None, :]
        z = jnp.einsum("bmi,bih->bmh", soft, a)                            # [B, m, hidden]
        z_without = z[:, :, None, :] - soft[..., None] * a[:, None]         # [B, m, |V|, hidden]
    gains = value(z_without + a[:, None]) - value(z_without)               # [B, m, |V|]
    return gains.mean(axis=1) * valid


def _score(member: jax.Array, psi: jax.Array) -> jax.Array:
    """``∂ log q(s; ψ)/∂ψ = s/ψ − (1 − s)/(1 − ψ)``; safe where the unused branch divides by zero.

    A sampled member has ``ψ > u ≥ 0`` and a non-member ``1 − ψ ≥ 1 − u > 0``, so the branch used
    never divides by zero; the other branch's denominator is replaced by 1 (finite gradients).
    """
    positive = jnp.where(member, psi, 1.0)
    negative = jnp.where(member, 1.0, 1.0 - psi)
    return jnp.where(member, 1.0 / positive, -1.0 / negative)


def score_gains(value: ValueFn, a: jax.Array, psi: jax.Array, mask: jax.Array, u: jax.Array) -> jax.Array:
    """Score-function estimate ``mean_l (F(S_l) − b_l) ∂_j log q(S_l; ψ)`` with ``S_l ∼ q(ψ)``.

    ``b_l`` is the mean of F over the *other* samples (leave-one-out baseline, independent of
    ``S_l``: unbiased, lower variance). Each term carries the DiCE weight ``w_l = q(S_l; ψ)/⊥q(S_l; ψ)``,
    equal to 1 but with ``∂w_l/∂ψ = w_l ∇_ψ log q(S_l; ψ)``, so that the ψ-Jacobian of the estimate is
    ``mean_l (F(S_l) − b_l)(∇log q ∇log qᵀ + ∇² log q)``: unbiased for ``∇²_ψ F̃`` (Thm. 4.3's ``A``).

    Args:
        value, a, psi, mask: as :func:`marginal_gains`.
        u: ``[B, m, |V|]`` (all coordinates share the samples ``S_l = {i : u_li < ψ_i}``) or
            ``[B, m, |V|, |V|]`` (coordinate ``j`` uses its own samples ``{i : u_lji < ψ_i}``, ``j``
            included). ``m ≥ 2``.

    Returns:
        float ``[B, |V|]``; zero at padding positions.
    """
    valid = mask.astype(a.dtype)
    psi = psi * valid
    m = u.shape[1]
    probs = psi[:, None, None, :] if u.ndim == 4 else psi[:, None, :]
    inside = mask[:, None, None, :] if u.ndim == 4 else mask[:, None, :]
    member = (u < jax.lax.stop_gradient(probs)) & inside                   # [B, m, (|V|_j,) |V|_i]
    f = value(jnp.einsum("bm...i,bih->bm...h", member.astype(a.dtype), a))  # [B, m(, |V|_j)]
    baseline = (jnp.sum(f, axis=1, keepdims=True) - f) / (m - 1)
    q = jnp.where(member, probs, 1.0 - probs)                               # > 0 for every sampled s
    dice = jnp.prod(q / jax.lax.stop_gradient(q), axis=-1)                  # 1, with ∂ = ∇ log q
    if u.ndim == 4:
        own = jnp.diagonal(member, axis1=2, axis2=3)                        # [B, m, |V|]: s_j in j's sample
        terms = (f - baseline) * dice * _score(own, psi[:, None, :])
    else:
        terms = ((f - baseline) * dice)[..., None] * _score(member, psi[:, None, :])
    return terms.mean(axis=1) * valid


def _subset_terms(value: ValueFn, a: jax.Array, psi: jax.Array, mask: jax.Array):
    """F on every subset and each subset's per-item probability factors under ``q(ψ)``.

    Returns:
        ``(f, factors, subsets)``: float ``[B, 2^|V|]``, ``[B, 2^|V|, |V|]`` (``ψ_i`` if ``i ∈ S``
        else ``1 − ψ_i``; padding is never a member) and the 0/1 ``[2^|V|, |V|]`` subset matrix.
    """
    subsets = jnp.asarray(subset_matrix(psi.shape[1]), a.dtype)
    p = psi * mask.astype(a.dtype)
    f = value(jnp.einsum("si,bih->bsh", subsets, a))
    factors = jnp.where(subsets[None] > 0, p[:, None, :], 1.0 - p[:, None, :])
    return f, factors, subsets


def _leave_one_out_products(x: jax.Array) -> jax.Array:
    """``[..., n]`` → ``[..., n]`` with entry ``j`` = ``Π_{i≠j} x_i`` (prefix × suffix products, no division)."""
    ones = jnp.ones_like(x[..., :1])
    prefix = jnp.cumprod(jnp.concatenate([ones, x[..., :-1]], axis=-1), axis=-1)
    suffix = jnp.flip(jnp.cumprod(jnp.flip(jnp.concatenate([x[..., 1:], ones], axis=-1), -1), axis=-1), -1)
    return prefix * suffix


def multilinear_extension(value: ValueFn, a: jax.Array, psi: jax.Array, mask: jax.Array) -> jax.Array:
    """Eq. (6) by enumeration: ``F̃(ψ) = Σ_S F(S) Π_{i∈S} ψ_i Π_{i∉S} (1 − ψ_i)``, float ``[B]``.

    Costs ``2^|V|`` evaluations of F per set (``|V| ≤ EXACT_MAX_V_SIZE``).
    """
    f, factors, _ = _subset_terms(value, a, psi, mask)
    return jnp.sum(f * jnp.prod(factors, axis=-1), axis=-1)


def exact_gains(value: ValueFn, a: jax.Array, psi: jax.Array, mask: jax.Array, u: jax.Array | None = None) -> jax.Array:
    """``∂F̃/∂ψ_j = Σ_S F(S) (2 s_j − 1) Π_{i≠j} q_i(S)`` (Eq. 6 differentiated), by enumeration.

    Smooth in ψ and θ (Thm. 4.3 applies as stated). ``u`` is accepted for a uniform signature and
    ignored. Returns float ``[B, |V|]``, zero at padding positions.
    """
    del u
    f, factors, subsets = _subset_terms(value, a, psi, mask)
    weights = _leave_one_out_products(factors) * (2.0 * subsets - 1.0)
    return jnp.einsum("bs,bsj->bj", f, weights) * mask.astype(a.dtype)


def gradient_estimate(value: ValueFn, a: jax.Array, psi: jax.Array, mask: jax.Array, u: jax.Array,
                      config: MeanFieldConfig) -> jax.Array:
    """``∇_ψ F̃`` by ``config.estimator`` (``hard``: the published :func:`marginal_gains`), float ``[B, |V|]``."""
    if config.estimator == "relaxed":
        return relaxed_gains(value, a, psi, mask, u, config.temperature)
    estimate = {"hard": marginal_gains, "score": score_gains, "exact": exact_gains}[config.estimator]
    return estimate(value, a, psi, mask, u)

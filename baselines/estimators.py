"""Estimators of ``∇_ψ F̃`` (Eq. 6) under which the mean-field map is differentiable in ψ, in PyTorch.

The twins of ``setbench.idiffmf.estimators`` (same equations, same uniforms, same outputs; a test
compares them on identical weights): :func:`score_gains` (score function with a leave-one-out
baseline and DiCE weights, so that its ψ-derivative is unbiased for ``∇²_ψ F̃``), :func:`relaxed_gains`
(binary-concrete memberships at temperature τ, tending to the hard samples as τ → 0) and
:func:`exact_gains` / :func:`multilinear_extension` (enumeration of all ``2^|V|`` subsets). See the
JAX module for the derivations. Unlike the hard estimator these keep ψ in the autograd graph by
construction, so unrolling them (DiffMF) differentiates through every step.
"""

from __future__ import annotations

import torch

from setbench.protocol import subset_matrix

from .set_function import SetFunction

__all__ = ["exact_gains", "multilinear_extension", "relaxed_gains", "score_gains"]


def _logit(x: torch.Tensor) -> torch.Tensor:
    """``log x − log(1 − x)`` with ``x`` clipped to ``[eps, 1 − eps]`` (finite at 0, 1 and padding)."""
    eps = torch.finfo(x.dtype).eps
    x = x.clamp(eps, 1.0 - eps)
    return torch.log(x) - torch.log1p(-x)


def relaxed_gains(model: SetFunction, a: torch.Tensor, psi: torch.Tensor, mask: torch.Tensor, u: torch.Tensor,
                  temperature: float) -> torch.Tensor:
    """Marginal gains at binary-concrete memberships ``s̃_i = σ((logit ψ_i − logit u_i)/τ)``, averaged over samples.

    Args:
        model: the set function.
        a: float ``[B, |V|, hidden]`` element terms; psi: float ``[B, |V|]``; mask: bool ``[B, |V|]``.
        u: uniforms ``[B, m, |V|, |V|]`` (fresh per coordinate, ``j`` left out) or ``[B, m, |V|]`` (shared).
        temperature: τ > 0.

    Returns:
        float ``[B, |V|]``; zero at padding positions.
    """
    valid = mask.to(a.dtype)
    if u.dim() == 4:
        others = 1.0 - torch.eye(psi.shape[1], dtype=a.dtype, device=a.device)
        soft = torch.sigmoid((_logit(psi)[:, None, None, :] - _logit(u)) / temperature)
        member = soft * valid[:, None, None, :] * others                       # [B, m, |V|_j, |V|_i]
        z_without = torch.einsum("bmji,bih->bmjh", member, a)                 # z(s̃ ∖ {j})
    else:
        soft = torch.sigmoid((_logit(psi)[:, None, :] - _logit(u)) / temperature) * valid[:, None, :]
        z = torch.einsum("bmi,bih->bmh", soft, a)
        z_without = z[:, :, None, :] - soft[..., None] * a[:, None]            # [B, m, |V|, hidden]
    gains = model.value(z_without + a[:, None]) - model.value(z_without)      # [B, m, |V|]
    return gains.mean(dim=1) * valid


def _score(member: torch.Tensor, psi: torch.Tensor) -> torch.Tensor:
    """``s/ψ − (1 − s)/(1 − ψ)``; the unused branch's denominator is replaced by 1 (finite gradients)."""
    one = torch.ones_like(psi)
    positive = torch.where(member, psi, one)
    negative = torch.where(member, one, 1.0 - psi)
    return torch.where(member, 1.0 / positive, -1.0 / negative)


def score_gains(model: SetFunction, a: torch.Tensor, psi: torch.Tensor, mask: torch.Tensor,
                u: torch.Tensor) -> torch.Tensor:
    """Score-function estimate ``mean_l (F(S_l) − b_l) w_l ∂_j log q(S_l; ψ)`` (leave-one-out ``b_l``, DiCE ``w_l``).

    Args:
        model, a, psi, mask: as :func:`relaxed_gains`.
        u: ``[B, m, |V|]`` (shared samples) or ``[B, m, |V|, |V|]`` (coordinate ``j``'s own samples,
            ``j`` included); ``m ≥ 2``.

    Returns:
        float ``[B, |V|]``; zero at padding positions.
    """
    valid = mask.to(a.dtype)
    psi = psi * valid
    m = u.shape[1]
    probs = psi[:, None, None, :] if u.dim() == 4 else psi[:, None, :]
    inside = mask[:, None, None, :] if u.dim() == 4 else mask[:, None, :]
    member = (u < probs.detach()) & inside                                    # [B, m, (|V|_j,) |V|_i]
    f = model.value(torch.einsum("bm...i,bih->bm...h", member.to(a.dtype), a))
    baseline = (f.sum(dim=1, keepdim=True) - f) / (m - 1)
    q = torch.where(member, probs.expand_as(member), 1.0 - probs)             # > 0 for every sampled s
    dice = (q / q.detach()).prod(dim=-1)                                      # 1, with ∂ = ∇ log q
    if u.dim() == 4:
        own = torch.diagonal(member, dim1=2, dim2=3)                          # [B, m, |V|]
        terms = (f - baseline) * dice * _score(own, psi[:, None, :].expand_as(own))
    else:
        terms = ((f - baseline) * dice)[..., None] * _score(member, psi[:, None, :].expand_as(member))
    return terms.mean(dim=1) * valid


def _subset_terms(model: SetFunction, a: torch.Tensor, psi: torch.Tensor, mask: torch.Tensor):
    """``(f [B, 2^|V|], factors [B, 2^|V|, |V|], subsets [2^|V|, |V|])``: see the JAX twin."""
    subsets = torch.tensor(subset_matrix(psi.shape[1]), dtype=a.dtype, device=a.device)
    p = psi * mask.to(a.dtype)
    f = model.value(torch.einsum("si,bih->bsh", subsets, a))
    factors = torch.where(subsets[None] > 0, p[:, None, :], 1.0 - p[:, None, :])
    return f, factors, subsets


def _leave_one_out_products(x: torch.Tensor) -> torch.Tensor:
    """``[..., n]`` → ``[..., n]`` with entry ``j`` = ``Π_{i≠j} x_i`` (prefix × suffix products, no division)."""
    ones = torch.ones_like(x[..., :1])
    prefix = torch.cumprod(torch.cat([ones, x[..., :-1]], dim=-1), dim=-1)
    suffix = torch.cumprod(torch.cat([x[..., 1:], ones], dim=-1).flip(-1), dim=-1).flip(-1)
    return prefix * suffix


def multilinear_extension(model: SetFunction, a: torch.Tensor, psi: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Eq. (6) by enumeration: ``F̃(ψ) = Σ_S F(S) Π_{i∈S} ψ_i Π_{i∉S} (1 − ψ_i)``, float ``[B]``."""
    f, factors, _ = _subset_terms(model, a, psi, mask)
    return (f * factors.prod(dim=-1)).sum(dim=-1)


def exact_gains(model: SetFunction, a: torch.Tensor, psi: torch.Tensor, mask: torch.Tensor,
                u: torch.Tensor | None = None) -> torch.Tensor:
    """``∂F̃/∂ψ_j = Σ_S F(S) (2 s_j − 1) Π_{i≠j} q_i(S)`` (Eq. 6 differentiated), by enumeration; ``u`` is ignored."""
    del u
    f, factors, subsets = _subset_terms(model, a, psi, mask)
    weights = _leave_one_out_products(factors) * (2.0 * subsets - 1.0)
    return torch.einsum("bs,bsj->bj", f, weights) * mask.to(a.dtype)

"""Marginal gains ``F(S ∪ {j}) − F(S ∖ {j})`` of sampled subsets, evaluated in cache-sized blocks.

The Monte Carlo estimate of ``∂F̃/∂ψ_j`` (Eq. 6) needs ``B · m · |V|`` subsets per mean-field
step, two set-function evaluations each with fresh samples (Alg. 1 line 8). Three exact
reformulations make it cheap (same numbers up to float rounding):

* ρ's first layer is linear, so a subset's pre-activation is a sum of member terms
  ``z(S) = Σ_{i∈S} a_i`` with ``a = W₁ φ(x)`` computed once per batch
  (:meth:`~setbench.baselines.SetFunction.element_terms`), and ``z(S ∪ {j}) = z(S) + a_j``:
  one ``[m|V|, |V|] @ [|V|, hidden]`` product per set instead of pooling φ over
  ``[B, m, |V|, |V|]`` masks twice and multiplying by ``W₁`` for every subset.
* Sets are processed in blocks of about :data:`BLOCK_ROWS` evaluations, so that the
  ``[rows, hidden]`` activations stay in cache between the matrix products and the elementwise
  passes, instead of streaming ``[B, m, |V|, hidden]`` tensors through memory.
* With hard samples the estimate is piecewise constant in ψ (zero derivative), and the loss of
  Eq. (4) reaches only the coordinates it weights (``S*`` plus sampled negatives) — its
  cotangent is exactly zero elsewhere. :func:`blocked_gains` therefore keeps no activations:
  its backward pass recomputes only the coordinates whose cotangent is non-zero.

:func:`sample_gains` is the one formula; :mod:`.mean_field` uses it directly for DiffMF's
published autograd graph and through :func:`blocked_gains` otherwise.
"""

from __future__ import annotations

import torch

from .set_function import SetFunction

__all__ = ["BLOCK_ROWS", "blocked_gains", "sample_gains", "sample_membership"]

#: Set-function evaluations per block: ``BLOCK_ROWS × hidden`` float32 activations (4 MB at
#: hidden 500) stay in a CPU's cache between the matrix products and the elementwise ops. Timed
#: alone on a 2-core EPYC (|V| = 100 and 30, fresh and shared samples), 2048 was the fastest of
#: 1024–8192 or level with it.
BLOCK_ROWS = 2048


def sample_membership(u: torch.Tensor, psi: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Hard samples ``s_i = 1[u_i < ψ_i]`` on valid positions (no gradient flows through them).

    Args:
        u: float ``[n, m, |V|, |V|]`` (a fresh subset per coordinate) or ``[n, m, |V|]`` (shared).
        psi: float ``[n, |V|]``; valid: float ``[n, |V|]`` 0/1.

    Returns:
        float 0/1 of ``u``'s shape; with fresh subsets, entry ``[b, l, j, j]`` is 0 (coordinate
        ``j``'s subsets are drawn with ``ψ_j ← 0``, Alg. 1 line 8).
    """
    if u.dim() == 4:
        member = (u < psi[:, None, None, :]).to(psi.dtype) * valid[:, None, None, :]
        return member * (1.0 - torch.eye(psi.shape[1], dtype=psi.dtype, device=psi.device))
    return (u < psi[:, None, :]).to(psi.dtype) * valid[:, None, :]


def sample_gains(model: SetFunction, a: torch.Tensor, member: torch.Tensor,
                 coords: torch.Tensor | None = None) -> torch.Tensor:
    """Eq. (8)'s estimate ``(1/m) Σ_l F(S_l ∪ {j}) − F(S_l ∖ {j})`` from element terms.

    Args:
        a: float ``[n, |V|, hidden]`` element terms ``W₁ φ(x_i)``.
        member: float 0/1 samples from :func:`sample_membership`, ``[n, m, |V|, |V|]`` (fresh: row
            ``j`` is coordinate ``j``'s subset, ``j`` excluded) or ``[n, m, |V|]`` (shared by all
            coordinates).
        coords: int64 ``[n, k]`` coordinates to evaluate per set; ``None`` for all ``|V|``.

    Returns:
        float ``[n, |V|]`` or ``[n, k]`` (not masked: padding coordinates get a meaningless value).
    """
    n, v, hidden = a.shape
    samples = member.shape[1]
    a_j = a if coords is None else a.gather(1, coords[..., None].expand(-1, -1, hidden))     # [n, k, hidden]
    k = a_j.shape[1]
    if member.dim() == 4:
        if coords is not None:
            member = member.gather(2, coords[:, None, :, None].expand(-1, samples, -1, v))  # [n, m, k, |V|]
        z_without = torch.bmm(member.reshape(n, samples * k, v), a).view(n, samples, k, hidden)  # z(S), S ∌ j
        z_with = z_without + a_j[:, None]                                                        # z(S ∪ {j})
        gains = model.value(z_with) - model.value(z_without)                                     # [n, m, k]
    else:
        z = torch.bmm(member, a)                                                                  # z(S) [n, m, hidden]
        s_j = member if coords is None else member.gather(2, coords[:, None, :].expand(-1, samples, -1))
        sign = 1.0 - 2.0 * s_j                                                    # +1: j ∉ S, −1: j ∈ S
        toggled = z[:, :, None, :] + sign[..., None] * a_j[:, None]             # z(S △ {j}) [n, m, k, hidden]
        # F(S ∪ {j}) − F(S ∖ {j}) = ±(F(S △ {j}) − F(S)): one new evaluation per coordinate.
        gains = sign * (model.value(toggled) - model.value(z)[..., None])
    return gains.mean(dim=1)


def _blocks(n_sets: int, rows_per_set: int):
    size = max(1, BLOCK_ROWS // max(rows_per_set, 1))
    return [slice(start, min(start + size, n_sets)) for start in range(0, n_sets, size)]


def _rows_per_set(u: torch.Tensor, coordinates: int) -> int:
    """Set-function evaluations per set: ``2m`` per coordinate (fresh) or ``m`` per coordinate + ``m``."""
    samples = u.shape[1]
    return 2 * samples * coordinates if u.dim() == 4 else samples * (coordinates + 1)


class _BlockedGains(torch.autograd.Function):
    """:func:`sample_gains` over all coordinates, block by block; zero derivative in ψ.

    Inputs ``(model, a, psi, valid, u, *parameters)``; ``parameters`` are the model's, passed so
    that autograd routes their gradients here. Nothing but the inputs is saved: the backward pass
    recomputes, block by block, only the coordinates whose cotangent is non-zero.
    """

    @staticmethod
    def forward(ctx, model, a, psi, valid, u, *parameters):
        ctx.model = model
        ctx.save_for_backward(a, psi, valid, u)
        gains = a.new_empty(psi.shape)
        for block in _blocks(psi.shape[0], _rows_per_set(u, psi.shape[1])):
            member = sample_membership(u[block], psi[block], valid[block])
            gains[block] = sample_gains(model, a[block], member)
        return gains * valid

    @staticmethod
    def backward(ctx, grad):
        a, psi, valid, u = ctx.saved_tensors
        model = ctx.model
        needed = ctx.needs_input_grad[5:]
        wanted = [p for p, need in zip(model.parameters(), needed) if need]
        grad_a = torch.zeros_like(a) if ctx.needs_input_grad[1] else None
        totals: list[torch.Tensor | None] = [None] * len(wanted)
        carries = (grad != 0) & (valid > 0)  # the coordinates the loss reaches
        counts = carries.sum(dim=1)
        # Each set's carrying coordinates first, and sets by decreasing count: a block is evaluated
        # at its first set's count, the other sets' extra coordinates with weight zero.
        coords = torch.argsort(carries.to(torch.int8), dim=1, descending=True, stable=True)
        weights = (grad * carries).gather(1, coords)
        order = torch.argsort(counts, descending=True, stable=True)
        start, reached = 0, int((counts > 0).sum()) if grad_a is not None or wanted else 0
        while start < reached:
            k = int(counts[order[start]])
            sets = order[start:min(reached, start + max(1, BLOCK_ROWS // _rows_per_set(u, k)))]
            start += len(sets)
            with torch.enable_grad():
                a_block = a[sets].detach().requires_grad_(grad_a is not None)
                member = sample_membership(u[sets], psi[sets], valid[sets])
                gains = sample_gains(model, a_block, member, coords[sets, :k])
                inputs = ([a_block] if grad_a is not None else []) + wanted
                grads = torch.autograd.grad((gains * weights[sets, :k]).sum(), inputs, allow_unused=True)
            if grad_a is not None:
                grad_a[sets], grads = grads[0], grads[1:]
            totals = [_add(total, g) for total, g in zip(totals, grads)]
        parameter_grads = iter(totals)
        return (None, grad_a, None, None, None, *(next(parameter_grads) if need else None for need in needed))


def _add(total: torch.Tensor | None, grad: torch.Tensor | None) -> torch.Tensor | None:
    if grad is None:
        return total
    return grad if total is None else total + grad


def blocked_gains(model: SetFunction, a: torch.Tensor, psi: torch.Tensor, valid: torch.Tensor,
                  u: torch.Tensor) -> torch.Tensor:
    """Hard-sample ``∇_ψ F̃(ψ)`` for all coordinates, block by block, ψ outside the graph.

    Gradients with respect to ``a`` and the model's parameters equal those of autograd through
    :func:`sample_gains` on the whole batch (up to float rounding); the derivative in ψ is zero.

    Args:
        a: float ``[B, |V|, hidden]``; psi: float ``[B, |V|]``; valid: float ``[B, |V|]`` 0/1;
        u: float ``[B, m, |V|, |V|]`` or ``[B, m, |V|]``.

    Returns:
        float ``[B, |V|]``, zero at padding.
    """
    return _BlockedGains.apply(model, a, psi.detach(), valid, u, *model.parameters())

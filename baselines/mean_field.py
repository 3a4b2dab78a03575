"""The mean-field map of Eq. (8) in PyTorch, with Monte Carlo estimates of ``∇_ψ F̃`` (Eq. 6).

``∂F̃/∂ψ_j = E_{S∼q(ψ)}[F(S ∪ {j}) − F(S ∖ {j})]``. With ``m`` hard Bernoulli samples
``S = {i : u_i < ψ_i}`` (Alg. 1 line 8) the estimate is piecewise constant in ψ, so its derivative
with respect to ψ is zero; whether autograd still *keeps* the graph through the samples is the
difference between DiffMF as published (``torch.bernoulli`` keeps a zero-derivative node) and DiffMF
with ψ detached between steps — the gradients are identical, the memory is not. Detached, the
estimate is evaluated in cache-sized blocks without stored activations (:mod:`.subset_gains`).
:func:`gradient_estimate` also offers the estimators of :mod:`.estimators`, differentiable in ψ.
"""

from __future__ import annotations

import torch

from setbench.protocol import MeanFieldConfig

from .estimators import exact_gains, relaxed_gains, score_gains
from .set_function import SetFunction
from .subset_gains import blocked_gains, sample_gains

__all__ = ["draw_uniforms", "gradient_estimate", "marginal_gains", "mean_field_step"]


class _ZeroDerivativeThreshold(torch.autograd.Function):
    """``1[u < ψ]`` with a zero derivative that keeps ψ in the graph, like ``torch.bernoulli``."""

    @staticmethod
    def forward(ctx, u, psi):
        ctx.psi_shape = psi.shape
        return (u < psi).to(psi.dtype)

    @staticmethod
    def backward(ctx, grad):
        return None, grad.new_zeros(ctx.psi_shape)


def draw_uniforms(generator: torch.Generator, batch: int, v_size: int, samples: int, shared: bool) -> torch.Tensor:
    """Uniforms behind the Bernoulli samples: ``[B, m, |V|]`` if ``shared`` else ``[B, m, |V|, |V|]``.

    Entry ``[b, l, j, i]`` decides whether item ``i`` is in coordinate ``j``'s ``l``-th sample.
    """
    shape = (batch, samples, v_size) if shared else (batch, samples, v_size, v_size)
    return torch.rand(shape, generator=generator, device=generator.device)


def _membership(u: torch.Tensor, psi: torch.Tensor, keep_graph: bool) -> torch.Tensor:
    if keep_graph:
        return _ZeroDerivativeThreshold.apply(u, psi)
    return (u < psi.detach()).to(psi.dtype)


def marginal_gains(model: SetFunction, a: torch.Tensor, psi: torch.Tensor, mask: torch.Tensor,
                   u: torch.Tensor, *, keep_graph: bool = False) -> torch.Tensor:
    """Monte Carlo ``∇_ψ F̃(ψ)``: the mean over samples of ``F(S ∪ {j}) − F(S ∖ {j})``.

    Args:
        model: the set function.
        a: float ``[B, |V|, hidden]`` element terms ``W₁ φ(x_i)``.
        psi: float ``[B, |V|]`` current marginals.
        mask: bool ``[B, |V|]`` valid positions (padding never joins a sample).
        u: uniforms from :func:`draw_uniforms`, ``[B, m, |V|, |V|]`` or ``[B, m, |V|]`` (shared).
        keep_graph: keep ψ in the autograd graph through the samples, with the activations of every
            subset stored for the backward pass (as published). Otherwise ψ is detached and the
            estimate is evaluated by :func:`~setbench.baselines.subset_gains.blocked_gains`.

    Returns:
        float ``[B, |V|]``; zero at padding positions.
    """
    valid = mask.to(a.dtype)
    if not keep_graph:
        return blocked_gains(model, a, psi, valid, u)
    # As published: one autograd graph over the whole batch, ψ kept in it, activations stored.
    if u.dim() == 4:
        others = 1.0 - torch.eye(psi.shape[1], dtype=a.dtype, device=a.device)  # j ∉ S (Alg. 1 line 8)
        member = _membership(u, psi[:, None, None, :], keep_graph) * valid[:, None, None, :] * others
    else:
        member = _membership(u, psi[:, None, :], keep_graph) * valid[:, None, :]
    gains = sample_gains(model, a, member)
    return gains * valid


def gradient_estimate(model: SetFunction, a: torch.Tensor, psi: torch.Tensor, mask: torch.Tensor,
                      u: torch.Tensor, config: MeanFieldConfig, *, keep_graph: bool = False) -> torch.Tensor:
    """``∇_ψ F̃`` by ``config.estimator``, float ``[B, |V|]``; ``keep_graph`` applies to ``hard`` only
    (the other estimators are differentiable in ψ and always keep it in the graph)."""
    if config.estimator == "hard":
        return marginal_gains(model, a, psi, mask, u, keep_graph=keep_graph)
    if config.estimator == "relaxed":
        return relaxed_gains(model, a, psi, mask, u, config.temperature)
    estimate = {"score": score_gains, "exact": exact_gains}[config.estimator]
    return estimate(model, a, psi, mask, u)


def mean_field_step(model: SetFunction, a: torch.Tensor, psi: torch.Tensor, mask: torch.Tensor,
                    u: torch.Tensor, *, keep_graph: bool = False,
                    mean_field: MeanFieldConfig = MeanFieldConfig()) -> torch.Tensor:
    """One application of Eq. (8): ``ψ ← σ(∇_ψ F̃(ψ))``, zero at padding. Shapes as :func:`marginal_gains`;
    the estimate of ``∇_ψ F̃`` is ``mean_field.estimator``'s (:func:`gradient_estimate`)."""
    gains = gradient_estimate(model, a, psi, mask, u, mean_field, keep_graph=keep_graph)
    return torch.sigmoid(gains) * mask.to(gains.dtype)

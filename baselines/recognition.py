"""EquiVSet's recognition network (Ou et al. 2022) and the relaxed-Bernoulli samples of its ``q``.

The network amortises the start of the mean-field iteration: it maps each item of a ground set to
the log-odds ``a_i`` of its inclusion probability ``μ_i = σ(a_i)``, and ``ψ⁰ = μ`` replaces
DiffMF's constant 0.5 (Sec. 3.4 of the paper). It is element-wise after the encoder, so ``ψ⁰`` is
permutation-equivariant. For the copula variant two more heads give a diagonal scale
``σ_diag = softplus(·) > 0`` and a rank-``r`` factor ``U = tanh(·) ∈ (−1, 1)^r`` per item.

Samples of ``q`` enter the ELBO of Eq. (5) through a reparameterised relaxed Bernoulli:

    g = σ_diag ⊙ ε + U ε′,   ε ~ N(0, I_|V|), ε′ ~ N(0, I_r)     (EquiVSet_copula)
    g = ε                                                         (EquiVSet_ind: σ_diag = 1, U = 0)
    u = Φ(g),   s̃_i = σ((a_i + logit u_i) / τ),   s_i ~ Bernoulli(s̃_i)

with a straight-through estimator (forward ``s``, gradient of ``s̃``). With ``U = 0`` and
``σ_diag = 1``, ``u`` is uniform and ``P(s_i = 1) → μ_i`` as ``τ → 0``; a factor shared by two
items correlates their inclusions. As published, ``g`` is not standardised, so with ``σ_diag² +
‖U_i‖² ≠ 1`` the marginals of ``u`` are not uniform and ``P(s_i = 1) → Φ(Φ⁻¹(μ_i) / sd(g_i))``;
``standardize=True`` divides ``g`` by its standard deviation, which makes ``u`` uniform (a Gaussian
copula in the strict sense) and keeps every marginal at ``μ_i``.

``logit Φ(g)`` is computed as ``log Φ(g) − log Φ(−g)`` and the entropy from the log-odds, so no
``log(0)`` arises where the published code adds 1e-12 inside its logarithms.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from setbench.protocol import SetFunctionConfig, resolve_encoder

from .encoders import make_encoder

__all__ = [
    "RecognitionNetwork",
    "VariationalParams",
    "bernoulli_entropy",
    "gaussian_noise",
    "relaxed_bernoulli",
    "straight_through",
]


class VariationalParams(NamedTuple):
    """The recognition network's output for a batch of ground sets.

    Attributes:
        logits: float ``[B, |V|]``, ``a = logit μ`` (``μ = ψ⁰`` on valid positions).
        scale: float ``[B, |V|]`` ``σ_diag > 0``, or ``None`` without copula heads.
        factors: float ``[B, |V|, r]`` ``U ∈ (−1, 1)``, or ``None`` without copula heads.
    """

    logits: torch.Tensor
    scale: torch.Tensor | None
    factors: torch.Tensor | None


class RecognitionNetwork(nn.Module):
    """``x ↦ (logit μ, σ_diag, U)``: φ → MLP → ReLU → heads, applied to each item.

    φ is the energy model's element encoder (the same architecture, :mod:`.encoders`) with its own
    weights; the MLP has ``num_layers − 1`` hidden ``Linear(hidden_dim) + ReLU`` layers and a
    ``Linear(hidden_dim)`` output (Ou et al.'s 500-wide network when ``hidden_dim = 500``).

    Args:
        item_shape: shape of one item, or its dimension ``d`` for vector items.
        config: widths, depth and encoder, shared with the energy model's config.
        item_kind: what an item is (``SetSplit.item_kind``); picks φ when ``config.encoder`` is ``"auto"``.
        rank: ``r`` of the copula's low-rank factor; ``0`` builds no copula heads (EquiVSet_ind).
    """

    def __init__(self, item_shape: int | tuple[int, ...], config: SetFunctionConfig = SetFunctionConfig(), *,
                 item_kind: str = "vector", rank: int = 0):
        super().__init__()
        item_shape = (item_shape,) if isinstance(item_shape, int) else tuple(item_shape)
        self.phi = make_encoder(resolve_encoder(config.encoder, item_kind, item_shape), item_shape, config.embed_dim)
        widths = [config.embed_dim] + [config.hidden_dim] * (config.num_layers - 1)
        self.hidden = nn.ModuleList(nn.Linear(w, config.hidden_dim) for w in widths[:-1])
        self.out = nn.Linear(widths[-1], config.hidden_dim)
        self.mu_head = nn.Linear(config.hidden_dim, 1)
        self.scale_head = nn.Linear(config.hidden_dim, 1) if rank else None
        self.factor_head = nn.Linear(config.hidden_dim, rank) if rank else None

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        h = self.phi(x)
        for layer in self.hidden:
            h = torch.relu(layer(h))
        return torch.relu(self.out(h))

    def forward(self, x: torch.Tensor) -> VariationalParams:
        """All heads, per item: ``x`` float ``[B, |V|, *item_shape]`` (padding positions give values to be masked)."""
        h = self._features(x)
        logits = self.mu_head(h).squeeze(-1)
        if self.scale_head is None:
            return VariationalParams(logits, None, None)
        scale = nn.functional.softplus(self.scale_head(h)).squeeze(-1)
        return VariationalParams(logits, scale, torch.tanh(self.factor_head(h)))

    def psi0(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``ψ⁰ = μ``: float ``[B, |V|]``, zero at padding (the start of the mean-field steps)."""
        logits = self.mu_head(self._features(x)).squeeze(-1)
        return torch.sigmoid(logits) * mask.to(logits.dtype)


def gaussian_noise(generator: torch.Generator, shape: tuple[int, int, int], scale: torch.Tensor | None = None,
                   factors: torch.Tensor | None = None, *, standardize: bool = False) -> torch.Tensor:
    """``g = σ_diag ⊙ ε + U ε′`` for each of ``m`` samples (``g = ε`` without copula parameters).

    Args:
        shape: ``(B, m, |V|)``.
        scale: float ``[B, |V|]`` or ``None``; factors: float ``[B, |V|, r]`` or ``None``.
        standardize: divide by ``sd(g_i) = sqrt(σ_diag,i² + ‖U_i‖²)`` so that ``Φ(g)`` is uniform.

    Returns:
        float ``[B, m, |V|]``.
    """
    dtype = scale.dtype if scale is not None else torch.get_default_dtype()
    eps = torch.randn(shape, generator=generator, dtype=dtype, device=generator.device)
    if scale is None:
        return eps
    b, m, _ = shape
    eps_factor = torch.randn((b, m, factors.shape[-1]), generator=generator, dtype=dtype, device=generator.device)
    g = eps * scale[:, None, :] + torch.einsum("bvr,bmr->bmv", factors, eps_factor)
    if standardize:
        g = g / torch.sqrt(scale.square() + factors.square().sum(-1))[:, None, :]
    return g


def relaxed_bernoulli(logits: torch.Tensor, noise: torch.Tensor, mask: torch.Tensor, temperature: float) -> torch.Tensor:
    """``s̃ = σ((a + logit Φ(g)) / τ)``, zero at padding.

    Args:
        logits: float ``[B, |V|]``; noise: float ``[B, m, |V|]``; mask: bool ``[B, |V|]``.

    Returns:
        float ``[B, m, |V|]`` in ``[0, 1]``.
    """
    logit_u = torch.special.log_ndtr(noise) - torch.special.log_ndtr(-noise)
    probs = torch.sigmoid((logits[:, None, :] + logit_u) / temperature)
    return probs * mask[:, None, :].to(probs.dtype)


def straight_through(probs: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """``s ~ Bernoulli(s̃)`` in the forward pass, ``∂s/∂s̃ = 1`` in the backward pass (same shape).

    A NaN in ``s̃`` stays NaN in ``s`` (``torch.bernoulli`` would raise instead), so that the ELBO
    shows it.
    """
    uniforms = torch.rand(probs.shape, generator=generator, dtype=probs.dtype, device=probs.device)
    hard = (uniforms < probs.detach()).to(probs.dtype)
    return probs + (hard - probs).detach()


def bernoulli_entropy(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``H(q) = Σ_{i∈V} −μ_i log μ_i − (1 − μ_i) log(1 − μ_i)`` of the independent ``q(μ)``, ``μ = σ(a)``.

    Per item ``H = softplus(a) − μ a``, exact for any finite ``a``.

    Args:
        logits: float ``[B, |V|]``; mask: bool ``[B, |V|]`` (padding contributes 0).

    Returns:
        float ``[B]``.
    """
    per_item = nn.functional.softplus(logits) - torch.sigmoid(logits) * logits
    return (per_item * mask.to(per_item.dtype)).sum(-1)

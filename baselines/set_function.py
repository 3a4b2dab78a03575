"""The deep-sets energy ``F_θ(S) = ρ(Σ_{i∈S} φ(x_i))`` in PyTorch (parameters only, no training logic).

ρ's first layer is linear, so its pre-activation for a subset ``S`` is a sum over members:
``z(S) = b₁ + Σ_{i∈S} a_i`` with ``a_i = W₁ φ(x_i)``. :meth:`SetFunction.element_terms` computes
``a`` once per batch and :meth:`SetFunction.value` finishes ρ from ``z``; the mean-field step
(:mod:`.mean_field`) uses the pair to evaluate thousands of subsets without re-pooling features.
``forward`` is the plain definition (mask-weighted pooling), kept as the reference.
"""

from __future__ import annotations

import torch
from torch import nn

from setbench.protocol import SetFunctionConfig, resolve_encoder

from .encoders import make_encoder

__all__ = ["SetFunction"]


class SetFunction(nn.Module):
    """``F_θ`` with the element encoder ``φ`` of the items (``setbench.protocol.encoders``).

    Args:
        item_shape: shape of one item, or its dimension ``d`` for vector items.
        config: widths, depth and encoder.
        item_kind: what an item is (``SetSplit.item_kind``); picks ``φ`` when ``config.encoder`` is ``"auto"``.
    """

    def __init__(self, item_shape: int | tuple[int, ...], config: SetFunctionConfig = SetFunctionConfig(), *,
                 item_kind: str = "vector"):
        super().__init__()
        item_shape = (item_shape,) if isinstance(item_shape, int) else tuple(item_shape)
        self.phi = make_encoder(resolve_encoder(config.encoder, item_kind, item_shape), item_shape, config.embed_dim)
        self.rho_in = nn.Linear(config.embed_dim, config.hidden_dim)
        self.rho_hidden = nn.ModuleList(
            nn.Linear(config.hidden_dim, config.hidden_dim) for _ in range(config.num_layers - 1)
        )
        self.rho_out = nn.Linear(config.hidden_dim, 1)

    def element_terms(self, x: torch.Tensor) -> torch.Tensor:
        """``a_i = W₁ φ(x_i)``: float ``[B, |V|, *item_shape]`` → ``[B, |V|, hidden]`` (ρ's first bias excluded)."""
        return nn.functional.linear(self.phi(x), self.rho_in.weight)

    def value(self, z: torch.Tensor) -> torch.Tensor:
        """``F`` from first-layer pre-activations without bias: float ``[..., hidden]`` → ``[...]``."""
        # In-place ReLUs on fresh temporaries: autograd-safe, and one pass less over [..., hidden].
        h = torch.relu_(z + self.rho_in.bias)
        for layer in self.rho_hidden:
            h = torch.relu_(layer(h))
        return self.rho_out(h).squeeze(-1)

    def forward(self, x: torch.Tensor, subsets: torch.Tensor) -> torch.Tensor:
        """Reference ``F_θ(S)`` by mask-weighted pooling.

        Args:
            x: float ``[B, |V|, *item_shape]`` items.
            subsets: float ``[B, ..., |V|]`` 0/1 membership of each subset.

        Returns:
            float ``[B, ...]``.
        """
        pooled = torch.einsum("b...i,bie->b...e", subsets, self.phi(x))
        return self.value(nn.functional.linear(pooled, self.rho_in.weight))

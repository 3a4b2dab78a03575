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

from setbench.protocol import SetFunctionConfig

__all__ = ["SetFunction"]


class SetFunction(nn.Module):
    """``F_θ`` for vector items.

    Args:
        in_features: item feature dimension ``d``.
        config: widths and depth.
    """

    def __init__(self, in_features: int, config: SetFunctionConfig = SetFunctionConfig()):
        super().__init__()
        self.phi = nn.Linear(in_features, config.embed_dim)
        self.rho_in = nn.Linear(config.embed_dim, config.hidden_dim)
        self.rho_hidden = nn.ModuleList(
            nn.Linear(config.hidden_dim, config.hidden_dim) for _ in range(config.num_layers - 1)
        )
        self.rho_out = nn.Linear(config.hidden_dim, 1)

    def element_terms(self, x: torch.Tensor) -> torch.Tensor:
        """``a_i = W₁ φ(x_i)``: float ``[B, |V|, d]`` → ``[B, |V|, hidden]`` (ρ's first bias excluded)."""
        return nn.functional.linear(self.phi(x), self.rho_in.weight)

    def value(self, z: torch.Tensor) -> torch.Tensor:
        """``F`` from first-layer pre-activations without bias: float ``[..., hidden]`` → ``[...]``."""
        h = torch.relu(z + self.rho_in.bias)
        for layer in self.rho_hidden:
            h = torch.relu(layer(h))
        return self.rho_out(h).squeeze(-1)

    def forward(self, x: torch.Tensor, subsets: torch.Tensor) -> torch.Tensor:
        """Reference ``F_θ(S)`` by mask-weighted pooling.

        Args:
            x: float ``[B, |V|, d]`` items.
            subsets: float ``[B, ..., |V|]`` 0/1 membership of each subset.

        Returns:
            float ``[B, ...]``.
        """
        pooled = torch.einsum("b...i,bie->b...e", subsets, self.phi(x))
        return self.value(nn.functional.linear(pooled, self.rho_in.weight))

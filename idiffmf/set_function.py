"""The deep-sets energy ``F_θ(S) = ρ(Σ_{i∈S} φ(x_i))`` as a Flax module.

Same architecture, initialisation distribution and decomposition as the PyTorch
``setbench.baselines.SetFunction`` (a test checks both on identical weights): ρ's first layer is
linear, so ``z(S) = Σ_{i∈S} a_i`` with ``a_i = W₁ φ(x_i)`` (:meth:`SetFunction.element_terms`) and
:meth:`SetFunction.value` finishes ρ from ``z``. Initialisation is ``U(±1/√fan_in)`` for weights
and biases, as ``torch.nn.Linear``, so both frameworks start from the same distribution.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import linen as nn

from setbench.protocol import SetFunctionConfig, resolve_encoder

from .encoders import dense, make_encoder, torch_linear_init

__all__ = ["SetFunction", "torch_linear_init"]


def _dense(features: int, fan_in: int, name: str) -> nn.Dense:
    return dense(features, fan_in, name)


class SetFunction(nn.Module):
    """``F_θ`` with the element encoder ``φ`` of the items (``setbench.protocol.encoders``).

    Attributes:
        in_features: shape of one item, or its dimension ``d`` for vector items.
        config: widths, depth and encoder.
        item_kind: what an item is (``SetSplit.item_kind``); picks ``φ`` when ``config.encoder`` is ``"auto"``.
    """

    in_features: int | tuple[int, ...]
    config: SetFunctionConfig = SetFunctionConfig()
    item_kind: str = "vector"

    def setup(self):
        cfg = self.config
        shape = (self.in_features,) if isinstance(self.in_features, int) else tuple(self.in_features)
        self.phi = make_encoder(resolve_encoder(cfg.encoder, self.item_kind, shape), shape, cfg.embed_dim, "phi")
        init = torch_linear_init(cfg.embed_dim)
        self.rho_in_kernel = self.param("rho_in_kernel", init, (cfg.embed_dim, cfg.hidden_dim))
        self.rho_in_bias = self.param("rho_in_bias", init, (cfg.hidden_dim,))
        self.rho_hidden = [
            _dense(cfg.hidden_dim, cfg.hidden_dim, f"rho_hidden_{i}") for i in range(cfg.num_layers - 1)
        ]
        self.rho_out = _dense(1, cfg.hidden_dim, "rho_out")

    def element_terms(self, x: jax.Array) -> jax.Array:
        """``a_i = W₁ φ(x_i)``: float ``[B, |V|, *item_shape]`` → ``[B, |V|, hidden]`` (ρ's first bias excluded)."""
        return self.phi(x) @ self.rho_in_kernel

    def value(self, z: jax.Array) -> jax.Array:
        """``F`` from first-layer pre-activations without bias: float ``[..., hidden]`` → ``[...]``."""
        h = nn.relu(z + self.rho_in_bias)
        for layer in self.rho_hidden:
            h = nn.relu(layer(h))
        return self.rho_out(h)[..., 0]

    def __call__(self, x: jax.Array, subsets: jax.Array) -> jax.Array:
        """Reference ``F_θ(S)`` by mask-weighted pooling: x ``[B, |V|, *item_shape]``, subsets ``[B, ..., |V|]`` → ``[B, ...]``."""
        pooled = jnp.einsum("b...i,bie->b...e", subsets, self.phi(x))
        return self.value(pooled @ self.rho_in_kernel)

"""Element encoders ``φ`` in Flax, built from the shared declarations of ``setbench.protocol.encoders``.

The PyTorch twins live in ``setbench.baselines.encoders``: same layers, parameter shapes and
initialisation distribution ``U(±1/√fan_in)``; a test runs both on transplanted weights. Items
keep PyTorch's channel-first layout in the data (``[C, H, W]``); the image encoder transposes to
Flax's channel-last layout internally. Every encoder maps ``[..., *item_shape]`` → ``[..., embed_dim]``.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import linen as nn

from setbench.datasets import bindingdb, pdbbind
from setbench.protocol.encoders import (
    ATOMIC_CONV,
    DEEPDTA_BRANCH_DIM,
    DEEPDTA_DRUG,
    DEEPDTA_PROTEIN,
    IMAGE_CNN,
    ConvStack,
)

__all__ = ["torch_linear_init", "dense", "make_encoder", "ConvBranch", "ImageCNN", "DeepDTA", "AtomicConv"]


def torch_linear_init(fan_in: int):
    """``U(−1/√fan_in, 1/√fan_in)``: ``torch.nn.Linear``'s (and Conv's) default for weights and biases."""
    bound = 1.0 / math.sqrt(fan_in)

    def init(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, -bound, bound)

    return init


def dense(features: int, fan_in: int, name: str | None = None) -> nn.Dense:
    init = torch_linear_init(fan_in)
    return nn.Dense(features, kernel_init=init, bias_init=init, name=name)


class ConvBranch(nn.Module):
    """Unpadded convolutions + ReLU, global max-pool, Dense: ``[N, *spatial, C]`` → ``[N, out_features]``."""

    in_channels: int
    stack: ConvStack
    out_features: int
    dims: int

    def setup(self):
        widths = (self.in_channels,) + self.stack.channels
        self.convs = [
            nn.Conv(widths[i + 1], kernel_size=(k,) * self.dims, strides=(self.stack.stride,) * self.dims,
                    padding="VALID", kernel_init=torch_linear_init(widths[i] * k**self.dims),
                    bias_init=torch_linear_init(widths[i] * k**self.dims))
            for i, k in enumerate(self.stack.kernels)
        ]
        self.fc = dense(self.out_features, self.stack.channels[-1])

    def __call__(self, x: jax.Array) -> jax.Array:
        for conv in self.convs:
            x = nn.relu(conv(x))
        return self.fc(x.reshape(x.shape[0], -1, x.shape[-1]).max(axis=1))


class ImageCNN(nn.Module):
    """The image encoder: ``[..., C, H, W]`` → ``[..., embed_dim]``."""

    channels: int
    embed_dim: int

    def setup(self):
        self.branch = ConvBranch(self.channels, IMAGE_CNN, self.embed_dim, dims=2)

    def __call__(self, x: jax.Array) -> jax.Array:
        lead = x.shape[:-3]
        images = x.reshape((-1,) + x.shape[-3:]).transpose(0, 2, 3, 1)  # NCHW → NHWC
        return self.branch(images).reshape(lead + (-1,))


def one_hot_codes(codes: jax.Array, vocabulary: int) -> jax.Array:
    """``[N, L, vocabulary]`` one-hots (dtype of ``codes``) from float codes ``[N, L]`` (0 = padding → zeros)."""
    return jax.nn.one_hot(codes.astype(jnp.int32), vocabulary + 1, dtype=codes.dtype)[..., 1:]


class DeepDTA(nn.Module):
    """DeepDTA encoder of drug–target pairs: ``[..., 1100]`` character codes → ``[..., embed_dim]``."""

    embed_dim: int

    def setup(self):
        self.drug = ConvBranch(len(bindingdb.SMILES_ALPHABET), DEEPDTA_DRUG, DEEPDTA_BRANCH_DIM, dims=1)
        self.protein = ConvBranch(len(bindingdb.PROTEIN_ALPHABET), DEEPDTA_PROTEIN, DEEPDTA_BRANCH_DIM, dims=1)
        self.joint = dense(self.embed_dim, 2 * DEEPDTA_BRANCH_DIM)

    def __call__(self, x: jax.Array) -> jax.Array:
        lead = x.shape[:-1]
        codes = x.reshape(-1, x.shape[-1])
        drug = one_hot_codes(codes[:, : bindingdb.DRUG_LENGTH], len(bindingdb.SMILES_ALPHABET))
        protein = one_hot_codes(codes[:, bindingdb.DRUG_LENGTH:], len(bindingdb.PROTEIN_ALPHABET))
        joint = jnp.concatenate([self.drug(drug), self.protein(protein)], axis=-1)
        return self.joint(joint).reshape(lead + (-1,))


def radial_features(types: jax.Array, distances: jax.Array) -> jax.Array:
    """Atomic convolution of one graph, as ``protocol.encoders.radial_features``: ``[..., M]`` → ``[..., K·T]``."""
    spec = ATOMIC_CONV
    valid = (types > 0) & (distances < spec.cutoff)
    envelope = jnp.where(valid, 0.5 * (jnp.cos(math.pi * distances / spec.cutoff) + 1.0), 0.0)
    means = jnp.asarray(spec.means, dtype=distances.dtype)
    rbf = jnp.exp(-spec.scaling * (distances[..., None] - means) ** 2) * envelope[..., None]
    onehot = jax.nn.one_hot(types.astype(jnp.int32), spec.n_types + 1, dtype=distances.dtype)[..., 1:]
    h = jnp.einsum("...mk,...mt->...kt", rbf, onehot)
    return h.reshape(h.shape[:-2] + (-1,))


class AtomicConv(nn.Module):
    """ACNN-style encoder of a complex's atom table: ``[..., atoms, N_COLUMNS]`` → ``[..., embed_dim]``."""

    embed_dim: int

    def setup(self):
        spec = ATOMIC_CONV
        widths = (spec.features_per_atom,) + spec.hidden
        self.mlp = [dense(widths[i + 1], widths[i]) for i in range(len(spec.hidden))]
        self.out = dense(self.embed_dim, len(spec.pools) * spec.hidden[-1])

    def __call__(self, x: jax.Array) -> jax.Array:
        fragment = x[..., pdbbind.COL_FRAGMENT]
        pooled = []
        for graph, member in ATOMIC_CONV.pools:
            type_cols, dist_cols = pdbbind.neighbour_columns(graph)
            h = radial_features(x[..., type_cols], x[..., dist_cols])
            for layer in self.mlp:
                h = nn.relu(layer(h))
            pooled.append((h * (fragment == member).astype(h.dtype)[..., None]).sum(axis=-2))
        return self.out(jnp.concatenate(pooled, axis=-1))


def make_encoder(name: str, item_shape: tuple[int, ...], embed_dim: int, module_name: str = "phi") -> nn.Module:
    """The encoder ``name`` (already resolved, see ``protocol.resolve_encoder``) for items ``item_shape``."""
    if name == "linear":
        return dense(embed_dim, item_shape[-1], module_name)
    if name == "image_cnn":
        return ImageCNN(item_shape[0], embed_dim, name=module_name)
    if name == "deepdta":
        return DeepDTA(embed_dim, name=module_name)
    if name == "atomic_conv":
        return AtomicConv(embed_dim, name=module_name)
    raise ValueError(f"unknown encoder {name!r}")

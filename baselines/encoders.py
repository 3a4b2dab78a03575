"""Element encoders ``φ`` in PyTorch, built from the shared declarations of ``setbench.protocol.encoders``.

Every encoder maps items ``[..., *item_shape]`` to ``[..., embed_dim]`` (leading dimensions are
flattened around the network), so ``SetFunction.element_terms`` applies it to ``[B, |V|, ...]``
unchanged. The Flax twins live in ``setbench.idiffmf.encoders``; a test runs both on the same
weights.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from setbench.datasets import bindingdb, pdbbind
from setbench.protocol.encoders import (
    ATOMIC_CONV,
    DEEPDTA_BRANCH_DIM,
    DEEPDTA_DRUG,
    DEEPDTA_PROTEIN,
    IMAGE_CNN,
    ConvStack,
)

__all__ = ["make_encoder", "ConvBranch", "ImageCNN", "DeepDTA", "AtomicConv"]


class ConvBranch(nn.Module):
    """Unpadded convolutions + ReLU, global max-pool, Linear: ``[N, C, *spatial]`` → ``[N, out]``."""

    def __init__(self, in_channels: int, stack: ConvStack, out_features: int, dims: int):
        super().__init__()
        conv = nn.Conv2d if dims == 2 else nn.Conv1d
        widths = (in_channels,) + stack.channels
        self.convs = nn.ModuleList(
            conv(widths[i], widths[i + 1], kernel_size=k, stride=stack.stride) for i, k in enumerate(stack.kernels)
        )
        self.fc = nn.Linear(stack.channels[-1], out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.convs:
            x = torch.relu(layer(x))
        return self.fc(x.flatten(2).amax(dim=2))


class ImageCNN(nn.Module):
    """The image encoder: ``[..., C, H, W]`` → ``[..., embed_dim]`` (see ``protocol.encoders``)."""

    def __init__(self, channels: int, embed_dim: int):
        super().__init__()
        self.branch = ConvBranch(channels, IMAGE_CNN, embed_dim, dims=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lead = x.shape[:-3]
        return self.branch(x.reshape((-1,) + x.shape[-3:])).reshape(lead + (-1,))


def one_hot_codes(codes: torch.Tensor, vocabulary: int) -> torch.Tensor:
    """``[N, vocabulary, L]`` one-hots (dtype of ``codes``) from float codes ``[N, L]`` (0 = padding → zeros)."""
    onehot = nn.functional.one_hot(codes.long(), vocabulary + 1)[..., 1:]
    return onehot.transpose(1, 2).to(codes.dtype)


class DeepDTA(nn.Module):
    """DeepDTA encoder of drug–target pairs: ``[..., 1100]`` character codes → ``[..., embed_dim]``."""

    def __init__(self, embed_dim: int):
        super().__init__()
        self.drug = ConvBranch(len(bindingdb.SMILES_ALPHABET), DEEPDTA_DRUG, DEEPDTA_BRANCH_DIM, dims=1)
        self.protein = ConvBranch(len(bindingdb.PROTEIN_ALPHABET), DEEPDTA_PROTEIN, DEEPDTA_BRANCH_DIM, dims=1)
        self.joint = nn.Linear(2 * DEEPDTA_BRANCH_DIM, embed_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lead = x.shape[:-1]
        codes = x.reshape(-1, x.shape[-1])
        drug = one_hot_codes(codes[:, : bindingdb.DRUG_LENGTH], len(bindingdb.SMILES_ALPHABET))
        protein = one_hot_codes(codes[:, bindingdb.DRUG_LENGTH:], len(bindingdb.PROTEIN_ALPHABET))
        joint = torch.cat([self.drug(drug), self.protein(protein)], dim=-1)
        return self.joint(joint).reshape(lead + (-1,))


def radial_features(types: torch.Tensor, distances: torch.Tensor) -> torch.Tensor:
    """Atomic convolution of one graph, as ``protocol.encoders.radial_features``: ``[..., M]`` → ``[..., K·T]``."""
    spec = ATOMIC_CONV
    valid = (types > 0) & (distances < spec.cutoff)
    envelope = torch.where(valid, 0.5 * (torch.cos(math.pi * distances / spec.cutoff) + 1.0),
                           torch.zeros_like(distances))
    means = torch.tensor(spec.means, dtype=distances.dtype, device=distances.device)
    rbf = torch.exp(-spec.scaling * (distances[..., None] - means) ** 2) * envelope[..., None]
    onehot = nn.functional.one_hot(types.long(), spec.n_types + 1)[..., 1:].to(distances.dtype)
    h = torch.einsum("...mk,...mt->...kt", rbf, onehot)
    return h.reshape(h.shape[:-2] + (-1,))


class AtomicConv(nn.Module):
    """ACNN-style encoder of a complex's atom table: ``[..., atoms, N_COLUMNS]`` → ``[..., embed_dim]``."""

    def __init__(self, embed_dim: int):
        super().__init__()
        spec = ATOMIC_CONV
        widths = (spec.features_per_atom,) + spec.hidden
        self.mlp = nn.ModuleList(nn.Linear(widths[i], widths[i + 1]) for i in range(len(spec.hidden)))
        self.out = nn.Linear(len(spec.pools) * spec.hidden[-1], embed_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fragment = x[..., pdbbind.COL_FRAGMENT]
        pooled = []
        for graph, member in ATOMIC_CONV.pools:
            type_cols, dist_cols = pdbbind.neighbour_columns(graph)
            h = radial_features(x[..., type_cols], x[..., dist_cols])
            for layer in self.mlp:
                h = torch.relu(layer(h))
            pooled.append((h * (fragment == member).to(h.dtype)[..., None]).sum(dim=-2))
        return self.out(torch.cat(pooled, dim=-1))


def make_encoder(name: str, item_shape: tuple[int, ...], embed_dim: int) -> nn.Module:
    """The encoder ``name`` (already resolved, see ``protocol.resolve_encoder``) for items ``item_shape``."""
    if name == "linear":
        return nn.Linear(item_shape[-1], embed_dim)
    if name == "image_cnn":
        return ImageCNN(item_shape[0], embed_dim)
    if name == "deepdta":
        return DeepDTA(embed_dim)
    if name == "atomic_conv":
        return AtomicConv(embed_dim)
    raise ValueError(f"unknown encoder {name!r}")

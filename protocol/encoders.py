"""Element encoders ``φ`` of the set function, declared once for both frameworks.

``F_θ(S) = ρ(Σ_{i∈S} φ(x_i))``: ``φ`` maps one item to an ``embed_dim`` vector and depends on
what an item is (``SetSplit.item_kind``). This module declares each encoder's architecture as
plain data; ``setbench.baselines.encoders`` (PyTorch) and ``setbench.idiffmf.encoders`` (Flax)
build the same networks from it, with the same parameter shapes and initialisation distribution
(``U(±1/√fan_in)``, PyTorch's default for Linear and Conv layers); a test runs both on transplanted
weights.

========================  ===============  =============================================================
encoder                   item kind        architecture (App. I.6 of the paper; Ou et al. 2022)
========================  ===============  =============================================================
``linear``                vector           ``Linear(d, embed_dim)``
``image_cnn``             image            3 × (Conv2d, stride 2, no padding, ReLU): 32/64/128 channels,
                                           kernels 3/4/5; global max-pool; ``Linear(128, embed_dim)``
``deepdta``               drug_target      DeepDTA: one-hot SMILES (≤ 100) and protein (≤ 1000)
                                           characters, each 3 × (Conv1d, ReLU) + global max-pool +
                                           ``Linear(96, 256)``; concatenated → ``Linear(512, embed_dim)``
``atomic_conv``           complex          ACNN-style atomic convolutions (Gomes et al. 2017) on the
                                           precomputed neighbour lists of ``datasets.pdbbind``: per atom
                                           and graph, radial filters × neighbour element types, a shared
                                           MLP (32, 32, 16), sums over ligand / pocket atoms of the three
                                           graphs → ``Linear(4 · 16, embed_dim)``
========================  ===============  =============================================================

``encoder = "auto"`` (the default of :class:`~setbench.protocol.SetFunctionConfig`) picks the
encoder of the data's item kind (:data:`DEFAULT_ENCODER`).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from setbench.datasets import bindingdb, pdbbind

__all__ = [
    "ConvStack",
    "ENCODERS",
    "DEFAULT_ENCODER",
    "IMAGE_CNN",
    "DEEPDTA_DRUG",
    "DEEPDTA_PROTEIN",
    "DEEPDTA_BRANCH_DIM",
    "ATOMIC_CONV",
    "AtomicConvSpec",
    "resolve_encoder",
    "conv_output_length",
    "radial_features",
]


@dataclasses.dataclass(frozen=True, kw_only=True)
class ConvStack:
    """Convolutions with ReLU, then a global max-pool (no padding: "VALID", as the published code)."""

    channels: tuple[int, ...]
    kernels: tuple[int, ...]
    stride: int


IMAGE_CNN = ConvStack(channels=(32, 64, 128), kernels=(3, 4, 5), stride=2)
DEEPDTA_DRUG = ConvStack(channels=(32, 64, 96), kernels=(4, 6, 8), stride=1)
DEEPDTA_PROTEIN = ConvStack(channels=(32, 64, 96), kernels=(4, 8, 12), stride=1)
DEEPDTA_BRANCH_DIM = 256  # each branch's Linear output, before the joint Linear


@dataclasses.dataclass(frozen=True, kw_only=True)
class AtomicConvSpec:
    """Radial filters ``exp(−γ (r − μ_k)²) · ½(cos(π r / R_c) + 1)`` for ``r < R_c`` and the atom MLP."""

    means: tuple[float, ...] = (0.0, 2.0, 4.0, 6.0, 8.0)  # μ_k (Å), ACNN's defaults
    scaling: float = 4.0  # γ
    cutoff: float = pdbbind.CUTOFF  # R_c (Å), also the neighbour-list cutoff
    n_types: int = pdbbind.OTHER_TYPE  # element codes 1..n_types (0 = no neighbour)
    hidden: tuple[int, ...] = (32, 32, 16)
    pools: tuple[tuple[str, int], ...] = (("ligand", 1), ("pocket", 2), ("complex", 1), ("complex", 2))
    # (graph, fragment): each pooled block sums the MLP outputs of that graph over that fragment's atoms

    @property
    def features_per_atom(self) -> int:
        return len(self.means) * self.n_types


ATOMIC_CONV = AtomicConvSpec()


@dataclasses.dataclass(frozen=True)
class _Encoder:
    item_kind: str
    item_shape: str  # for messages


ENCODERS: dict[str, _Encoder] = {
    "linear": _Encoder("vector", "[d]"),
    "image_cnn": _Encoder("image", "[channels, height, width]"),
    "deepdta": _Encoder("drug_target", f"[{bindingdb.DRUG_LENGTH} + {bindingdb.PROTEIN_LENGTH}]"),
    "atomic_conv": _Encoder("complex", f"[atoms, {pdbbind.N_COLUMNS}]"),
}

#: item kind → the encoder that ``"auto"`` picks.
DEFAULT_ENCODER = {spec.item_kind: name for name, spec in ENCODERS.items()}


def resolve_encoder(encoder: str, item_kind: str, item_shape: tuple[int, ...]) -> str:
    """The concrete encoder for items of ``item_kind`` and ``item_shape`` (``"auto"`` resolved).

    Raises:
        ValueError: naming the encoder, the item kind and the encoders that fit it.
    """
    if item_kind not in DEFAULT_ENCODER:
        raise ValueError(f"no encoder for item kind {item_kind!r}; known kinds: {', '.join(DEFAULT_ENCODER)}")
    name = DEFAULT_ENCODER[item_kind] if encoder == "auto" else encoder
    if name not in ENCODERS:
        raise ValueError(f"SetFunctionConfig.encoder {encoder!r} is unknown; choose 'auto' or one of {', '.join(ENCODERS)}")
    spec = ENCODERS[name]
    if spec.item_kind != item_kind:
        raise ValueError(f"SetFunctionConfig.encoder {name!r} encodes {spec.item_kind} items {spec.item_shape}, "
                         f"but the data's items are {item_kind!r}; use 'auto' or {DEFAULT_ENCODER[item_kind]!r}")
    if name == "image_cnn":
        side = min(item_shape[1:])
        if conv_output_length(side, IMAGE_CNN) < 1:
            raise ValueError(f"image_cnn needs images of at least {_smallest_input(IMAGE_CNN)} pixels a side, "
                             f"got {item_shape}")
    if name == "deepdta" and item_shape != (bindingdb.DRUG_LENGTH + bindingdb.PROTEIN_LENGTH,):
        raise ValueError(f"deepdta expects items {spec.item_shape}, got {item_shape}")
    if name == "atomic_conv" and item_shape[1:] != (pdbbind.N_COLUMNS,):
        raise ValueError(f"atomic_conv expects items {spec.item_shape}, got {item_shape}")
    return name


def conv_output_length(length: int, stack: ConvStack) -> int:
    """Spatial length after the stack's unpadded convolutions: ``⌊(L − k) / s⌋ + 1`` per layer."""
    for kernel in stack.kernels:
        length = (length - kernel) // stack.stride + 1 if length >= kernel else 0
    return length


def _smallest_input(stack: ConvStack) -> int:
    length = 1
    while conv_output_length(length, stack) < 1:
        length += 1
    return length


def radial_features(types: np.ndarray, distances: np.ndarray, spec: AtomicConvSpec = ATOMIC_CONV) -> np.ndarray:
    """NumPy reference of the atomic convolution of one graph (float64).

    ``h[..., k, t] = Σ_m [types_m = t + 1] · exp(−γ (r_m − μ_k)²) · ½(cos(π r_m / R_c) + 1)``
    over the neighbours ``m`` with ``types_m > 0`` and ``r_m < R_c``.

    Args:
        types: ``[..., NEIGHBOURS]`` element codes (0 = no neighbour).
        distances: ``[..., NEIGHBOURS]`` distances (Å).

    Returns:
        ``[..., len(means) · n_types]`` (k-major), the per-atom input of the atom MLP.
    """
    r = np.asarray(distances, dtype=np.float64)
    valid = (np.asarray(types) > 0) & (r < spec.cutoff)
    envelope = np.where(valid, 0.5 * (np.cos(math.pi * r / spec.cutoff) + 1.0), 0.0)
    rbf = np.exp(-spec.scaling * (r[..., None] - np.asarray(spec.means)) ** 2) * envelope[..., None]  # [..., M, K]
    onehot = np.asarray(types)[..., None] == np.arange(1, spec.n_types + 1)  # [..., M, T]
    h = np.einsum("...mk,...mt->...kt", rbf, onehot.astype(np.float64))
    return h.reshape(h.shape[:-2] + (-1,))

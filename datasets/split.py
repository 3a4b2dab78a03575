"""The data contract every dataset returns: frozen NumPy records of ground sets and optimal subsets.

A *split* holds ``n_sets`` pairs ``(V, S*)`` (Sec. 3 of the paper): the ground set ``V`` is a row of
indices into a table of item features, and ``S* ⊆ V`` is a boolean row over the same positions.
Sets shorter than the padded width ``|V|`` carry ``mask = False`` in their padding positions.

What an item is, is declared by ``item_kind`` (one of :data:`ITEM_KINDS`): it fixes the number of
item dimensions and tells a learner which element encoder ``φ`` suits the items
(``setbench.protocol.encoders``).

Field contract (one table, enforced by :func:`validate`):

======================  ==========  ==========================  ======================================
field                   dtype       shape                       meaning
======================  ==========  ==========================  ======================================
``features``            float32     ``[n_items, *item_shape]``  one row per item (point, vector, image)
``ground_sets``         int64       ``[n_sets, |V|]``           row ``b`` lists the items of ``V_b``
``mask``                bool        ``[n_sets, |V|]``           ``False`` marks padding positions
``optimal``             bool        ``[n_sets, |V|]``           ``True`` marks ``S*_b`` (within mask)
======================  ==========  ==========================  ======================================
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import numpy as np

__all__ = ["FIELD_SPEC", "ITEM_KINDS", "SetSplit", "SetData", "validate"]


class FieldSpec(NamedTuple):
    name: str
    dtype: np.dtype
    ndim: int | None  # None: at least 2 (features: [n_items, *item_shape])


FIELD_SPEC: tuple[FieldSpec, ...] = (
    FieldSpec("features", np.dtype(np.float32), None),
    FieldSpec("ground_sets", np.dtype(np.int64), 2),
    FieldSpec("mask", np.dtype(np.bool_), 2),
    FieldSpec("optimal", np.dtype(np.bool_), 2),
)

#: item kind → (number of item dimensions, layout of one item). Items are stored once in the
#: ``features`` table and indexed by ``ground_sets``, so a large item (an image, a token sequence,
#: an atom table) costs memory once, however many sets it appears in.
ITEM_KINDS: dict[str, tuple[int, str]] = {
    "vector": (1, "[d] feature vector"),
    "image": (3, "[channels, height, width] pixels scaled to [-1, 1]"),
    "drug_target": (1, "[drug_length + protein_length] character codes (0 = padding), see datasets.bindingdb"),
    "complex": (2, "[atoms, columns] atom table of a protein-ligand complex, see datasets.pdbbind"),
}


@dataclasses.dataclass(frozen=True, eq=False)
class SetSplit:
    """One split (train, validation or test) of a set-learning dataset.

    Attributes:
        features: float32 ``[n_items, *item_shape]`` item table.
        ground_sets: int64 ``[n_sets, |V|]`` indices into ``features``.
        mask: bool ``[n_sets, |V|]``; ``False`` marks padding.
        optimal: bool ``[n_sets, |V|]``; the oracle's ``S*`` (a subset of ``mask``).
        name: where the split came from, used in messages (``"moons/train"``).
        item_kind: what one item is, a key of :data:`ITEM_KINDS` (default ``"vector"``).
    """

    features: np.ndarray
    ground_sets: np.ndarray
    mask: np.ndarray
    optimal: np.ndarray
    name: str = "split"
    item_kind: str = "vector"

    def __post_init__(self):
        validate(self)
        for spec in FIELD_SPEC:
            getattr(self, spec.name).flags.writeable = False

    @property
    def n_sets(self) -> int:
        return int(self.ground_sets.shape[0])

    @property
    def v_size(self) -> int:
        """Padded ground-set width ``|V|``."""
        return int(self.ground_sets.shape[1])

    @property
    def item_shape(self) -> tuple[int, ...]:
        return tuple(self.features.shape[1:])

    @property
    def subset_sizes(self) -> np.ndarray:
        """int64 ``[n_sets]``: ``|S*|`` per set."""
        return self.optimal.sum(axis=1).astype(np.int64)

    def set_features(self, rows: np.ndarray | slice | None = None) -> np.ndarray:
        """float32 ``[n, |V|, *item_shape]``: the items of the selected sets, in ground-set order."""
        ground = self.ground_sets if rows is None else self.ground_sets[rows]
        return self.features[ground]

    def subset(self, rows: np.ndarray, name: str | None = None) -> "SetSplit":
        """The split restricted to ``rows`` (int indices), sharing the feature table."""
        rows = np.asarray(rows, dtype=np.int64)
        return SetSplit(
            features=self.features,
            ground_sets=self.ground_sets[rows],
            mask=self.mask[rows],
            optimal=self.optimal[rows],
            name=name or f"{self.name}[{len(rows)}]",
            item_kind=self.item_kind,
        )


@dataclasses.dataclass(frozen=True)
class SetData:
    """A dataset's three splits; the test split is never used for training or selection."""

    train: SetSplit
    valid: SetSplit
    test: SetSplit
    name: str
    description: str = ""

    def splits(self) -> dict[str, SetSplit]:
        return {"train": self.train, "valid": self.valid, "test": self.test}


def validate(split: SetSplit) -> None:
    """Check every field of ``split`` against :data:`FIELD_SPEC` and the cross-field invariants.

    Raises:
        ValueError: naming the split, the field and what is wrong with it.
    """
    where = f"SetSplit {split.name!r}"
    for spec in FIELD_SPEC:
        value = getattr(split, spec.name)
        if not isinstance(value, np.ndarray):
            raise ValueError(f"{where}: field {spec.name!r} must be a numpy array, got {type(value).__name__}")
        if value.dtype != spec.dtype:
            raise ValueError(f"{where}: field {spec.name!r} must have dtype {spec.dtype}, got {value.dtype}")
        if spec.ndim is None and value.ndim < 2:
            raise ValueError(f"{where}: field {spec.name!r} must be [n_items, *item_shape], got shape {value.shape}")
        if spec.ndim is not None and value.ndim != spec.ndim:
            raise ValueError(f"{where}: field {spec.name!r} must have {spec.ndim} dims, got shape {value.shape}")
    if split.item_kind not in ITEM_KINDS:
        raise ValueError(f"{where}: item_kind {split.item_kind!r} is not one of {', '.join(ITEM_KINDS)}")
    item_ndim, layout = ITEM_KINDS[split.item_kind]
    if split.features.ndim != 1 + item_ndim:
        raise ValueError(f"{where}: {split.item_kind!r} items are {layout}, so features must be "
                         f"[n_items, {item_ndim} dims], got shape {split.features.shape}")
    shape = split.ground_sets.shape
    for name in ("mask", "optimal"):
        if getattr(split, name).shape != shape:
            raise ValueError(
                f"{where}: field {name!r} has shape {getattr(split, name).shape}, expected {shape} like ground_sets"
            )
    if shape[0] == 0 or shape[1] == 0:
        raise ValueError(f"{where}: needs at least one set and one position, got ground_sets shape {shape}")
    n_items = split.features.shape[0]
    ground = split.ground_sets[split.mask]
    if ground.size and (ground.min() < 0 or ground.max() >= n_items):
        raise ValueError(f"{where}: ground_sets index items outside 0..{n_items - 1}")
    if np.any(split.optimal & ~split.mask):
        raise ValueError(f"{where}: optimal marks padding positions (optimal must be a subset of mask)")
    if not np.all(np.isfinite(split.features)):
        raise ValueError(f"{where}: features contain non-finite values")


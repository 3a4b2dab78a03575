"""Amazon baby registries: product recommendation as in Ou et al. (2022).

Two input formats are read:

* **Archive format** (Ou et al.'s per-category files, e.g. ``apparel.pickle`` + ``apparel.csv``):
  a pickle mapping every 1-based item id ``1..n`` to a feature vector (768-d text embeddings in
  the public archive), and a CSV with one registry per row (comma-separated item ids).
* **Registry file** (e.g. ``1_100_100_100_apparel_regs.csv``): one registry per line, items as
  space-separated 1-based ids, and no item features. Features are then built from item
  co-occurrence **in the training registries only** (:func:`cooccurrence_features`: truncated SVD
  of the positive pointwise mutual information matrix, Levy & Goldberg 2014), so nothing about a
  validation or test registry enters the features.

Ground sets follow Ou et al.: keep registries with ``2 < |S| < |V|`` (``|V| = 30``); split them
33 % / 33 % / rest in file order; for a registry ``S``, ``V = S`` plus the ``|V| − |S|`` items
least cosine-similar to the mean feature of ``S`` (ties broken by item id; an all-zero feature has
similarity 0), with positions shuffled by the split's own generator. ``S* = S``.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import pickle
from pathlib import Path

import numpy as np

from .files import find_visible
from .split import SetData, SetSplit

__all__ = [
    "CATEGORIES",
    "AmazonConfig",
    "DataFileError",
    "read_registry_file",
    "read_archive_registries",
    "read_item_vectors",
    "cooccurrence_features",
    "load_registry_file",
    "load_archive",
]

#: The twelve categories of the baby-registry data (Gillenwater et al. 2014).
CATEGORIES = (
    "apparel", "bath", "bedding", "carseats", "diaper", "feeding",
    "furniture", "gear", "health", "media", "safety", "toys",
)

_SPLIT_FRACTIONS = (0.33, 0.33)  # train, valid; the test split takes the rest (Ou et al.)


class DataFileError(ValueError):
    """A data file is missing or malformed; the message names the file and, where known, the line."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class AmazonConfig:
    """How Amazon registries become ground sets.

    Attributes:
        v_size: ``|V|``, items per ground set (Ou et al.: 30). Registries with ``2 < |S| < v_size``
            are kept.
        feature_dim: dimension of the co-occurrence features built for the registry-file format.
        item_dim: expected length of each archive feature vector (768 in Ou et al.'s archive);
            ``None`` accepts any length, as long as all vectors agree.
    """

    v_size: int = 30
    feature_dim: int = 32
    item_dim: int | None = 768

    def __post_init__(self):
        for field in ("v_size", "feature_dim"):
            value = getattr(self, field)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"AmazonConfig.{field} must be a positive integer, got {value!r}")
        if self.v_size < 4:
            raise ValueError(f"AmazonConfig.v_size must be at least 4 (registries need 2 < |S| < |V|), got {self.v_size}")
        if self.item_dim is not None and (not isinstance(self.item_dim, int) or self.item_dim <= 0):
            raise ValueError(f"AmazonConfig.item_dim must be a positive integer or None, got {self.item_dim!r}")


# ----------------------------------------------------------------------------------------------
# Parsing


def _read_text(path: Path) -> str:
    if not path.is_file():
        raise DataFileError(f"{path}: file not found")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise DataFileError(f"{path}: not a UTF-8 text file ({err.reason} at byte {err.start})") from None


def _parse_registries(path: Path, separator: str | None, n_items: int | None) -> list[np.ndarray]:
    """1-based ids per registry, checked line by line. ``separator=None`` splits on whitespace."""
    registries = []
    lines = _read_text(path).splitlines()
    while lines and not lines[-1].strip():  # trailing blank lines end the file, they are no registries
        lines.pop()
    if not lines:
        raise DataFileError(f"{path}: no registries (the file is empty)")
    for number, line in enumerate(lines, start=1):
        tokens = [t.strip() for t in line.split(separator)] if separator else line.split()
        if not any(tokens):
            raise DataFileError(f"{path.name}:{number}: empty registry line")
        ids = []
        for token in tokens:
            try:
                value = float(token)
            except ValueError:
                raise DataFileError(f"{path.name}:{number}: item id {token!r} is not an integer") from None
            if not value.is_integer():
                raise DataFileError(f"{path.name}:{number}: item id {token!r} is not an integer")
            ids.append(int(value))
        upper = f"{n_items}" if n_items is not None else "n"
        for value in ids:
            if value < 1 or (n_items is not None and value > n_items):
                raise DataFileError(f"{path.name}:{number}: item id {value} outside 1..{upper} (ids are 1-based)")
        if len(set(ids)) != len(ids):
            dup = next(v for v in ids if ids.count(v) > 1)
            raise DataFileError(f"{path.name}:{number}: item id {dup} appears twice in one registry")
        registries.append(np.asarray(ids, dtype=np.int64))
    return registries


def read_registry_file(path: str | Path) -> list[np.ndarray]:
    """Registries of a plain registry file: one line each, space-separated 1-based item ids.

    Returns:
        One int64 array of 1-based item ids per line, in file order.

    Raises:
        DataFileError: naming the file and line of a missing file, empty line, non-integer,
            non-positive or duplicated id.
    """
    return _parse_registries(Path(path), None, None)


def read_archive_registries(path: str | Path, n_items: int) -> list[np.ndarray]:
    """Registries of an archive CSV: one row each, comma-separated 1-based item ids in ``1..n_items``."""
    return _parse_registries(Path(path), ",", n_items)


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles plain containers and NumPy arrays only: a data file must not run code."""

    _ALLOWED = {
        ("numpy", "ndarray"), ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
        ("collections", "OrderedDict"),
        # pickle protocol 5 stores array buffers out of band; protocols 0-2 (Python 2) encode bytes
        ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"), ("_codecs", "encode"),
    }

    def find_class(self, module, name):
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} (expected a dict of numeric vectors)")


def read_item_vectors(path: str | Path, item_dim: int | None = None) -> np.ndarray:
    """The item feature table of an archive pickle.

    Args:
        path: pickle of a dict ``{item_id: vector}`` with keys exactly ``1..n``.
        item_dim: required vector length, or ``None`` for any common length.

    Returns:
        float32 ``[n_items, d]``; row ``i`` is item ``i + 1``.

    Raises:
        DataFileError: naming the file and the offending item id.
    """
    path = Path(path)
    if not path.is_file():
        raise DataFileError(f"{path}: file not found")
    try:
        table = _ArrayUnpickler(io.BytesIO(path.read_bytes())).load()
    except Exception as err:  # any unpickling failure is a malformed file
        raise DataFileError(f"{path}: not a readable pickle of item vectors ({err})") from None
    if not isinstance(table, dict) or not table:
        raise DataFileError(f"{path}: expected a non-empty dict {{item_id: vector}}, got {type(table).__name__}")
    keys = sorted(table)
    if any(not isinstance(k, (int, np.integer)) for k in keys) or keys != list(range(1, len(keys) + 1)):
        raise DataFileError(f"{path}: item ids must be the integers 1..{len(keys)} (1-based, no gaps)")
    rows = []
    for key in keys:
        vector = np.asarray(table[key], dtype=np.float64).reshape(-1)
        expected = item_dim if item_dim is not None else (rows[0].size if rows else vector.size)
        if vector.size != expected:
            raise DataFileError(f"{path.name}: item {key} has a vector of dimension {vector.size}, expected {expected}")
        if not np.all(np.isfinite(vector)):
            raise DataFileError(f"{path.name}: item {key} has non-finite values")
        rows.append(vector)
    return np.stack(rows).astype(np.float32)


# ----------------------------------------------------------------------------------------------
# Features and ground sets


def cooccurrence_features(registries: list[np.ndarray], n_items: int, dim: int) -> np.ndarray:
    """Item features from co-occurrence: truncated SVD of the PPMI matrix.

    ``C[i, j]`` counts the registries holding both ``i`` and ``j`` (``i ≠ j``);
    ``PPMI[i, j] = max(0, log(C[i, j] · ΣC / (ΣⱼC[i, j] · ΣᵢC[i, j])))``; the features are
    ``U_r · √Σ_r`` of its rank-``r`` SVD, ``r = min(dim, n_items)``, each column's sign fixed so that
    its largest-magnitude entry is positive (deterministic). Items that co-occur with nothing get
    all-zero rows.

    Args:
        registries: int64 arrays of **0-based** item ids (pass only training registries).
        n_items: catalogue size; ids must lie in ``0..n_items-1``.
        dim: feature dimension ``r``.

    Returns:
        float32 ``[n_items, dim]`` (zero-padded if ``dim > n_items``).
    """
    counts = np.zeros((n_items, n_items), dtype=np.float64)
    for items in registries:
        counts[np.ix_(items, items)] += 1.0
    np.fill_diagonal(counts, 0.0)
    total = counts.sum()
    features = np.zeros((n_items, dim), dtype=np.float64)
    if total == 0:
        return features.astype(np.float32)
    marginal = counts.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        pmi = np.log(counts * total / np.outer(marginal, marginal))
    ppmi = np.where(np.isfinite(pmi) & (pmi > 0), pmi, 0.0)
    u, s, _ = np.linalg.svd(ppmi)
    rank = min(dim, n_items)
    u = u[:, :rank] * np.sqrt(s[:rank])
    signs = np.sign(u[np.argmax(np.abs(u), axis=0), np.arange(rank)])
    features[:, :rank] = u * np.where(signs == 0, 1.0, signs)
    return features.astype(np.float32)


def _ground_sets(registries: list[np.ndarray], features: np.ndarray, v_size: int,
                 rng: np.random.Generator, name: str) -> SetSplit:
    """Ou et al.'s construction: ``V = S`` + the least cosine-similar items; positions shuffled."""
    n_items = features.shape[0]
    norms = np.linalg.norm(features, axis=1)
    unit = np.divide(features, norms[:, None], out=np.zeros_like(features), where=norms[:, None] > 0)
    ground = np.empty((len(registries), v_size), dtype=np.int64)
    optimal = np.zeros((len(registries), v_size), dtype=bool)
    for row, items in enumerate(registries):
        mean = features[items].mean(axis=0)
        norm = np.linalg.norm(mean)
        similarity = unit @ (mean / norm) if norm > 0 else np.zeros(n_items)
        outside = np.setdiff1d(np.arange(n_items), items)
        order = np.lexsort((outside, similarity[outside]))  # by similarity, ties by item id
        fill = outside[order[: v_size - len(items)]]
        members = np.concatenate([items, fill])
        perm = rng.permutation(v_size)
        ground[row] = members[perm]
        optimal[row] = (np.arange(v_size) < len(items))[perm]
    return SetSplit(features=features, ground_sets=ground, mask=np.ones_like(optimal), optimal=optimal, name=name)


def _build(name: str, registries: list[np.ndarray], n_items: int, features_of, config: AmazonConfig,
           seed: int, source: Path) -> SetData:
    if n_items < config.v_size:
        raise DataFileError(f"{source}: the catalogue has {n_items} items, fewer than |V| = {config.v_size}")
    kept = [r - 1 for r in registries if 2 < len(r) < config.v_size]
    if len(kept) < 3:
        raise DataFileError(
            f"{source}: only {len(kept)} registries have 2 < |S| < {config.v_size}; need at least 3 to split"
        )
    n_train = int(_SPLIT_FRACTIONS[0] * len(kept))
    n_valid = int((_SPLIT_FRACTIONS[0] + _SPLIT_FRACTIONS[1]) * len(kept)) - n_train
    parts = {"train": kept[:n_train], "valid": kept[n_train:n_train + n_valid], "test": kept[n_train + n_valid:]}
    features = features_of(parts["train"])
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3)]
    splits = [
        _ground_sets(regs, features, config.v_size, rng, f"{name}/{split}")
        for (split, regs), rng in zip(parts.items(), rngs)
    ]
    sizes = "/".join(str(len(p)) for p in parts.values())
    return SetData(*splits, name=name, description=f"{name}: |V|={config.v_size}, sets {sizes} from {source.name}")


def load_registry_file(path: str | Path, config: AmazonConfig = AmazonConfig(), *, seed: int = 0,
                       name: str = "amazon") -> SetData:
    """Ground sets from a plain registry file, with co-occurrence features from its training split.

    The catalogue size is the largest item id in the file.
    """
    path = Path(path)
    registries = read_registry_file(path)
    n_items = int(max(r.max() for r in registries))
    features_of = functools.partial(cooccurrence_features, n_items=n_items, dim=config.feature_dim)
    return _build(name, registries, n_items, features_of, config, seed, path)


def _find(root: Path, names: tuple[str, ...]) -> Path:
    for pattern in names:
        found = find_visible(root, pattern)
        if found:
            return found[0]
    raise DataFileError(f"{root}: no file named {' or '.join(names)} (expected Ou et al.'s Amazon archive layout)")


def load_archive(root: str | Path, category: str, config: AmazonConfig = AmazonConfig(), *,
                 seed: int = 0) -> SetData:
    """Ground sets of one category from Ou et al.'s extracted archive.

    Args:
        root: folder holding (at any depth) ``<category>.pickle`` (or ``.pkl``) and ``<category>.csv``.
        category: one of :data:`CATEGORIES`.
    """
    if category not in CATEGORIES:
        raise ValueError(f"unknown Amazon category {category!r}; choose one of {', '.join(CATEGORIES)}")
    root = Path(root)
    if not root.is_dir():
        raise DataFileError(f"{root}: folder not found")
    vectors = read_item_vectors(_find(root, (f"{category}.pickle", f"{category}.pkl")), config.item_dim)
    csv_path = _find(root, (f"{category}.csv",))
    registries = read_archive_registries(csv_path, vectors.shape[0])
    return _build(f"amazon_{category}", registries, vectors.shape[0], lambda train: vectors, config, seed, csv_path)


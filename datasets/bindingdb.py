"""BindingDB compound selection (Ou et al. 2022; Table 1 of the paper): pick the best binders of a set.

Source: the ``BindingDB_Kd`` table of Therapeutics Data Commons (TDC), file ``bindingdb_kd.tab``:
tab-separated with a header row naming at least ``X1`` (drug SMILES), ``X2`` (target amino-acid
sequence) and ``Y`` (dissociation constant Kd in nM); ``ID1``/``ID2`` are read where present.
Rows with an empty ``Y`` are dropped, as TDC does. Repeated (drug, target) pairs are **harmonised
by mean** (TDC's ``harmonize_affinities(mode="mean")``): one item per distinct pair, its Kd the
mean of the repeats.

An item is a drug–target pair, stored once as character codes (``item_kind = "drug_target"``):
``[DRUG_LENGTH + PROTEIN_LENGTH]`` float32, the SMILES string's first :data:`DRUG_LENGTH`
characters then the sequence's first :data:`PROTEIN_LENGTH`, each character as its 1-based index
in :data:`SMILES_ALPHABET` / :data:`PROTEIN_ALPHABET` and 0 for padding. The DeepDTA encoder
one-hot encodes them (``setbench.protocol.encoders``); padding one-hots to zeros.

A ground set is ``|V| = 300`` distinct pairs drawn uniformly; ``S*`` is chosen by an oracle:

* ``"published"`` — the ``|S*| = 15`` pairs with the **largest** Kd, as the published code does
  (``topk`` of raw Kd). Kd is a dissociation constant, so these are the *weakest* binders; the
  published Table 1 numbers of Özcan et al. 2025 come from this oracle.
* ``"potency"`` — the ``|S*|`` pairs with the smallest Kd, i.e. the largest pKd = 9 − log₁₀(Kd/nM):
  the strongest binders.

Ties (Kd values are often censored at a common cap such as 10000 nM) are broken by position in
the ground set, which is random: a tied boundary is a uniformly random choice, never an
index-order artefact. ``diversity=True`` adds Ou et al. 2022's second filter: the oracle's top
``|V| // 3`` pairs are clustered by affinity propagation on the Tanimoto similarity of their RDKit
fingerprints and ``S*`` is the set of exemplars (a variable size; sets where clustering fails are
redrawn). It needs the ``rdkit`` package and is imported only then.

Sizes follow the paper: 1000 / 100 / 100 sets; each split from its own generator spawned from
``seed``.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np

from .amazon import DataFileError
from .compounds import diverse_exemplars, top_k
from .split import SetData, SetSplit

__all__ = [
    "DRUG_LENGTH",
    "PROTEIN_LENGTH",
    "SMILES_ALPHABET",
    "PROTEIN_ALPHABET",
    "ORACLES",
    "BindingDBConfig",
    "PairTable",
    "read_tdc_table",
    "encode_sequences",
    "select_optimal",
    "load_bindingdb",
]

DRUG_LENGTH = 100  # SMILES characters kept (DeepDTA, Ou et al.)
PROTEIN_LENGTH = 1000  # amino acids kept

#: SMILES characters (code = 1-based index). A superset of the 41 characters of the published
#: tokenizer: organic-subset and bracket-atom letters, digits, bonds, branches, charges, ring
#: closures above 9 (``%``), stereo marks and the dot of disconnected parts.
SMILES_ALPHABET = "#%()+-./0123456789:=@ABCDEFGHIKLMNOPRSTUVWXYZ[\\]abcdefghiklmnoprstuy"
#: Amino-acid letters: the 20 standard residues, then B, O, U, X, Z (ambiguous and rare residues).
PROTEIN_ALPHABET = "ACDEFGHIKLMNPQRSTVWYBOUXZ"

ORACLES = ("published", "potency")
_SPLITS = ("train", "valid", "test")
_REQUIRED_COLUMNS = ("X1", "X2", "Y")
_MAX_REDRAWS = 100  # per set, for the diversity oracle


@dataclasses.dataclass(frozen=True, kw_only=True)
class BindingDBConfig:
    """Sizes and oracle of the BindingDB task (defaults: the paper's, App. I).

    Attributes:
        v_size: ``|V|``, pairs per ground set.
        s_size: ``|S*|`` for the affinity-only oracle.
        n_train, n_valid, n_test: sets per split.
        oracle: ``"published"`` (largest Kd, as the published code) or ``"potency"`` (smallest Kd).
        diversity: add the affinity-propagation diversity filter (Ou et al. 2022); needs rdkit.
    """

    v_size: int = 300
    s_size: int = 15
    n_train: int = 1000
    n_valid: int = 100
    n_test: int = 100
    oracle: str = "published"
    diversity: bool = False

    def __post_init__(self):
        for field in ("v_size", "s_size", "n_train", "n_valid", "n_test"):
            value = getattr(self, field)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"BindingDBConfig.{field} must be a positive integer, got {value!r}")
        if self.s_size >= self.v_size:
            raise ValueError(f"BindingDBConfig.s_size must be smaller than v_size={self.v_size}, got {self.s_size}")
        if self.oracle not in ORACLES:
            raise ValueError(f"BindingDBConfig.oracle must be one of {ORACLES}, got {self.oracle!r}")
        if not isinstance(self.diversity, bool):
            raise ValueError(f"BindingDBConfig.diversity must be a bool, got {self.diversity!r}")
        if self.diversity and self.v_size < 6:
            raise ValueError(f"BindingDBConfig.v_size must be at least 6 with diversity=True, got {self.v_size}")


@dataclasses.dataclass(frozen=True)
class PairTable:
    """Distinct drug–target pairs with harmonised affinities.

    Attributes:
        drugs, targets: SMILES and sequence of each pair (tuples of ``n_pairs`` strings).
        kd: float64 ``[n_pairs]``, mean Kd (nM) over the file's repeats of the pair.
        repeats: int64 ``[n_pairs]``, how many rows were averaged.
    """

    drugs: tuple[str, ...]
    targets: tuple[str, ...]
    kd: np.ndarray
    repeats: np.ndarray

    @property
    def p_kd(self) -> np.ndarray:
        """float64 ``[n_pairs]``: pKd = 9 − log₁₀(Kd / nM) (``inf`` for a recorded Kd of 0)."""
        with np.errstate(divide="ignore"):
            return 9.0 - np.log10(self.kd)


def read_tdc_table(path: str | Path) -> PairTable:
    """Read TDC's ``bindingdb_kd.tab`` and harmonise repeated pairs by mean.

    Raises:
        DataFileError: naming the file and line of a missing column, a short row, an unparsable or
            negative Kd, or an empty SMILES/sequence.
    """
    path = Path(path)
    if not path.is_file():
        raise DataFileError(f"{path}: file not found")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise DataFileError(f"{path}: not a UTF-8 text file ({err.reason} at byte {err.start})") from None
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise DataFileError(f"{path}: empty file (expected a tab-separated header naming X1, X2 and Y)")
    header = [name.strip() for name in lines[0].split("\t")]
    missing = [c for c in _REQUIRED_COLUMNS if c not in header]
    if missing:
        raise DataFileError(f"{path.name}:1: header lacks column(s) {', '.join(missing)} "
                            f"(TDC's BindingDB_Kd table has X1 = SMILES, X2 = sequence, Y = Kd in nM)")
    col = {name: header.index(name) for name in _REQUIRED_COLUMNS}
    sums: dict[tuple[str, str], list] = {}
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != len(header):
            raise DataFileError(f"{path.name}:{number}: {len(fields)} tab-separated fields, expected {len(header)} "
                                f"(the file may be truncated)")
        drug, target, y = (fields[col[c]].strip() for c in _REQUIRED_COLUMNS)
        if not y:
            continue  # TDC drops rows without a label
        try:
            kd = float(y)
        except ValueError:
            raise DataFileError(f"{path.name}:{number}: Y {y!r} is not a number (Kd in nM)") from None
        if not (math.isfinite(kd) and kd >= 0):
            raise DataFileError(f"{path.name}:{number}: Y = {y} is not a non-negative finite Kd (nM)")
        if not drug or not target:
            raise DataFileError(f"{path.name}:{number}: empty {'X1 (SMILES)' if not drug else 'X2 (sequence)'}")
        entry = sums.setdefault((drug, target), [0.0, 0, number])
        entry[0] += kd
        entry[1] += 1
    if not sums:
        raise DataFileError(f"{path}: no rows with a Kd value")
    pairs = list(sums)  # first-appearance order: deterministic for a given file
    return PairTable(
        drugs=tuple(d for d, _ in pairs),
        targets=tuple(t for _, t in pairs),
        kd=np.array([sums[p][0] / sums[p][1] for p in pairs], dtype=np.float64),
        repeats=np.array([sums[p][1] for p in pairs], dtype=np.int64),
    )


def _codes(strings: tuple[str, ...], alphabet: str, length: int, what: str, source: str) -> np.ndarray:
    """float32 ``[n, length]`` 1-based codes of each distinct string, truncated and zero-padded."""
    lookup = {ch: i + 1 for i, ch in enumerate(alphabet)}
    cache: dict[str, np.ndarray] = {}
    out = np.zeros((len(strings), length), dtype=np.float32)
    for row, string in enumerate(strings):
        if string not in cache:
            kept = string[:length]
            bad = next((ch for ch in kept if ch not in lookup), None)
            if bad is not None:
                raise DataFileError(f"{source}: {what} {string[:40]!r}… has character {bad!r} outside its alphabet "
                                    f"({len(alphabet)} symbols, datasets/bindingdb.py)")
            cache[string] = np.array([lookup[ch] for ch in kept], dtype=np.float32)
        codes = cache[string]
        out[row, : codes.size] = codes
    return out


def encode_sequences(table: PairTable, source: str = "pairs") -> np.ndarray:
    """float32 ``[n_pairs, DRUG_LENGTH + PROTEIN_LENGTH]``: drug codes then protein codes (0 = padding)."""
    drugs = _codes(table.drugs, SMILES_ALPHABET, DRUG_LENGTH, "SMILES", source)
    proteins = _codes(tuple(t.upper() for t in table.targets), PROTEIN_ALPHABET, PROTEIN_LENGTH, "sequence", source)
    return np.concatenate([drugs, proteins], axis=1)


def select_optimal(kd: np.ndarray, k: int, oracle: str) -> np.ndarray:
    """Positions of ``S*`` in one ground set, by affinity only.

    Args:
        kd: float ``[|V|]`` Kd of the ground set's pairs, in ground-set order.
        k: ``|S*|``.
        oracle: ``"published"`` (largest Kd) or ``"potency"`` (smallest Kd, i.e. largest pKd).

    Returns:
        int64 ``[k]`` positions; ties are broken by position (the ground set's order is random).
    """
    if oracle not in ORACLES:
        raise ValueError(f"oracle must be one of {ORACLES}, got {oracle!r}")
    return top_k(kd, k, largest=oracle == "published")


def _split(table: PairTable, features: np.ndarray, n_sets: int, config: BindingDBConfig,
           rng: np.random.Generator, name: str) -> SetSplit:
    n_pairs = len(table.kd)
    ground = np.empty((n_sets, config.v_size), dtype=np.int64)
    optimal = np.zeros((n_sets, config.v_size), dtype=bool)
    for row in range(n_sets):
        for _ in range(_MAX_REDRAWS):
            items = rng.choice(n_pairs, size=config.v_size, replace=False)
            if not config.diversity:
                chosen = select_optimal(table.kd[items], config.s_size, config.oracle)
                break
            shortlist = select_optimal(table.kd[items], config.v_size // 3, config.oracle)
            exemplars = diverse_exemplars([table.drugs[i] for i in items[shortlist]], kind="smiles",
                                          seed=int(rng.integers(2**31)))
            if exemplars.size:
                chosen = shortlist[exemplars]
                break
        else:
            raise DataFileError(f"{name}: the diversity oracle found no exemplars in {_MAX_REDRAWS} draws of set {row}")
        ground[row] = items
        optimal[row, chosen] = True
    return SetSplit(features=features, ground_sets=ground, mask=np.ones_like(optimal), optimal=optimal,
                    name=name, item_kind="drug_target")


def load_bindingdb(path: str | Path, config: BindingDBConfig = BindingDBConfig(), *, seed: int = 0,
                   name: str = "bindingdb") -> SetData:
    """Ground sets of drug–target pairs from TDC's ``bindingdb_kd.tab`` (see module docstring).

    Raises:
        DataFileError: for a missing or malformed table, or fewer distinct pairs than ``|V|``.
    """
    path = Path(path)
    table = read_tdc_table(path)
    if len(table.kd) < config.v_size:
        raise DataFileError(f"{path}: {len(table.kd)} distinct drug-target pairs, fewer than |V| = {config.v_size}")
    features = encode_sequences(table, source=path.name)
    sizes = (config.n_train, config.n_valid, config.n_test)
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(len(_SPLITS))]
    splits = [_split(table, features, n, config, rng, f"{name}/{split}") for split, n, rng in zip(_SPLITS, sizes, rngs)]
    oracle = ("largest Kd (published)" if config.oracle == "published" else "smallest Kd = largest pKd")
    oracle += " + diversity exemplars" if config.diversity else f", |S*|={config.s_size}"
    return SetData(*splits, name=name, description=(
        f"{name}: {len(table.kd)} pairs from {path.name}, |V|={config.v_size}, S* by {oracle}, "
        f"sets {sizes[0]}/{sizes[1]}/{sizes[2]}"))

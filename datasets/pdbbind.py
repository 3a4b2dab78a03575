"""PDBBind compound selection (Ou et al. 2022; Table 1 of the paper): pick the tightest complexes.

Source: the PDBBind v2015 archive as redistributed by DGL/MoleculeNet (``pdbbind_v2015.tar.gz``):
``v2015/INDEX_core_data.2013`` (the core set) lists one complex per line —
``PDB-code resolution release-year -logKd/Ki Kd/Ki // reference (ligand-name)``, ``#`` comments — and
each complex has a folder ``v2015/<code>/`` with ``<code>_ligand.sdf`` (MDL V2000) and
``<code>_pocket.pdb`` (the binding pocket). Files are parsed here with NumPy and the standard
library: coordinates and element symbols are all the encoder needs, so no chemistry toolkit is
involved (RDKit is used only by the optional diversity oracle).

An item is one complex, stored once as an **atom table** (``item_kind = "complex"``), float32
``[atoms, N_COLUMNS]`` zero-padded to the largest complex, one row per heavy atom (ligand first,
then pocket; hydrogens and waters dropped):

=================================  ===========================================================
columns                            meaning
=================================  ===========================================================
``COL_FRAGMENT``                   0 padding, 1 ligand atom, 2 pocket atom
``COL_TYPE``                       element code: 1..len(ATOM_TYPES) (ACNN's types), else OTHER
``neighbour_columns(g)``           for graph g ∈ GRAPHS: the element codes of the atom's
                                   ``NEIGHBOURS`` nearest atoms within ``CUTOFF`` Å (0 = none),
                                   then their distances (Å), nearest first
=================================  ===========================================================

The three graphs are those of the atomic convolutional network (ACNN; Gomes et al. 2017), as
Ou et al. used it: ``ligand`` (ligand atoms among themselves), ``pocket`` (pocket atoms among
themselves) and ``complex`` (all atoms). Precomputing neighbour lists here keeps the encoder a
dense, per-atom computation, identical in PyTorch and JAX.

A ground set is ``|V| = 30`` distinct complexes; ``S*`` the ``|S*| = 5`` with the largest
-logKd/Ki (the tightest binders; ties by position, which is random). ``diversity=True`` applies
Ou et al. 2022's diversity filter to the top ``|V| // 3`` (see :mod:`.compounds`).
Sizes: 1000 / 100 / 100 sets.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from .amazon import DataFileError
from .compounds import diverse_exemplars, top_k
from .files import find_visible
from .split import SetData, SetSplit

__all__ = [
    "ATOM_TYPES",
    "OTHER_TYPE",
    "GRAPHS",
    "NEIGHBOURS",
    "CUTOFF",
    "COL_FRAGMENT",
    "COL_TYPE",
    "N_COLUMNS",
    "neighbour_columns",
    "PDBBindConfig",
    "Complex",
    "read_index",
    "read_pocket_pdb",
    "read_ligand_sdf",
    "atom_table",
    "load_pdbbind",
]

#: Element types of the atomic convolutions (ACNN): C N O F Na Mg P S Cl Ca Mn Zn Br I.
ATOM_TYPES = ("C", "N", "O", "F", "NA", "MG", "P", "S", "CL", "CA", "MN", "ZN", "BR", "I")
OTHER_TYPE = len(ATOM_TYPES) + 1  # any other element
GRAPHS = ("ligand", "pocket", "complex")
NEIGHBOURS = 12  # per atom and graph (ACNN's max_num_neighbors)
CUTOFF = 12.0  # Å (ACNN's neighbour and interaction cutoff)
COL_FRAGMENT, COL_TYPE = 0, 1
N_COLUMNS = 2 + len(GRAPHS) * 2 * NEIGHBOURS
_SPLITS = ("train", "valid", "test")
_MAX_REDRAWS = 100


def neighbour_columns(graph: str) -> tuple[slice, slice]:
    """Column slices ``(element codes, distances)`` of ``graph``'s neighbour lists."""
    g = GRAPHS.index(graph)
    start = 2 + g * 2 * NEIGHBOURS
    return slice(start, start + NEIGHBOURS), slice(start + NEIGHBOURS, start + 2 * NEIGHBOURS)


@dataclasses.dataclass(frozen=True, kw_only=True)
class PDBBindConfig:
    """Sizes and oracle of the PDBBind task (defaults: the paper's, App. I).

    Attributes:
        v_size, s_size: ``|V|`` and ``|S*|``.
        n_train, n_valid, n_test: sets per split.
        diversity: add the affinity-propagation diversity filter (Ou et al. 2022); needs rdkit.
    """

    v_size: int = 30
    s_size: int = 5
    n_train: int = 1000
    n_valid: int = 100
    n_test: int = 100
    diversity: bool = False

    def __post_init__(self):
        for field in ("v_size", "s_size", "n_train", "n_valid", "n_test"):
            value = getattr(self, field)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"PDBBindConfig.{field} must be a positive integer, got {value!r}")
        if self.s_size >= self.v_size:
            raise ValueError(f"PDBBindConfig.s_size must be smaller than v_size={self.v_size}, got {self.s_size}")
        if not isinstance(self.diversity, bool):
            raise ValueError(f"PDBBindConfig.diversity must be a bool, got {self.diversity!r}")


@dataclasses.dataclass(frozen=True)
class Complex:
    """Heavy atoms of one complex: ``elements`` (upper-case symbols) and float64 ``[n, 3]`` coordinates."""

    code: str
    ligand_elements: tuple[str, ...]
    ligand_xyz: np.ndarray
    pocket_elements: tuple[str, ...]
    pocket_xyz: np.ndarray


def read_index(path: str | Path) -> list[tuple[str, float]]:
    """``(code, -logKd/Ki)`` per complex of an INDEX file, in file order.

    Raises:
        DataFileError: naming the file and line of a short line or a non-numeric -logKd/Ki.
    """
    path = Path(path)
    if not path.is_file():
        raise DataFileError(f"{path}: file not found")
    entries = []
    for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        tokens = line.split()
        if len(tokens) < 5:
            raise DataFileError(f"{path.name}:{number}: expected 'code resolution year -logKd/Ki Kd/Ki ...', "
                                f"got {len(tokens)} fields")
        try:
            affinity = float(tokens[3])
        except ValueError:
            raise DataFileError(f"{path.name}:{number}: -logKd/Ki {tokens[3]!r} is not a number") from None
        if not np.isfinite(affinity):
            raise DataFileError(f"{path.name}:{number}: -logKd/Ki {tokens[3]!r} is not finite")
        entries.append((tokens[0].lower(), affinity))
    if not entries:
        raise DataFileError(f"{path}: no complexes listed")
    return entries


def _element_from_name(name: str) -> str:
    letters = "".join(ch for ch in name if ch.isalpha())
    return letters[:1].upper()


def read_pocket_pdb(path: str | Path) -> tuple[tuple[str, ...], np.ndarray]:
    """Heavy atoms of a PDB file's ATOM/HETATM records (waters and hydrogens dropped).

    Returns:
        ``(elements, xyz)``: upper-case element symbols and float64 ``[n, 3]``.
    """
    path = Path(path)
    if not path.is_file():
        raise DataFileError(f"{path}: file not found")
    elements, xyz = [], []
    for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
        if not line.startswith(("ATOM  ", "HETATM")):
            continue
        if line[17:20].strip() in ("HOH", "WAT"):
            continue
        element = line[76:78].strip().upper() or _element_from_name(line[12:16])
        if element in ("H", "D"):
            continue
        try:
            xyz.append((float(line[30:38]), float(line[38:46]), float(line[46:54])))
        except ValueError:
            raise DataFileError(f"{path.name}:{number}: unreadable coordinates {line[30:54]!r}") from None
        elements.append(element)
    if not elements:
        raise DataFileError(f"{path}: no heavy atoms in ATOM/HETATM records")
    return tuple(elements), np.asarray(xyz, dtype=np.float64)


def read_ligand_sdf(path: str | Path) -> tuple[tuple[str, ...], np.ndarray, str]:
    """Heavy atoms of the first molecule of an MDL V2000 SDF file.

    Returns:
        ``(elements, xyz, molblock)``: symbols, float64 ``[n, 3]``, and the molecule's text block.
    """
    path = Path(path)
    if not path.is_file():
        raise DataFileError(f"{path}: file not found")
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    if len(lines) < 4:
        raise DataFileError(f"{path.name}: truncated (no counts line)")
    counts = lines[3]
    if "V3000" in counts:
        raise DataFileError(f"{path.name}:4: V3000 molfiles are not supported (expected V2000)")
    try:
        n_atoms = int(counts[0:3])
    except ValueError:
        raise DataFileError(f"{path.name}:4: unreadable atom count {counts[0:3]!r}") from None
    if len(lines) < 4 + n_atoms:
        raise DataFileError(f"{path.name}: truncated: {n_atoms} atoms announced, {len(lines) - 4} lines follow")
    elements, xyz = [], []
    for number in range(5, 5 + n_atoms):
        line = lines[number - 1]
        try:
            point = (float(line[0:10]), float(line[10:20]), float(line[20:30]))
        except ValueError:
            raise DataFileError(f"{path.name}:{number}: unreadable coordinates {line[0:30]!r}") from None
        element = line[31:34].strip().upper()
        if not element:
            raise DataFileError(f"{path.name}:{number}: atom without an element symbol")
        if element in ("H", "D"):
            continue
        elements.append(element)
        xyz.append(point)
    if not elements:
        raise DataFileError(f"{path}: no heavy atoms")
    end = next((i for i, line in enumerate(lines) if line.startswith("M  END")), None)
    molblock = "\n".join(lines[: end + 1]) if end is not None else "\n".join(lines)
    return tuple(elements), np.asarray(xyz, dtype=np.float64), molblock


def _type_codes(elements: tuple[str, ...]) -> np.ndarray:
    lookup = {e: i + 1 for i, e in enumerate(ATOM_TYPES)}
    return np.array([lookup.get(e, OTHER_TYPE) for e in elements], dtype=np.float64)


def atom_table(complex_: Complex, n_rows: int) -> np.ndarray:
    """float32 ``[n_rows, N_COLUMNS]``: the atom table of one complex (see module docstring).

    Neighbours of atom ``i`` in a graph are the other atoms of that graph closer than ``CUTOFF``,
    the ``NEIGHBOURS`` nearest first (ties by atom order).
    """
    xyz = np.concatenate([complex_.ligand_xyz, complex_.pocket_xyz])
    n_lig, n = len(complex_.ligand_elements), xyz.shape[0]
    if n > n_rows:
        raise ValueError(f"atom_table: complex {complex_.code} has {n} atoms, more than n_rows={n_rows}")
    types = _type_codes(complex_.ligand_elements + complex_.pocket_elements)
    fragment = np.where(np.arange(n) < n_lig, 1.0, 2.0)
    distance = np.sqrt(((xyz[:, None, :] - xyz[None, :, :]) ** 2).sum(-1))
    table = np.zeros((n_rows, N_COLUMNS), dtype=np.float64)
    table[:n, COL_FRAGMENT] = fragment
    table[:n, COL_TYPE] = types
    members = {"ligand": fragment == 1, "pocket": fragment == 2, "complex": np.ones(n, bool)}
    for graph in GRAPHS:
        inside = members[graph]
        allowed = inside[None, :] & inside[:, None] & ~np.eye(n, dtype=bool) & (distance < CUTOFF)
        masked = np.where(allowed, distance, np.inf)
        order = np.argsort(masked, axis=1, kind="stable")[:, :NEIGHBOURS]
        near = np.take_along_axis(masked, order, axis=1)
        valid = np.isfinite(near)
        type_cols, dist_cols = neighbour_columns(graph)
        k = order.shape[1]
        table[:n, type_cols.start:type_cols.start + k] = np.where(valid, types[order], 0.0)
        table[:n, dist_cols.start:dist_cols.start + k] = np.where(valid, near, 0.0)
    return table.astype(np.float32)


def _complex_files(folder: Path, code: str) -> tuple[Path, Path]:
    return folder / code / f"{code}_ligand.sdf", folder / code / f"{code}_pocket.pdb"


def _find_index(root: Path) -> Path:
    found = find_visible(root, "INDEX_core_data.2013")
    if not found:
        raise DataFileError(f"{root}: no INDEX_core_data.2013 (expected the extracted pdbbind_v2015 archive)")
    return found[0]


def load_pdbbind(root: str | Path, config: PDBBindConfig = PDBBindConfig(), *, seed: int = 0,
                 name: str = "pdbbind") -> SetData:
    """Ground sets of complexes from an extracted PDBBind v2015 archive (see module docstring).

    Args:
        root: folder holding (at any depth) ``INDEX_core_data.2013`` and the complex folders next to it.

    Raises:
        DataFileError: naming the file of a missing or malformed index, ligand or pocket file.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataFileError(f"{root}: folder not found")
    index_path = _find_index(root)
    entries = read_index(index_path)
    complexes, molblocks = [], []
    for code, _ in entries:
        ligand_path, pocket_path = _complex_files(index_path.parent, code)
        lig_elements, lig_xyz, molblock = read_ligand_sdf(ligand_path)
        pocket_elements, pocket_xyz = read_pocket_pdb(pocket_path)
        complexes.append(Complex(code, lig_elements, lig_xyz, pocket_elements, pocket_xyz))
        molblocks.append(molblock)
    if len(complexes) < config.v_size:
        raise DataFileError(f"{index_path}: {len(complexes)} complexes, fewer than |V| = {config.v_size}")
    n_rows = max(len(c.ligand_elements) + len(c.pocket_elements) for c in complexes)
    features = np.stack([atom_table(c, n_rows) for c in complexes])
    affinity = np.array([a for _, a in entries], dtype=np.float64)
    sizes = (config.n_train, config.n_valid, config.n_test)
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(len(_SPLITS))]
    splits = []
    for split, n_sets, rng in zip(_SPLITS, sizes, rngs):
        ground = np.empty((n_sets, config.v_size), dtype=np.int64)
        optimal = np.zeros((n_sets, config.v_size), dtype=bool)
        for row in range(n_sets):
            for _ in range(_MAX_REDRAWS):
                items = rng.choice(len(complexes), size=config.v_size, replace=False)
                if not config.diversity:
                    chosen = top_k(affinity[items], config.s_size, largest=True)
                    break
                shortlist = top_k(affinity[items], config.v_size // 3, largest=True)
                exemplars = diverse_exemplars([molblocks[i] for i in items[shortlist]], kind="molblock",
                                              seed=int(rng.integers(2**31)))
                if exemplars.size:
                    chosen = shortlist[exemplars]
                    break
            else:
                raise DataFileError(f"{name}/{split}: the diversity oracle found no exemplars in {_MAX_REDRAWS} draws")
            ground[row] = items
            optimal[row, chosen] = True
        splits.append(SetSplit(features=features, ground_sets=ground, mask=np.ones_like(optimal), optimal=optimal,
                               name=f"{name}/{split}", item_kind="complex"))
    oracle = "diversity exemplars of the top third" if config.diversity else f"top {config.s_size} -logKd/Ki"
    return SetData(*splits, name=name, description=(
        f"{name}: {len(complexes)} complexes of {index_path.name} (≤ {n_rows} heavy atoms), |V|={config.v_size}, "
        f"S* = {oracle}, sets {sizes[0]}/{sizes[1]}/{sizes[2]}"))

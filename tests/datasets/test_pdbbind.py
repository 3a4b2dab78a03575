"""PDBBind: INDEX file + <code>/<code>_ligand.sdf (V2000) + <code>_pocket.pdb in the v2015 layout."""

import numpy as np
import pytest

from setbench.datasets import DataFileError, PDBBindConfig, load_pdbbind
from setbench.datasets import pdbbind
from setbench.datasets.pdbbind import read_ligand_sdf, read_pocket_pdb

N_COMPLEXES = 14


def _sdf(code, atoms):
    lines = [code, "  setbench-test 3D", "", f"{len(atoms):3d}  0  0  0  0  0  0  0  0  0999 V2000"]
    for symbol, (x, y, z) in atoms:
        lines.append(f"{x:10.4f}{y:10.4f}{z:10.4f} {symbol:<3} 0  0  0  0  0  0  0  0  0  0  0  0")
    return "\n".join(lines + ["M  END", "$$$$"]) + "\n"


def _pdb(atoms):
    lines = []
    for i, (element, name, residue, (x, y, z)) in enumerate(atoms, start=1):
        record = "HETATM" if residue in ("HOH", "ZN") else "ATOM  "
        lines.append(f"{record}{i:5d} {name:<4} {residue:>3} A{i:4d}    {x:8.3f}{y:8.3f}{z:8.3f}  1.00 20.00"
                     f"          {element:>2}")
    return "\n".join(lines + ["END"]) + "\n"


def _write_pdbbind(root, affinities):
    """``v2015/INDEX_core_data.2013`` and one folder per complex, as in the DGL archive."""
    folder = root / "v2015"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    index = ["# ==== core set: PDB code, resolution, release year, -logKd/Ki, Kd/Ki, reference, ligand name ===="]
    for i, affinity in enumerate(affinities):
        code = f"{i + 1}ab{i % 10}"
        index.append(f"{code}  2.00  2008   {affinity:5.2f}  Kd=10nM       // {code}.pdf (LIG)")
        (folder / code).mkdir()
        ligand = [("C", rng.normal(0, 1.5, 3)) for _ in range(3 + i % 4)] + [("H", rng.normal(0, 1.5, 3))]
        ligand.append(("N" if i % 2 else "Cl", rng.normal(0, 1.5, 3)))
        (folder / code / f"{code}_ligand.sdf").write_text(_sdf(code, ligand))
        pocket = [("C", "CA", "ALA", rng.normal(0, 6, 3)), ("O", "O", "ALA", rng.normal(0, 6, 3)),
                  ("N", "N", "GLY", rng.normal(0, 6, 3)), ("H", "H", "GLY", rng.normal(0, 6, 3)),
                  ("O", "O", "HOH", rng.normal(0, 6, 3)), ("ZN", "ZN", "ZN", rng.normal(0, 6, 3)),
                  ("S", "SD", "MET", rng.normal(0, 30, 3))]
        (folder / code / f"{code}_pocket.pdb").write_text(_pdb(pocket[: 5 + i % 3]))
    (folder / "INDEX_core_data.2013").write_text("\n".join(index) + "\n")
    return folder


@pytest.fixture
def pdbbind_root(tmp_path):
    affinities = np.linspace(2.0, 11.0, N_COMPLEXES)[np.random.default_rng(1).permutation(N_COMPLEXES)]
    _write_pdbbind(tmp_path / "pdbbind", affinities)
    return tmp_path / "pdbbind", affinities


SMALL = PDBBindConfig(v_size=8, s_size=3, n_train=20, n_valid=5, n_test=5)


def test_files_are_parsed_without_hydrogens_and_waters(pdbbind_root):
    root, _ = pdbbind_root
    folder = root / "v2015" / "1ab0"
    elements, xyz, molblock = read_ligand_sdf(folder / "1ab0_ligand.sdf")
    assert elements == ("C", "C", "C", "CL") and xyz.shape == (4, 3) and molblock.endswith("M  END")
    pocket, _ = read_pocket_pdb(folder / "1ab0_pocket.pdb")
    assert pocket == ("C", "O", "N")  # H and the water's oxygen dropped


def test_atom_tables_hold_nearest_neighbours_within_the_cutoff(pdbbind_root):
    root, _ = pdbbind_root
    data = load_pdbbind(root, SMALL, seed=0)
    table = data.train.features
    assert data.train.item_kind == "complex" and table.shape[2] == pdbbind.N_COLUMNS
    fragment = table[..., pdbbind.COL_FRAGMENT]
    for item in range(table.shape[0]):
        n_lig = int((fragment[item] == 1).sum())
        real = fragment[item] > 0
        assert (fragment[item, :n_lig] == 1).all() and not real[real.sum():].any()  # ligand, pocket, padding
        for graph in pdbbind.GRAPHS:
            types, dists = (table[item][:, cols] for cols in pdbbind.neighbour_columns(graph))
            present = types > 0
            assert (dists[present] > 0).all() and (dists[present] < pdbbind.CUTOFF).all()
            assert (dists[~present] == 0).all() and not present[~real].any()
            gaps = np.where(present[:, 1:], np.diff(dists, axis=1), 0)
            assert (gaps >= -1e-5).all()  # nearest first
        lig_types, _ = pdbbind.neighbour_columns("ligand")
        assert not (table[item][n_lig:, lig_types] > 0).any()  # pocket atoms have no ligand-graph neighbours
    # element codes: Cl and Zn are ACNN types, the far-away S too
    assert {pdbbind.ATOM_TYPES.index("CL") + 1, pdbbind.ATOM_TYPES.index("ZN") + 1} <= set(np.unique(table[..., 1]))


def test_optimal_subsets_are_the_tightest_binders(pdbbind_root):
    root, affinities = pdbbind_root
    data = load_pdbbind(root, SMALL, seed=0)
    for split in data.splits().values():
        assert (split.subset_sizes == 3).all()
        for ground, optimal in zip(split.ground_sets, split.optimal):
            assert len(set(ground)) == 8
            assert affinities[ground[optimal]].min() > affinities[ground[~optimal]].max()


def test_determinism_by_seed(pdbbind_root):
    root, _ = pdbbind_root
    a, b, c = (load_pdbbind(root, SMALL, seed=s) for s in (1, 1, 2))
    np.testing.assert_array_equal(a.valid.ground_sets, b.valid.ground_sets)
    np.testing.assert_array_equal(a.train.features, b.train.features)
    assert not np.array_equal(a.valid.ground_sets, c.valid.ground_sets)


def test_diversity_oracle(pdbbind_root):
    pytest.importorskip("rdkit", reason="the diversity oracle needs RDKit")
    root, affinities = pdbbind_root
    data = load_pdbbind(root, PDBBindConfig(v_size=9, s_size=3, n_train=3, n_valid=2, n_test=2, diversity=True))
    for ground, optimal in zip(data.train.ground_sets, data.train.optimal):
        top_third = set(ground[np.argsort(-affinities[ground], kind="stable")[:3]])
        assert 1 <= optimal.sum() <= 3 and set(ground[optimal]) <= top_third


def test_malformed_and_missing_files_name_the_file(pdbbind_root):
    root, _ = pdbbind_root
    folder = root / "v2015"
    ligand = folder / "1ab0" / "1ab0_ligand.sdf"
    text = ligand.read_text()
    ligand.write_text("\n".join(text.splitlines()[:5]) + "\n")
    with pytest.raises(DataFileError, match=r"1ab0_ligand.sdf: truncated: 5 atoms announced, 1 lines follow"):
        load_pdbbind(root, SMALL)
    ligand.write_text(text)
    (folder / "2ab1" / "2ab1_pocket.pdb").unlink()
    with pytest.raises(DataFileError, match=r"2ab1_pocket.pdb: file not found"):
        load_pdbbind(root, SMALL)
    index = folder / "INDEX_core_data.2013"
    index.write_text(index.read_text() + "9zz9  2.00  2001   abc  Kd=1nM       // 9zz9.pdf (X)\n")
    with pytest.raises(DataFileError, match=f"INDEX_core_data.2013:{N_COMPLEXES + 2}: -logKd/Ki 'abc' is not a number"):
        load_pdbbind(root, SMALL)
    with pytest.raises(DataFileError, match="no INDEX_core_data.2013"):
        load_pdbbind(folder / "1ab0", SMALL)

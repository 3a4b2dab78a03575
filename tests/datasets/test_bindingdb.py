"""BindingDB: TDC's bindingdb_kd.tab format, harmonisation, encoding, both oracles, determinism."""

import numpy as np
import pytest

from setbench.datasets import BindingDBConfig, DataFileError, load_bindingdb, read_tdc_table
from setbench.datasets.bindingdb import DRUG_LENGTH, PROTEIN_ALPHABET, SMILES_ALPHABET, select_optimal

HEADER = "ID1\tX1\tID2\tX2\tY"
SMILES = ["CCO", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1", "C[C@H](N)C(=O)O", "OC(=O)CCl", "CCN(CC)CC", "Brc1ccccc1",
          "CS(=O)(=O)C", "N#CC#N", "C1CCNCC1"]
TARGETS = ["MKTAYIAKQR", "GSHMLEDPVX"]


def _write_table(path, rows, header=HEADER):
    path.write_text("\n".join([header] + ["\t".join(map(str, row)) for row in rows]) + "\n", encoding="utf-8")
    return path


def _rows():
    """20 distinct pairs with distinct Kd, plus a repeat of pair 0 (mean harmonisation) and an empty label."""
    rows, kd = [], 1.0
    for d, smiles in enumerate(SMILES):
        for t, target in enumerate(TARGETS):
            rows.append((f"D{d}", smiles, f"T{t}", target, kd))
            kd *= 1.7
    rows.append(("D0", SMILES[0], "T0", TARGETS[0], 3.0))  # repeat: pair 0's Kd becomes (1 + 3) / 2
    rows.append(("D1", SMILES[1], "T0", TARGETS[0], ""))  # no label: dropped, as TDC does
    return rows


@pytest.fixture
def table(tmp_path):
    return _write_table(tmp_path / "bindingdb_kd.tab", _rows())


def test_read_harmonises_repeats_by_mean_and_drops_missing_labels(table):
    pairs = read_tdc_table(table)
    assert len(pairs.kd) == 20 and pairs.repeats[0] == 2 and pairs.kd[0] == pytest.approx(2.0)
    assert pairs.drugs[0] == SMILES[0] and pairs.targets[1] == TARGETS[1]
    np.testing.assert_allclose(pairs.p_kd, 9 - np.log10(pairs.kd))


SMALL = BindingDBConfig(v_size=12, s_size=3, n_train=30, n_valid=10, n_test=10)


@pytest.mark.parametrize("oracle", ["published", "potency"])
def test_sets_and_oracles(table, oracle):
    data = load_bindingdb(table, BindingDBConfig(v_size=12, s_size=3, n_train=30, n_valid=10, n_test=10,
                                                 oracle=oracle), seed=1)
    kd = read_tdc_table(table).kd
    for split in data.splits().values():
        assert split.item_kind == "drug_target" and split.item_shape == (1100,)
        assert (split.subset_sizes == 3).all()
        for ground, optimal in zip(split.ground_sets, split.optimal):
            assert len(set(ground)) == 12
            chosen, rest = kd[ground[optimal]], kd[ground[~optimal]]
            if oracle == "published":  # the weakest binders, as the published code
                assert chosen.min() >= rest.max()
            else:  # the strongest binders
                assert chosen.max() <= rest.min()


def test_codes_are_one_based_characters_with_zero_padding(table):
    data = load_bindingdb(table, SMALL, seed=0)
    pairs = read_tdc_table(table)
    row = data.train.features[2]
    smiles, target = pairs.drugs[2], pairs.targets[2]
    assert [SMILES_ALPHABET[int(c) - 1] for c in row[: len(smiles)]] == list(smiles)
    assert (row[len(smiles):DRUG_LENGTH] == 0).all()
    protein = row[DRUG_LENGTH:]
    assert "".join(PROTEIN_ALPHABET[int(c) - 1] for c in protein[: len(target)]) == target
    assert (protein[len(target):] == 0).all()


def test_ties_are_broken_by_position():
    kd = np.array([5.0, 10.0, 10.0, 10.0, 1.0])
    np.testing.assert_array_equal(select_optimal(kd, 2, "published"), [1, 2])
    np.testing.assert_array_equal(select_optimal(kd, 2, "potency"), [4, 0])


def test_determinism_by_seed(table):
    a, b, c = (load_bindingdb(table, SMALL, seed=s) for s in (5, 5, 6))
    np.testing.assert_array_equal(a.test.ground_sets, b.test.ground_sets)
    np.testing.assert_array_equal(a.test.optimal, b.test.optimal)
    assert not np.array_equal(a.test.ground_sets, c.test.ground_sets)


def test_diversity_oracle_picks_exemplars_among_the_top_third(table):
    pytest.importorskip("rdkit", reason="the diversity oracle needs RDKit")
    config = BindingDBConfig(v_size=18, s_size=3, n_train=4, n_valid=2, n_test=2, diversity=True)
    data = load_bindingdb(table, config, seed=0)
    kd = read_tdc_table(table).kd
    for ground, optimal in zip(data.train.ground_sets, data.train.optimal):
        top_third = set(ground[select_optimal(kd[ground], 6, "published")])
        assert 1 <= optimal.sum() <= 6 and set(ground[optimal]) <= top_third
    again = load_bindingdb(table, config, seed=0)
    np.testing.assert_array_equal(again.train.optimal, data.train.optimal)


@pytest.mark.parametrize("content, message", [
    ("", "empty file"),
    ("ID1\tX1\tID2\tX2\n", r"bindingdb_kd.tab:1: header lacks column\(s\) Y"),
    (HEADER + "\nD0\tCCO\tT0\tMKT\n", r"bindingdb_kd.tab:2: 4 tab-separated fields, expected 5 \(the file may be truncated\)"),
    (HEADER + "\nD0\tCCO\tT0\tMKT\t>10000\n", "bindingdb_kd.tab:2: Y '>10000' is not a number"),
    (HEADER + "\nD0\tCCO\tT0\tMKT\t-3\n", "bindingdb_kd.tab:2: Y = -3 is not a non-negative finite Kd"),
])
def test_malformed_tables_name_file_and_line(tmp_path, content, message):
    path = tmp_path / "bindingdb_kd.tab"
    path.write_text(content)
    with pytest.raises(DataFileError, match=message):
        load_bindingdb(path, SMALL)


def test_unknown_characters_and_too_few_pairs(tmp_path):
    path = _write_table(tmp_path / "bindingdb_kd.tab", [("D0", "CC~O", "T0", "MKT", 1.0)] * 1)
    with pytest.raises(DataFileError, match="fewer than"):
        load_bindingdb(path, SMALL)
    rows = _rows()
    rows[3] = ("D", "CC~O", "T", "MKT", 4.0)
    with pytest.raises(DataFileError, match="character '~' outside its alphabet"):
        load_bindingdb(_write_table(tmp_path / "b.tab", rows), SMALL)
    with pytest.raises(DataFileError, match="file not found"):
        load_bindingdb(tmp_path / "absent.tab", SMALL)

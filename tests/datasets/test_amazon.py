import pickle

import numpy as np
import pytest

from setbench.datasets import (
    AmazonConfig,
    DataFileError,
    cooccurrence_features,
    load_amazon_archive,
    load_amazon_registry_file,
    read_registry_file,
)


def _registries(n: int, n_items: int = 60, seed: int = 0) -> list[list[int]]:
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 34, size=n)  # includes sizes outside 2 < |S| < 30, which are dropped
    return [sorted(rng.choice(np.arange(1, n_items + 1), size=min(s, n_items), replace=False).tolist()) for s in sizes]


def _write_registry_file(path, registries):
    path.write_text("".join(" ".join(map(str, r)) + "\n" for r in registries))
    return path


def _kept(registries, v_size=30):
    return [r for r in registries if 2 < len(r) < v_size]


def test_registry_file_ground_sets_follow_ou_et_al(tmp_path):
    registries = _registries(120)
    data = load_amazon_registry_file(_write_registry_file(tmp_path / "toy_regs.csv", registries), seed=0)
    kept = _kept(registries)
    n_train, n_valid = int(0.33 * len(kept)), int(0.66 * len(kept)) - int(0.33 * len(kept))
    assert (data.train.n_sets, data.valid.n_sets, data.test.n_sets) == (n_train, n_valid, len(kept) - n_train - n_valid)
    ordered = kept[:n_train] + kept[n_train:n_train + n_valid] + kept[n_train + n_valid:]
    for split, registries_of_split in zip((data.train, data.valid, data.test),
                                          (ordered[:n_train], ordered[n_train:n_train + n_valid], ordered[n_train + n_valid:])):
        assert split.v_size == 30 and split.mask.all()
        for row, registry in enumerate(registries_of_split):  # file order is kept
            ground = split.ground_sets[row]
            assert len(set(ground.tolist())) == 30                       # distinct items
            assert sorted((ground[split.optimal[row]] + 1).tolist()) == registry  # S* is the registry
        assert split.features.shape == (60, AmazonConfig().feature_dim)


def test_filler_items_are_the_least_similar_to_the_registry_mean(tmp_path):
    data = load_amazon_registry_file(_write_registry_file(tmp_path / "r.csv", _registries(150)), seed=0)
    split = data.valid
    features = split.features
    unit = features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-30)
    for row in range(min(10, split.n_sets)):
        members = split.ground_sets[row][split.optimal[row]]
        fill = split.ground_sets[row][~split.optimal[row]]
        mean = features[members].mean(0)
        similarity = unit @ (mean / np.linalg.norm(mean))
        outside = np.setdiff1d(np.arange(features.shape[0]), members)
        others = np.setdiff1d(outside, fill)
        assert similarity[fill].max() <= similarity[others].min() + 1e-6


def test_positions_are_shuffled_and_deterministic_by_seed(tmp_path):
    path = _write_registry_file(tmp_path / "r.csv", _registries(150))
    a, b, c = (load_amazon_registry_file(path, seed=s) for s in (0, 0, 1))
    np.testing.assert_array_equal(a.test.ground_sets, b.test.ground_sets)
    assert not np.array_equal(a.test.optimal, c.test.optimal)
    first_positions = np.argmax(a.train.optimal, axis=1)
    assert len(np.unique(first_positions)) > 3  # members are not always at the front


def test_features_use_training_registries_only(tmp_path):
    """Rewriting every validation and test registry leaves the item features unchanged."""
    registries = [r for r in _registries(200) if 2 < len(r) < 30]
    n_train = int(0.33 * len(registries))
    rng = np.random.default_rng(1)
    altered = registries[:n_train] + [
        sorted(rng.choice(np.arange(1, 61), size=5, replace=False).tolist()) for _ in registries[n_train:]
    ]
    a = load_amazon_registry_file(_write_registry_file(tmp_path / "a.csv", registries), seed=0)
    b = load_amazon_registry_file(_write_registry_file(tmp_path / "b.csv", altered), seed=0)
    np.testing.assert_array_equal(a.train.features, b.train.features)
    np.testing.assert_array_equal(a.train.ground_sets, b.train.ground_sets)
    assert not np.array_equal(a.test.ground_sets, b.test.ground_sets)


def test_cooccurrence_features_are_deterministic_and_zero_for_unseen_items():
    registries = [np.array([0, 1, 2]), np.array([1, 2, 3]), np.array([0, 3])]
    f1 = cooccurrence_features(registries, n_items=6, dim=4)
    f2 = cooccurrence_features(registries[::-1], n_items=6, dim=4)
    np.testing.assert_allclose(f1, f2, atol=1e-6)
    assert np.all(f1[4:] == 0)
    assert f1.shape == (6, 4) and f1.dtype == np.float32


@pytest.mark.parametrize("content, message", [
    ("1 2 3\n4 x 6\n", r"r\.csv:2: item id 'x' is not an integer"),
    ("1 2 3\n4 5 6.5\n", r"r\.csv:2: item id '6.5' is not an integer"),
    ("1 2 3\n0 5 6\n", r"r\.csv:2: item id 0 outside 1\.\.n \(ids are 1-based\)"),
    ("1 2 3\n\n4 5 6\n", r"r\.csv:2: empty registry line"),
    ("1 2 2\n", r"r\.csv:1: item id 2 appears twice"),
    ("", r"r\.csv: no registries"),
])
def test_malformed_registry_files_name_file_and_line(tmp_path, content, message):
    path = tmp_path / "r.csv"
    path.write_text(content)
    with pytest.raises(DataFileError, match=message):
        read_registry_file(path)


def test_missing_registry_file(tmp_path):
    with pytest.raises(DataFileError, match="nope.csv: file not found"):
        load_amazon_registry_file(tmp_path / "nope.csv")


def _write_archive(root, category="apparel", n_items=50, dim=768, registries=None, vectors=None, protocol=None):
    folder = root / "amazon_baby_registry"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    vectors = vectors if vectors is not None else {i: rng.standard_normal(dim).astype(np.float32) for i in range(1, n_items + 1)}
    with open(folder / f"{category}.pickle", "wb") as handle:
        pickle.dump(vectors, handle, protocol=protocol)
    registries = registries if registries is not None else _registries(90, n_items=n_items)
    (folder / f"{category}.csv").write_text("".join(",".join(map(str, r)) + "\n" for r in registries))
    return registries


def test_archive_format(tmp_path):
    registries = _write_archive(tmp_path)
    data = load_amazon_archive(tmp_path, "apparel", seed=0)
    assert data.name == "amazon_apparel"
    assert data.train.features.shape == (50, 768)
    kept = _kept(registries)
    assert data.train.n_sets + data.valid.n_sets + data.test.n_sets == len(kept)
    assert sorted((data.train.ground_sets[0][data.train.optimal[0]] + 1).tolist()) == kept[0]


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_archive_pickles_of_every_protocol_load(tmp_path, protocol):
    """The archive's pickles may come from Python 2 (protocols 0-2) or a recent NumPy (5)."""
    rng = np.random.default_rng(0)
    vectors = {i: rng.standard_normal(768).astype(np.float32) for i in range(1, 51)}
    _write_archive(tmp_path, vectors=vectors, protocol=protocol)
    data = load_amazon_archive(tmp_path, "apparel", seed=0)
    np.testing.assert_array_equal(data.train.features, np.stack([vectors[i] for i in range(1, 51)]))


def test_a_stale_extraction_folder_is_never_read(tmp_path):
    """A killed extraction leaves `.extract-*/` with partial files; the loader must not pick them."""
    _write_archive(tmp_path)
    stale = tmp_path / ".extract-amazon_baby_registry.zip.x1"
    stale.mkdir()
    (stale / "apparel.pickle").write_bytes(b"\x80\x04trunc")
    (stale / "apparel.csv").write_text("1,2,3\n")
    assert load_amazon_archive(tmp_path, "apparel", seed=0).train.features.shape == (50, 768)


def test_archive_wrong_vector_dimension(tmp_path):
    rng = np.random.default_rng(0)
    vectors = {i: rng.standard_normal(768) for i in range(1, 51)}
    vectors[7] = rng.standard_normal(767)
    _write_archive(tmp_path, vectors=vectors)
    with pytest.raises(DataFileError, match="apparel.pickle: item 7 has a vector of dimension 767, expected 768"):
        load_amazon_archive(tmp_path, "apparel")


def test_archive_out_of_range_id(tmp_path):
    _write_archive(tmp_path, registries=[[1, 2, 3], [4, 5, 51]])
    with pytest.raises(DataFileError, match=r"apparel.csv:2: item id 51 outside 1\.\.50"):
        load_amazon_archive(tmp_path, "apparel")


def test_archive_refuses_code_in_pickles(tmp_path):
    folder = tmp_path / "a"
    folder.mkdir()
    with open(folder / "apparel.pickle", "wb") as handle:
        pickle.dump({1: np.zeros(768), 2: SystemExit}, handle)
    (folder / "apparel.csv").write_text("1,2\n")
    with pytest.raises(DataFileError, match="refusing to load"):
        load_amazon_archive(tmp_path, "apparel")


def test_unknown_category(tmp_path):
    with pytest.raises(ValueError, match="unknown Amazon category 'toy'; choose one of apparel"):
        load_amazon_archive(tmp_path, "toy")


def test_real_apparel_registry_file(shared_amazon_file):
    data = load_amazon_registry_file(shared_amazon_file, seed=0, name="amazon_apparel")
    total = data.train.n_sets + data.valid.n_sets + data.test.n_sets
    assert total == 4675  # registries with 2 < |S| < 30, per the file's README
    assert (data.train.n_sets, data.valid.n_sets) == (int(0.33 * 4675), int(0.66 * 4675) - int(0.33 * 4675))
    assert data.train.features.shape == (100, 32)
    for split in (data.train, data.valid, data.test):
        sizes = split.subset_sizes
        assert sizes.min() >= 3 and sizes.max() <= 29

"""Cross-validation folds: every set of train ∪ valid is held out exactly once, the test split never."""

import numpy as np
import pytest

from setbench.datasets import (
    SetData,
    SetSplit,
    SyntheticConfig,
    concatenate,
    cross_validation_fold,
    fold_rows,
    gaussian,
)


def _fingerprints(split: SetSplit) -> list[bytes]:
    """One byte string per set: its item features (padding zeroed), S* and mask — what a learner sees."""
    x = split.set_features() * split.mask[..., None]
    return [x[i].tobytes() + split.optimal[i].tobytes() + split.mask[i].tobytes() for i in range(split.n_sets)]


@pytest.fixture(scope="module")
def data():
    return gaussian(SyntheticConfig(v_size=6, s_size=2, n_train=23, n_valid=11, n_test=9), seed=3)


def test_concatenate_separate_tables_offsets_indices(data):
    pool = concatenate([data.train, data.valid], name="pool")
    assert pool.n_sets == 34 and pool.features.shape[0] == data.train.features.shape[0] + data.valid.features.shape[0]
    assert _fingerprints(pool) == _fingerprints(data.train) + _fingerprints(data.valid)


def test_concatenate_keeps_a_shared_table_and_pads_narrow_splits():
    features = np.arange(20, dtype=np.float32).reshape(10, 2)
    wide = SetSplit(features=features, ground_sets=np.array([[0, 1, 2], [3, 4, 5]]),
                    mask=np.ones((2, 3), bool), optimal=np.array([[1, 0, 0], [0, 1, 0]], bool), name="wide")
    narrow = SetSplit(features=features, ground_sets=np.array([[7, 8]]), mask=np.ones((1, 2), bool),
                      optimal=np.array([[0, 1]], bool), name="narrow")
    pool = concatenate([wide, narrow], name="pool")
    assert pool.features is features
    np.testing.assert_array_equal(pool.ground_sets, [[0, 1, 2], [3, 4, 5], [7, 8, 0]])
    np.testing.assert_array_equal(pool.mask[2], [True, True, False])
    np.testing.assert_array_equal(pool.optimal[2], [False, True, False])


def test_concatenate_rejects_mismatched_items(data):
    other = SetSplit(features=np.zeros((3, 5), np.float32), ground_sets=np.array([[0, 1, 2]]),
                     mask=np.ones((1, 3), bool), optimal=np.array([[1, 0, 0]], bool), name="odd")
    with pytest.raises(ValueError, match="items of 'odd' are vector of shape"):
        concatenate([data.train, other], name="pool")


@pytest.mark.parametrize("n_sets, n_folds", [(34, 5), (10, 10), (7, 2), (100, 3)])
def test_fold_rows_partition_every_row_once(n_sets, n_folds):
    blocks = fold_rows(n_sets, n_folds, seed=0)
    assert len(blocks) == n_folds
    np.testing.assert_array_equal(np.sort(np.concatenate(blocks)), np.arange(n_sets))
    sizes = [len(b) for b in blocks]
    assert max(sizes) - min(sizes) <= 1 and min(sizes) >= 1
    assert all(b.dtype == np.int64 for b in blocks)


def test_fold_rows_are_seeded():
    first, again, other = fold_rows(50, 5, seed=1), fold_rows(50, 5, seed=1), fold_rows(50, 5, seed=2)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other))


@pytest.mark.parametrize("n_folds, message", [(1, "n_folds >= 2"), (0, "n_folds >= 2"), (35, "at least 35 sets")])
def test_fold_rows_rejects_bad_counts(n_folds, message):
    with pytest.raises(ValueError, match=message):
        fold_rows(34, n_folds, seed=0)


@pytest.mark.parametrize("n_folds", [2, 5])
def test_every_fold_is_its_own_block_and_the_test_split_is_never_used(data, n_folds):
    pool = _fingerprints(data.train) + _fingerprints(data.valid)
    test = set(_fingerprints(data.test))
    blocks = fold_rows(len(pool), n_folds, seed=7)
    held_out = []
    for fold in range(n_folds):
        train, valid = cross_validation_fold(data, n_folds, fold, seed=7)
        train_sets, valid_sets = _fingerprints(train), _fingerprints(valid)
        # Known answer: fold k validates on exactly block k of the pool, trains on the rest.
        assert valid_sets == [pool[i] for i in blocks[fold]]
        assert sorted(train_sets + valid_sets) == sorted(pool)
        assert not set(train_sets) & set(valid_sets)
        assert not (set(train_sets) | set(valid_sets)) & test
        held_out += valid_sets
    # Every set is held out exactly once, the last fold included (no fall-back to the original split).
    assert sorted(held_out) == sorted(pool)
    last_valid = _fingerprints(cross_validation_fold(data, n_folds, n_folds - 1, seed=7)[1])
    assert last_valid != _fingerprints(data.valid)


def test_fold_index_out_of_range(data):
    with pytest.raises(ValueError, match=r"fold must be in 0..4, got 5"):
        cross_validation_fold(data, 5, 5, seed=0)


def test_amazon_like_shared_table_stays_shared():
    features = np.random.default_rng(0).random((40, 3)).astype(np.float32)
    rng = np.random.default_rng(1)

    def split(n, name):
        ground = np.stack([rng.choice(40, 5, replace=False) for _ in range(n)]).astype(np.int64)
        optimal = np.zeros((n, 5), bool)
        optimal[:, :2] = True
        return SetSplit(features=features, ground_sets=ground, mask=np.ones((n, 5), bool), optimal=optimal, name=name)

    data = SetData(split(8, "train"), split(4, "valid"), split(4, "test"), name="shared")
    train, valid = cross_validation_fold(data, 3, 2, seed=0)
    assert train.features is features and valid.features is features
    assert train.n_sets + valid.n_sets == 12

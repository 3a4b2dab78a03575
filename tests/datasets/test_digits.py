"""Digits set anomaly detection: construction invariants, disjoint pools and determinism by seed."""

import numpy as np
import pytest

from setbench.datasets import DigitsConfig, digits

SMALL = DigitsConfig(v_size=6, n_train=40, n_valid=20, n_test=20)


@pytest.fixture(scope="module")
def data():
    return digits(SMALL, seed=3)


def test_sets_are_one_digit_with_two_or_three_other_digits(data):
    from sklearn.datasets import load_digits

    labels = load_digits().target
    for split in data.splits().values():
        assert split.item_kind == "image" and split.item_shape == (1, 32, 32)
        assert split.ground_sets.shape == (split.n_sets, 6) and split.mask.all()
        assert set(np.unique(split.subset_sizes)) <= {2, 3}
        for ground, optimal in zip(split.ground_sets, split.optimal):
            assert len(set(ground)) == 6  # distinct images
            normal = labels[ground[~optimal]]
            assert len(set(normal)) == 1 and not np.isin(labels[ground[optimal]], normal).any()


def test_pixels_are_scaled_to_minus_one_one_and_upscaled_by_replication(data):
    from sklearn.datasets import load_digits

    images = load_digits().images
    features = data.train.features
    assert features.dtype == np.float32 and features.min() >= -1 and features.max() <= 1
    np.testing.assert_array_equal(features[7, 0, ::4, ::4], images[7] / 8 - 1)
    np.testing.assert_array_equal(features[7, 0, 3::4, 3::4], images[7] / 8 - 1)


def test_splits_use_disjoint_images(data):
    pools = [set(split.ground_sets.ravel()) for split in data.splits().values()]
    assert not (pools[0] & pools[1]) and not (pools[0] & pools[2]) and not (pools[1] & pools[2])


def test_same_seed_same_sets_other_seed_other_sets(data):
    again = digits(SMALL, seed=3)
    for a, b in zip(data.splits().values(), again.splits().values()):
        np.testing.assert_array_equal(a.ground_sets, b.ground_sets)
        np.testing.assert_array_equal(a.optimal, b.optimal)
    assert not np.array_equal(digits(SMALL, seed=4).train.ground_sets, data.train.ground_sets)


def test_bad_sizes_name_the_field():
    with pytest.raises(ValueError, match="DigitsConfig needs s_min <= s_max < v_size"):
        DigitsConfig(v_size=3, s_max=3)
    with pytest.raises(ValueError, match="exceeds the .* images of the rarest digit"):
        digits(DigitsConfig(v_size=60, n_train=1, n_valid=1, n_test=1))

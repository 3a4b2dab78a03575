import numpy as np
import pytest

from setbench.datasets import SetSplit, SyntheticConfig, gaussian, moons

SMALL = SyntheticConfig(v_size=20, s_size=4, n_train=50, n_valid=30, n_test=40)


@pytest.mark.parametrize("build", [gaussian, moons])
def test_sizes_and_subset_sizes(build):
    data = build(SMALL, seed=3)
    for split, n in zip((data.train, data.valid, data.test), (50, 30, 40)):
        assert isinstance(split, SetSplit)
        assert split.ground_sets.shape == (n, 20)
        assert split.features.shape == (n * 20, 2) and split.features.dtype == np.float32
        assert split.mask.all()
        assert (split.subset_sizes == 4).all()


def test_paper_defaults():
    config = SyntheticConfig()
    assert (config.v_size, config.s_size, config.n_train, config.n_valid, config.n_test) == (100, 10, 1000, 1000, 1000)


@pytest.mark.parametrize("build", [gaussian, moons])
def test_same_seed_same_sets_other_seed_other_sets(build):
    a, b, c = build(SMALL, seed=1), build(SMALL, seed=1), build(SMALL, seed=2)
    for name in ("train", "valid", "test"):
        sa, sb, sc = getattr(a, name), getattr(b, name), getattr(c, name)
        np.testing.assert_array_equal(sa.features, sb.features)
        np.testing.assert_array_equal(sa.optimal, sb.optimal)
        assert not np.array_equal(sa.features, sc.features)


def test_each_split_has_its_own_generator():
    """Changing the number of training sets must not change the test sets."""
    base = gaussian(SMALL, seed=0)
    more = gaussian(SyntheticConfig(v_size=20, s_size=4, n_train=80, n_valid=30, n_test=40), seed=0)
    np.testing.assert_array_equal(base.test.features, more.test.features)
    np.testing.assert_array_equal(base.valid.optimal, more.valid.optimal)


def test_gaussian_anomalies_come_from_the_other_component():
    split = gaussian(SyntheticConfig(v_size=100, s_size=10, n_train=200, n_valid=1, n_test=1), seed=0).train
    points = split.set_features()                       # [n, |V|, 2]
    projection = points.sum(axis=-1) / np.sqrt(2.0)     # signed distance along the centre direction
    normal_side = np.sign(np.nanmedian(np.where(split.optimal, np.nan, projection), axis=1))
    anomaly_side = np.sign(np.nanmean(np.where(split.optimal, projection, np.nan), axis=1))
    assert np.mean(normal_side != anomaly_side) > 0.95
    assert set(np.unique(normal_side)) == {-1.0, 1.0}   # both components serve as normal


def test_moons_points_lie_near_their_moon():
    split = moons(SyntheticConfig(v_size=50, s_size=5, n_train=100, n_valid=1, n_test=1), seed=0).train
    points = split.set_features().reshape(-1, 2)
    upper = np.abs(np.hypot(points[:, 0], points[:, 1]) - 1.0)
    lower = np.abs(np.hypot(points[:, 0] - 1.0, points[:, 1] - 0.5) - 1.0)
    assert np.mean(np.minimum(upper, lower) < 0.35) > 0.97


@pytest.mark.parametrize("field, value", [("v_size", 0), ("s_size", -1), ("n_train", 0), ("n_test", 2.5)])
def test_non_positive_sizes_are_rejected_with_the_field_name(field, value):
    with pytest.raises(ValueError, match=f"SyntheticConfig.{field} must be a positive integer"):
        SyntheticConfig(**{field: value})


def test_subset_must_be_smaller_than_ground_set():
    with pytest.raises(ValueError, match="s_size must be smaller than v_size"):
        SyntheticConfig(v_size=5, s_size=5)

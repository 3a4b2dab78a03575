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


# -- the generator's likelihood-ratio rule (benchmarks/ceiling.py) ----------------------------------

def _top_k(scores, split):
    from setbench.protocol import top_k_subsets

    return top_k_subsets(scores, split.subset_sizes, split.mask)


@pytest.mark.parametrize("build", [gaussian, moons])
def test_likelihood_ratio_rule_finds_most_anomalies_and_beats_a_wrong_rule(build):
    from setbench.datasets import likelihood_ratio_scores
    from setbench.protocol import mean_jaccard

    test = build(SyntheticConfig(n_train=1, n_valid=1, n_test=300), seed=5).test
    x = test.set_features(np.arange(test.n_sets))
    scores = likelihood_ratio_scores(build.__name__, x)
    assert scores.shape == test.optimal.shape
    rule = mean_jaccard(_top_k(scores, test), test.optimal)
    # The Bayes figure of σ = 0.5 Gaussians 2 apart is ≈ 90.3 (200k simulated sets); the moons barely overlap.
    assert (87.0 < rule < 93.5) if build is gaussian else rule > 99.0
    # Inverting the normal component (or ignoring the set) must do far worse.
    assert mean_jaccard(_top_k(-scores, test), test.optimal) < 5.0
    wrong_kind = likelihood_ratio_scores("moons" if build is gaussian else "gaussian", x)
    assert mean_jaccard(_top_k(wrong_kind, test), test.optimal) < rule - 2.0


def test_likelihood_ratio_rule_is_permutation_equivariant_within_a_set():
    from setbench.datasets import likelihood_ratio_scores

    x = moons(SyntheticConfig(n_train=1, n_valid=1, n_test=5), seed=2).test.set_features(np.arange(5))
    perm = np.random.default_rng(0).permutation(x.shape[1])
    np.testing.assert_allclose(likelihood_ratio_scores("moons", x[:, perm]), likelihood_ratio_scores("moons", x)[:, perm])


def test_gaussian_log_density_is_the_exact_log_likelihood_ratio():
    from setbench.datasets import component_log_density

    x = np.array([[0.3, -1.2], [2.0, 0.5]])
    mu = np.array([1.0, 1.0]) / np.sqrt(2.0)
    expected = (np.sum((x - mu) ** 2, -1) - np.sum((x + mu) ** 2, -1)) / (2 * 0.25)  # log N(x;−μ) − log N(x;μ)
    log_density = component_log_density("gaussian", x)
    np.testing.assert_allclose(log_density[:, 1] - log_density[:, 0], expected, rtol=1e-12)


def test_moons_density_integral_is_converged_for_the_ranking():
    from setbench.datasets import component_log_density

    test = moons(SyntheticConfig(n_train=1, n_valid=1, n_test=40), seed=4).test
    x = test.set_features(np.arange(test.n_sets))
    coarse, fine = component_log_density("moons", x), component_log_density("moons", x, angles=4096)
    np.testing.assert_array_equal(_top_k(coarse[..., 1] - coarse[..., 0], test), _top_k(fine[..., 1] - fine[..., 0], test))
    # The density integrates to one over the plane (a grid sum of exp(log density), constant restored).
    grid = np.stack(np.meshgrid(np.linspace(-1.6, 2.6, 421), np.linspace(-1.1, 1.6, 271)), -1)
    density = np.exp(component_log_density("moons", grid)) / (2 * np.pi * 0.1**2)
    cell = (4.2 / 420) * (2.7 / 270)
    np.testing.assert_allclose(density.sum(axis=(0, 1)) * cell, 1.0, atol=2e-3)


def test_unknown_kind_is_a_clear_error():
    from setbench.datasets import component_log_density

    with pytest.raises(ValueError, match="kind must be 'gaussian' or 'moons'"):
        component_log_density("digits", np.zeros((1, 2)))

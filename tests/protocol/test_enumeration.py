import numpy as np
import pytest

from setbench.protocol import EXACT_MAX_V_SIZE, MeanFieldConfig, subset_matrix


def test_rows_are_the_binary_expansions_of_their_index():
    subsets = subset_matrix(3)
    np.testing.assert_array_equal(subsets, [[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0],
                                            [0, 0, 1], [1, 0, 1], [0, 1, 1], [1, 1, 1]])
    assert subsets.dtype == np.float64 and not subsets.flags.writeable


def test_every_subset_appears_once():
    subsets = subset_matrix(10)
    assert subsets.shape == (1024, 10)
    assert len({row.tobytes() for row in subsets}) == 1024
    np.testing.assert_array_equal(np.bincount(subsets.sum(1).astype(int)), [1, 10, 45, 120, 210, 252, 210, 120, 45, 10, 1])


@pytest.mark.parametrize("v_size", [0, EXACT_MAX_V_SIZE + 1, 3.0])
def test_sizes_outside_the_exact_range_are_refused(v_size):
    with pytest.raises(ValueError, match=f"1..{EXACT_MAX_V_SIZE}"):
        subset_matrix(v_size)


@pytest.mark.parametrize("kwargs, message", [
    ({"estimator": "gumbel"}, "estimator must be one of hard, score, relaxed, exact, got 'gumbel'"),
    ({"estimator": "score", "samples": 1}, "samples must be >= 2 for estimator='score'"),
    ({"temperature": 0.0}, "temperature must be a finite number > 0"),
    ({"temperature": float("inf")}, "temperature must be a finite number > 0"),
])
def test_mean_field_config_validation_names_the_field(kwargs, message):
    with pytest.raises(ValueError, match=f"MeanFieldConfig.{message}"):
        MeanFieldConfig(**kwargs)


def test_exact_estimator_refuses_large_ground_sets_with_the_fix():
    MeanFieldConfig(estimator="exact").check_ground_set(EXACT_MAX_V_SIZE, "iDiffMF_2")
    MeanFieldConfig(estimator="hard").check_ground_set(100, "iDiffMF_2")
    with pytest.raises(ValueError, match=r"iDiffMF_2: .*estimator='exact'.*\|V\| = 100.*Monte Carlo estimator"):
        MeanFieldConfig(estimator="exact").check_ground_set(100, "iDiffMF_2")

import numpy as np
import pytest

from setbench.protocol import jaccard, mean_jaccard, top_k_subsets


def test_edge_cases():
    predicted = np.array([[1, 0, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]], bool)
    optimal = np.array([[1, 0, 0, 0], [0, 1, 1, 0], [0, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]], bool)
    np.testing.assert_allclose(jaccard(predicted, optimal), [1.0, 1 / 3, 1.0, 0.0, 0.0])
    assert mean_jaccard(predicted, optimal) == pytest.approx(100 * (1 + 1 / 3 + 1) / 5)


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match=r"must both be \[n_sets, \|V\|\]"):
        jaccard(np.zeros((2, 3), bool), np.zeros((2, 4), bool))


def test_top_k_respects_mask_sizes_and_breaks_ties_by_position():
    scores = np.array([[0.9, 0.5, 0.5, 0.1], [0.2, 0.8, 0.9, 0.7]])
    mask = np.array([[True, True, True, True], [True, True, False, True]])
    chosen = top_k_subsets(scores, np.array([2, 2]), mask)
    np.testing.assert_array_equal(chosen, [[True, True, False, False], [False, True, False, True]])


def test_top_k_zero():
    assert not top_k_subsets(np.ones((1, 3)), np.array([0]), np.ones((1, 3), bool)).any()

"""Every registered algorithm honours the same contract on a tiny simulated dataset.

Parameterised over the registry, as benchopt tests every solver: predictions are bool
``[n_sets, |V|]``, inside the mask, of size ``|S*|``; the same seed gives the same prediction; and
a short run beats random selection by a wide margin.
"""

import numpy as np
import pytest

from setbench.benchmarks import ALGORITHMS, make_algorithm
from setbench.protocol import TrainConfig, mean_jaccard, top_k_subsets

TINY = {"model": {"embed_dim": 16, "hidden_dim": 32}, "mean_field": {"samples": 3}}
TRAIN = TrainConfig(max_epochs=4, batch_size=32, eval_batch_size=64, learning_rate=3e-3, patience=4)


def _random_selection_jc(split, seed=0):
    scores = np.random.default_rng(seed).random(split.optimal.shape)
    return mean_jaccard(top_k_subsets(scores, split.subset_sizes, split.mask), split.optimal)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(ALGORITHMS))
def test_algorithm_contract(name, tiny_gaussian):
    data = tiny_gaussian
    first = make_algorithm(name, TRAIN, TINY).fit(data.train, data.valid, seed=0, progress=False)
    assert first.name == name
    predicted = first.predict(data.test)
    assert predicted.dtype == bool and predicted.shape == data.test.optimal.shape
    assert not (predicted & ~data.test.mask).any()
    np.testing.assert_array_equal(predicted.sum(1), data.test.subset_sizes)
    np.testing.assert_array_equal(predicted, first.predict(data.test))  # re-scoring is deterministic

    diagnostics = first.diagnostics()
    assert diagnostics["status"] == "ok" and 1 <= diagnostics["epochs"] <= TRAIN.max_epochs
    assert np.isfinite(diagnostics["fp_iterations_mean"])

    second = make_algorithm(name, TRAIN, TINY).fit(data.train, data.valid, seed=0, progress=False)
    np.testing.assert_array_equal(predicted, second.predict(data.test))  # same seed, same sets

    learned, random = mean_jaccard(predicted, data.test.optimal), _random_selection_jc(data.test)
    assert learned > random + 20, f"{name}: test JC {learned:.1f} vs random selection {random:.1f}"


@pytest.mark.parametrize("name", list(ALGORITHMS))
def test_predict_before_fit_is_a_clear_error(name, tiny_gaussian):
    from setbench.protocol import NotFittedError

    with pytest.raises(NotFittedError, match="not fitted yet"):
        make_algorithm(name, TRAIN, TINY).predict(tiny_gaussian.test)

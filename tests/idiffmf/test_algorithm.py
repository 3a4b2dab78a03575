"""iDiffMF end to end: estimators, per-set normalisation and the per-run diagnostics."""

import numpy as np
import pytest

from setbench.datasets import SyntheticConfig, gaussian
from setbench.idiffmf import FixedPointConfig, IDiffMF, IDiffMFConfig
from setbench.protocol import MeanFieldConfig, SetFunctionConfig, TrainConfig


@pytest.mark.parametrize("kwargs, message", [
    ({"normalization_scope": "row"}, "normalization_scope must be one of"),
    ({"normalization": "c", "normalization_scope": "set"}, "normalization_scope='set' applies to 'fro' and 'nuclear'"),
    ({"contraction_iterations": 0}, "contraction_iterations must be a positive integer"),
])
def test_config_validation(kwargs, message):
    with pytest.raises(ValueError, match=f"IDiffMFConfig.{message}"):
        IDiffMFConfig(**kwargs)


@pytest.mark.slow
def test_per_set_normalisation_predictions_do_not_depend_on_batch_composition_or_order():
    """Exact mode (no sampling noise) with per-set norms: a set's ψ is the same whichever sets share its
    inference batch and in whatever order they come. The run also reports its diagnostics."""
    data = gaussian(SyntheticConfig(v_size=8, s_size=2, n_train=64, n_valid=32, n_test=40), seed=0)
    train = TrainConfig(max_epochs=2, batch_size=32, eval_batch_size=16, learning_rate=3e-3)
    config = IDiffMFConfig(model=SetFunctionConfig(embed_dim=16, hidden_dim=32),
                           mean_field=MeanFieldConfig(estimator="exact"), normalization_scope="set",
                           fixed_point=FixedPointConfig(max_iter=100), train=train)
    learner = IDiffMF(config).fit(data.train, data.valid, seed=0, progress=False)
    psi = learner.scores(data.test)
    order = np.random.default_rng(0).permutation(data.test.n_sets)
    shuffled = learner.scores(data.test.subset(order))
    np.testing.assert_allclose(shuffled, psi[order], rtol=0, atol=1e-6)
    few = learner.scores(data.test.subset(np.array([7, 3, 30])))
    np.testing.assert_allclose(few, psi[[7, 3, 30]], rtol=0, atol=1e-6)

    learner.predict(data.test)
    diagnostics = learner.diagnostics()
    assert diagnostics["status"] == "ok" and diagnostics["fp_converged_fraction"] == 1.0
    assert 0 < diagnostics["fp_contraction_mean"] <= diagnostics["fp_contraction_max"] < 1
    steps = diagnostics["epochs"] * 2  # 64 training sets in batches of 32
    assert diagnostics["bwd_solves"] == steps and diagnostics["bwd_residual_max"] < 1e-3

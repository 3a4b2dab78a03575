import numpy as np

from setbench.baselines import DiffMF, DiffMFConfig
from setbench.protocol import SetFunctionConfig, TrainConfig


def test_partial_fit_initialises_once_and_keeps_training(tiny_gaussian):
    config = DiffMFConfig(model=SetFunctionConfig(embed_dim=8, hidden_dim=16), iterations=2,
                          train=TrainConfig(batch_size=32, learning_rate=1e-2))
    algorithm = DiffMF(config).partial_fit(tiny_gaussian.train, seed=0)
    model = algorithm.model_
    first = algorithm.last_epoch_loss_
    for _ in range(3):
        algorithm.partial_fit(tiny_gaussian.train, seed=0)
    assert algorithm.model_ is model  # same seed: not re-initialised
    assert np.isfinite(first) and algorithm.last_epoch_loss_ < first
    assert algorithm.predict(tiny_gaussian.test).shape == tiny_gaussian.test.optimal.shape

"""The learning protocol shared by every algorithm, in NumPy: interface, training loop, batching, score.

Import direction: ``setbench.datasets`` → ``setbench.protocol`` → {``setbench.baselines``,
``setbench.idiffmf``} → ``setbench.benchmarks``.
"""

from .batching import epoch_batches, loss_mask
from .diagnostics import SolveRecord
from .jaccard import jaccard, mean_jaccard, top_k_subsets
from .encoders import DEFAULT_ENCODER, ENCODERS, resolve_encoder
from .model_config import MeanFieldConfig, SetFunctionConfig
from .learner import Batch, NotFittedError, SetAlgorithm, SetLearner
from .training import NonFiniteError, RunStatus, TrainConfig, TrainingHistory, early_stopped_training

__all__ = [
    "Batch",
    "DEFAULT_ENCODER",
    "ENCODERS",
    "MeanFieldConfig",
    "NonFiniteError",
    "NotFittedError",
    "RunStatus",
    "SetAlgorithm",
    "SetFunctionConfig",
    "SetLearner",
    "SolveRecord",
    "TrainConfig",
    "TrainingHistory",
    "early_stopped_training",
    "epoch_batches",
    "jaccard",
    "loss_mask",
    "mean_jaccard",
    "resolve_encoder",
    "top_k_subsets",
]

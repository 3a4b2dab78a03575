"""The learning protocol shared by every algorithm, in NumPy: interface, training loop, batching, score.

Import direction: ``setbench.datasets`` → ``setbench.protocol`` → {``setbench.baselines``,
``setbench.idiffmf``} → ``setbench.benchmarks``.
"""

from .batching import epoch_batches, loss_mask
from .diagnostics import BackwardRecord, SolveRecord
from .enumeration import subset_matrix
from .jaccard import jaccard, mean_jaccard, top_k_subsets
from .encoders import DEFAULT_ENCODER, ENCODERS, resolve_encoder
from .model_config import ESTIMATORS, EXACT_MAX_V_SIZE, MeanFieldConfig, SetFunctionConfig
from .learner import Batch, NotFittedError, SetAlgorithm, SetLearner
from .training import NonFiniteError, RunStatus, TrainConfig, TrainingHistory, early_stopped_training

__all__ = [
    "BackwardRecord",
    "Batch",
    "DEFAULT_ENCODER",
    "ENCODERS",
    "ESTIMATORS",
    "EXACT_MAX_V_SIZE",
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
    "subset_matrix",
    "top_k_subsets",
]

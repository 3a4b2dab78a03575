"""Training protocol shared by every algorithm: configuration and the early-stopped epoch loop.

Ou et al.'s protocol (REPRODUCTION_NOTES): Adam, learning rate 1e-4, weight decay 1e-5, gradient
clipping at global norm 10, at most 100 epochs, stop after ``patience + 1`` epochs without a strictly
better validation JC, restore the best checkpoint for the test. Framework code supplies the steps;
this module owns the loop, so that every algorithm stops, restores and reports the same way.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import time
from typing import Callable

from tqdm.auto import tqdm

__all__ = ["TrainConfig", "RunStatus", "NonFiniteError", "TrainingHistory", "early_stopped_training"]


class RunStatus(str, enum.Enum):
    """Outcome of a run. Only ``ok`` runs are averaged into tables."""

    OK = "ok"
    NONFINITE = "nonfinite"          # a loss, gradient or ψ became NaN/inf: no score is reported
    NOT_CONVERGED = "not_converged"  # a fixed-point solve hit its iteration cap at test time


class NonFiniteError(FloatingPointError):
    """A quantity that the training loss does not show (e.g. an ELBO) became NaN/inf.

    Raised by a training step or by inference; :func:`early_stopped_training` then stops with status
    ``nonfinite`` and this message, so that the run reports no score.
    """


@dataclasses.dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """Optimisation settings shared by all algorithms (defaults: Ou et al.'s published code).

    Attributes:
        learning_rate: Adam step size.
        weight_decay: L2 penalty added to the gradient before Adam (as ``torch.optim.Adam``).
        clip_norm: global-norm gradient clipping threshold, applied at **every** step.
        batch_size: ground sets per training step.
        max_epochs: epoch budget.
        patience: epochs without a strictly better validation JC tolerated before stopping.
        neg_num: sampled non-members per member of ``S*`` in the loss of Eq. (4).
        eval_batch_size: ground sets per inference batch.
    """

    learning_rate: float = 1e-4
    weight_decay: float = 1e-5
    clip_norm: float = 10.0
    batch_size: int = 128
    max_epochs: int = 100
    patience: int = 6
    neg_num: int = 1
    eval_batch_size: int = 128

    def __post_init__(self):
        for field in ("batch_size", "max_epochs", "neg_num", "eval_batch_size"):
            value = getattr(self, field)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"TrainConfig.{field} must be a positive integer, got {value!r}")
        if not isinstance(self.patience, int) or self.patience < 0:
            raise ValueError(f"TrainConfig.patience must be a non-negative integer, got {self.patience!r}")
        for field in ("learning_rate", "clip_norm"):
            value = getattr(self, field)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ValueError(f"TrainConfig.{field} must be a finite number >= 0, got {value!r}")
        if not (isinstance(self.weight_decay, (int, float)) and self.weight_decay >= 0):
            raise ValueError(f"TrainConfig.weight_decay must be >= 0, got {self.weight_decay!r}")


@dataclasses.dataclass
class TrainingHistory:
    """What the epoch loop saw. Lists hold one entry per completed epoch."""

    train_loss: list[float] = dataclasses.field(default_factory=list)
    valid_jc: list[float] = dataclasses.field(default_factory=list)
    epoch_seconds: list[float] = dataclasses.field(default_factory=list)  # training steps only
    valid_seconds: list[float] = dataclasses.field(default_factory=list)
    best_epoch: int = 0  # 1-based; 0 until an epoch completes
    status: RunStatus = RunStatus.OK
    message: str = ""

    @property
    def epochs(self) -> int:
        return len(self.train_loss)

    @property
    def best_valid_jc(self) -> float:
        return self.valid_jc[self.best_epoch - 1] if self.best_epoch else math.nan


def early_stopped_training(
    *,
    train_epoch: Callable[[int], float],
    validate: Callable[[], float],
    snapshot: Callable[[], object],
    restore: Callable[[object], None],
    config: TrainConfig,
    description: str = "train",
    progress: bool = True,
) -> TrainingHistory:
    """Run epochs until the budget or the patience is spent; leave the best checkpoint restored.

    Args:
        train_epoch: runs one epoch (1-based index) and returns its mean training loss.
        validate: returns the validation JC (×100) of the current parameters.
        snapshot: returns a copy of the current parameters.
        restore: loads a copy made by ``snapshot``.
        config: ``max_epochs`` and ``patience`` are read.

    Returns:
        The history; ``status`` is ``nonfinite`` if a loss or validation score was not finite or
        ``train_epoch`` / ``validate`` raised :class:`NonFiniteError`, in which case training
        stopped at that epoch.
    """
    history = TrainingHistory()
    best = None
    bar = tqdm(range(1, config.max_epochs + 1), desc=description, leave=False, disable=not progress)
    for epoch in bar:
        start = time.perf_counter()
        try:
            loss = float(train_epoch(epoch))
        except NonFiniteError as err:
            history.epoch_seconds.append(time.perf_counter() - start)
            history.train_loss.append(math.nan)
            history.status = RunStatus.NONFINITE
            history.message = f"{err} (epoch {epoch}); stopped"
            break
        history.epoch_seconds.append(time.perf_counter() - start)
        if not math.isfinite(loss):
            history.train_loss.append(loss)
            history.status = RunStatus.NONFINITE
            history.message = f"training loss became {loss} at epoch {epoch}; stopped"
            break
        start = time.perf_counter()
        try:
            score = float(validate())
        except NonFiniteError as err:
            history.valid_seconds.append(time.perf_counter() - start)
            history.train_loss.append(loss)
            history.valid_jc.append(math.nan)
            history.status = RunStatus.NONFINITE
            history.message = f"{err} during validation at epoch {epoch}; stopped"
            break
        history.valid_seconds.append(time.perf_counter() - start)
        history.train_loss.append(loss)
        history.valid_jc.append(score)
        if not math.isfinite(score):
            history.status = RunStatus.NONFINITE
            history.message = f"validation JC became {score} at epoch {epoch}; stopped"
            break
        if best is None or score > history.best_valid_jc:
            history.best_epoch = epoch
            best = snapshot()
        bar.set_postfix(loss=f"{loss:.4f}", valid_jc=f"{score:.2f}", best=history.best_epoch)
        if epoch - history.best_epoch > config.patience:
            history.message = f"early stop: no better validation JC for {config.patience + 1} epochs"
            break
    bar.close()
    if best is not None:
        restore(best)
    return history

"""The algorithm interface (``fit`` / ``predict`` / ``diagnostics``) and its shared implementation.

Arrays cross this interface as NumPy; no tensor reaches the runner. A framework implements the
five hooks of :class:`SetLearner` (initialise, one training step, ψ for one batch, snapshot,
restore); the base class owns batching, negative sampling, early stopping, the prediction rule
and timing, so they are identical for PyTorch and JAX algorithms.
"""

from __future__ import annotations

import abc
import math
import time
from typing import Any, ClassVar, Mapping, NamedTuple, Protocol, runtime_checkable

import numpy as np

from setbench.datasets import SetSplit

from .batching import epoch_batches, loss_mask
from .jaccard import mean_jaccard, top_k_subsets
from .training import RunStatus, TrainConfig, TrainingHistory, early_stopped_training

__all__ = ["SetAlgorithm", "SetLearner", "Batch", "NotFittedError"]


@runtime_checkable
class SetAlgorithm(Protocol):
    """What the runner needs from an algorithm."""

    name: str

    def fit(self, train: SetSplit, valid: SetSplit, *, seed: int) -> "SetAlgorithm": ...

    def predict(self, split: SetSplit) -> np.ndarray: ...  # bool [n_sets, |V|]

    def diagnostics(self) -> Mapping[str, Any]: ...


class NotFittedError(RuntimeError):
    """``predict`` or ``diagnostics`` called before ``fit``."""


class Batch(NamedTuple):
    """One minibatch of ground sets, as NumPy arrays.

    Attributes:
        x: float32 ``[b, |V|, *item_shape]`` item features in ground-set order.
        mask: bool ``[b, |V|]`` valid (non-padding) positions.
        optimal: bool ``[b, |V|]`` ``S*``.
        loss_mask: bool ``[b, |V|]`` positions entering Eq. (4) (``S*`` plus sampled negatives);
            all ``False`` at inference.
    """

    x: np.ndarray
    mask: np.ndarray
    optimal: np.ndarray
    loss_mask: np.ndarray


def _batch(split: SetSplit, rows: np.ndarray, losses: np.ndarray | None) -> Batch:
    optimal = split.optimal[rows]
    return Batch(
        x=split.set_features(rows),
        mask=split.mask[rows],
        optimal=optimal,
        loss_mask=losses[rows] if losses is not None else np.zeros_like(optimal),
    )


class SetLearner(abc.ABC):
    """Shared ``fit`` / ``predict`` for set-function learners trained by minibatch epochs.

    Subclasses set ``name`` and implement the hooks. The constructor stores the configuration and
    nothing else (scikit-learn convention); fitted state ends in ``_``.

    Hooks:
        _initialize(train, seed): build parameters and optimiser state; may compile. Must set
            ``self.compile_seconds_`` (0.0 where nothing is compiled).
        _train_step(batch, step) -> loss: one optimiser step; returns the batch loss (a scalar,
            a framework scalar is fine: it is read once per epoch).
        _psi(batch, batch_index) -> float ``[b, |V|]``: the method's own inference from
            ψ⁰ = 0.5 (or its own ψ⁰, e.g. EquiVSet's recognition network); randomness must be
            a function of ``(seed, batch_index)`` only, so that scoring the same split twice
            gives the same ψ.
        _snapshot() / _restore(state): copy and reload the parameters.
        _method_diagnostics() -> dict: method-specific figures (e.g. fixed-point iterations).
        _inference_diagnostics(batch, batch_index, psi): optional; called after ``_psi`` in a
            public :meth:`scores` / :meth:`predict` pass (not in validation passes), for costly
            figures such as a contraction-factor estimate.
        _convergence_failure() -> str | None: optional; after a public pass, a message if the
            method's own convergence rule failed (the run becomes ``not_converged``).

    Status: ``nonfinite`` if training saw a non-finite loss or validation score, or the last public
    pass produced a non-finite ψ; else ``not_converged`` if ``_convergence_failure`` says so for the
    last public pass (for the runner: the test split); else ``ok``.
    """

    name: ClassVar[str]

    def __init__(self, config):
        self.config = config

    # -- hooks -----------------------------------------------------------------------------
    @abc.abstractmethod
    def _initialize(self, train: SetSplit, seed: int) -> None: ...

    @abc.abstractmethod
    def _train_step(self, batch: Batch, step: int) -> Any: ...

    @abc.abstractmethod
    def _psi(self, batch: Batch, batch_index: int) -> np.ndarray: ...

    @abc.abstractmethod
    def _snapshot(self) -> Any: ...

    @abc.abstractmethod
    def _restore(self, state: Any) -> None: ...

    def _method_diagnostics(self) -> dict[str, Any]:
        return {}

    def _inference_diagnostics(self, batch: Batch, batch_index: int, psi: np.ndarray) -> None:
        return None

    def _convergence_failure(self) -> str | None:
        return None

    @property
    def train_config(self) -> TrainConfig:
        return self.config.train

    # -- public API ------------------------------------------------------------------------
    def fit(self, train: SetSplit, valid: SetSplit, *, seed: int, progress: bool = True) -> "SetLearner":
        """Train on ``train`` with early stopping on the validation JC of ``valid``.

        Returns:
            ``self``, with ``history_`` (a :class:`TrainingHistory`), ``seed_`` and timings set.
        """
        for split in (train, valid):
            if not isinstance(split, SetSplit):
                raise TypeError(f"{self.name}.fit expects SetSplit records, got {type(split).__name__}")
        if train.item_shape != valid.item_shape:
            raise ValueError(f"{self.name}.fit: train items {train.item_shape} and valid items {valid.item_shape} differ")
        start = time.perf_counter()
        self._start(train, seed)

        def validate() -> float:
            psi = self._scores(valid, diagnose=False)
            if not np.isfinite(psi).all():
                return math.nan  # a non-finite ψ: the loop stops with status nonfinite
            return mean_jaccard(top_k_subsets(psi, valid.subset_sizes, valid.mask), valid.optimal)

        self._inference_status = (RunStatus.OK, "")
        self.history_: TrainingHistory = early_stopped_training(
            train_epoch=lambda epoch: self._epoch(train),
            validate=validate,
            snapshot=self._snapshot,
            restore=self._restore,
            config=self.train_config,
            description=f"{self.name}",
            progress=progress,
        )
        self.fit_seconds_ = time.perf_counter() - start
        return self

    def partial_fit(self, train: SetSplit, *, seed: int) -> "SetLearner":
        """One epoch over ``train``, without validation; the first call initialises (and compiles).

        For measurements that need a few real training steps (memory, speed). A model trained this way
        is not a benchmark result: there is no early stopping and no checkpoint selection.

        Returns:
            ``self``; ``last_epoch_loss_`` holds the epoch's mean training loss.
        """
        if not isinstance(train, SetSplit):
            raise TypeError(f"{self.name}.partial_fit expects a SetSplit record, got {type(train).__name__}")
        if getattr(self, "seed_", None) != int(seed):
            self._start(train, seed)
        self.last_epoch_loss_ = self._epoch(train)
        return self

    def _start(self, train: SetSplit, seed: int) -> None:
        self.seed_ = int(seed)
        self._data_rng = np.random.default_rng([self.seed_, 0x5E7])
        self._initialize(train, self.seed_)
        self._step = 0

    def _epoch(self, train: SetSplit) -> float:
        """One pass over ``train`` in shuffled batches with fresh negatives; the size-weighted mean loss."""
        cfg = self.train_config
        losses_mask = loss_mask(train.optimal, train.mask, cfg.neg_num, self._data_rng)
        losses, sizes = [], []
        for rows in epoch_batches(train.n_sets, cfg.batch_size, self._data_rng):
            losses.append(self._train_step(_batch(train, rows, losses_mask), self._step))
            sizes.append(len(rows))
            self._step += 1
        values = np.array([float(loss) for loss in losses])
        return float(np.sum(values * np.asarray(sizes)) / np.sum(sizes))

    def scores(self, split: SetSplit) -> np.ndarray:
        """float64 ``[n_sets, |V|]``: ψ from the method's own inference (deterministic given the seed).

        Also collects the method's inference diagnostics and sets the run status for this pass
        (see the class docstring).
        """
        psi = self._scores(split, diagnose=True)
        finite = np.isfinite(psi).all(axis=1)
        if not finite.all():
            self._inference_status = (RunStatus.NONFINITE, f"{int((~finite).sum())} of {len(psi)} sets got a "
                                                           f"non-finite ψ at inference")
        else:
            failure = self._convergence_failure()
            self._inference_status = (RunStatus.NOT_CONVERGED, failure) if failure else (RunStatus.OK, "")
        return psi

    def _scores(self, split: SetSplit, diagnose: bool) -> np.ndarray:
        if not hasattr(self, "seed_"):
            raise NotFittedError(f"{self.name} is not fitted yet: call fit(train, valid, seed=...) first")
        size = self.train_config.eval_batch_size
        parts = []
        for start in range(0, split.n_sets, size):
            batch = _batch(split, np.arange(start, min(start + size, split.n_sets)), None)
            psi = np.asarray(self._psi(batch, start // size))
            if diagnose:
                self._inference_diagnostics(batch, start // size, psi)
            parts.append(psi)
        return np.concatenate(parts).astype(np.float64)

    def predict(self, split: SetSplit) -> np.ndarray:
        """bool ``[n_sets, |V|]``: the top-``|S*|`` positions of ψ per set (Ou et al.'s protocol)."""
        return top_k_subsets(self.scores(split), split.subset_sizes, split.mask)

    def diagnostics(self) -> dict[str, Any]:
        """Status, epochs, timings and method-specific figures of the last ``fit``."""
        self._check_fitted()
        history = self.history_
        epochs = history.epoch_seconds
        status, message = history.status, history.message
        if status is RunStatus.OK and self._inference_status[0] is not RunStatus.OK:
            status, message = self._inference_status
        return {
            "status": status.value,
            "message": message,
            "epochs": history.epochs,
            "best_epoch": history.best_epoch,
            "valid_jc": history.best_valid_jc,
            "fit_seconds": self.fit_seconds_,
            "compile_seconds": self.compile_seconds_,
            "epoch_seconds": float(np.mean(epochs)) if epochs else math.nan,
            "valid_seconds": float(np.mean(history.valid_seconds)) if history.valid_seconds else math.nan,
            **self._method_diagnostics(),
        }

    def _check_fitted(self) -> None:
        if not hasattr(self, "history_"):
            raise NotFittedError(f"{self.name} is not fitted yet: call fit(train, valid, seed=...) first")

    @property
    def status(self) -> RunStatus:
        return RunStatus(self.diagnostics()["status"])

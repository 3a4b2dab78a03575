"""The run-status rules of :class:`SetLearner`, on a framework-free learner."""

import math

import numpy as np

from setbench.protocol import RunStatus, SetLearner, TrainConfig


class _Config:
    train = TrainConfig(max_epochs=2, batch_size=8, eval_batch_size=4, patience=5)


class _Scripted(SetLearner):
    """ψ = a fixed score (optionally NaN on some calls); convergence failure as scripted."""

    name = "scripted"

    def __init__(self, *, nan_in_validation=False, nan_at_test=False, failure=None):
        super().__init__(_Config())
        self.nan_in_validation, self.nan_at_test, self.failure = nan_in_validation, nan_at_test, failure
        self.diagnosed_batches = []

    def _initialize(self, train, seed):
        self.compile_seconds_ = 0.0
        self.validating = True

    def _train_step(self, batch, step):
        return 1.0

    def _psi(self, batch, batch_index):
        psi = batch.x[..., 0].astype(np.float64)
        if (self.nan_in_validation and self.validating) or (self.nan_at_test and not self.validating):
            psi[0, 0] = math.nan
        return psi

    def _inference_diagnostics(self, batch, batch_index, psi):
        self.diagnosed_batches.append(batch_index)

    def _convergence_failure(self):
        return self.failure

    def _snapshot(self):
        return "checkpoint"

    def _restore(self, state):
        self.validating = False  # training is over: what follows is the public scoring pass


def test_ok_run_and_inference_diagnostics_only_in_public_passes(tiny_gaussian):
    learner = _Scripted().fit(tiny_gaussian.train, tiny_gaussian.valid, seed=0, progress=False)
    assert learner.diagnostics()["status"] == "ok" and learner.diagnosed_batches == []
    learner.predict(tiny_gaussian.test)
    assert learner.diagnosed_batches == list(range(math.ceil(tiny_gaussian.test.n_sets / 4)))
    assert learner.status is RunStatus.OK


def test_nonfinite_psi_in_validation_stops_training(tiny_gaussian):
    learner = _Scripted(nan_in_validation=True).fit(tiny_gaussian.train, tiny_gaussian.valid, seed=0, progress=False)
    diagnostics = learner.diagnostics()
    assert diagnostics["status"] == "nonfinite" and diagnostics["epochs"] == 1


def test_nonfinite_psi_at_test_marks_the_run(tiny_gaussian):
    learner = _Scripted(nan_at_test=True).fit(tiny_gaussian.train, tiny_gaussian.valid, seed=0, progress=False)
    assert learner.diagnostics()["status"] == "ok"
    learner.predict(tiny_gaussian.test)
    diagnostics = learner.diagnostics()
    assert diagnostics["status"] == "nonfinite" and "16 of 64 sets got a non-finite ψ" in diagnostics["message"]


def test_convergence_failure_at_test_marks_the_run_not_converged(tiny_gaussian):
    learner = _Scripted(failure="3 sets hit max_iter").fit(tiny_gaussian.train, tiny_gaussian.valid, seed=0,
                                                           progress=False)
    assert learner.diagnostics()["status"] == "ok"  # validation passes never apply the rule
    learner.predict(tiny_gaussian.test)
    assert learner.diagnostics()["status"] == "not_converged"
    assert learner.diagnostics()["message"] == "3 sets hit max_iter"

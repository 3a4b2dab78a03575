import math

import pytest

from setbench.protocol import NonFiniteError, RunStatus, TrainConfig, early_stopped_training


def _run(scores, losses=None, patience=2, max_epochs=20):
    state = {"params": 0}
    log = {"restored": None}

    def train_epoch(epoch):
        state["params"] = epoch
        return (losses or {}).get(epoch, 1.0)

    history = early_stopped_training(
        train_epoch=train_epoch,
        validate=lambda: scores[state["params"] - 1],
        snapshot=lambda: state["params"],
        restore=lambda p: log.update(restored=p),
        config=TrainConfig(max_epochs=max_epochs, patience=patience),
        progress=False,
    )
    return history, log["restored"]


def test_stops_after_patience_plus_one_epochs_without_strict_improvement_and_restores_best():
    history, restored = _run([50, 60, 60, 59, 58, 70])
    assert history.best_epoch == 2 and restored == 2
    assert history.epochs == 5  # epochs 3, 4, 5 did not improve strictly: stop after epoch 5
    assert history.status is RunStatus.OK and "early stop" in history.message


def test_runs_the_full_budget_while_improving():
    history, restored = _run(list(range(10)), max_epochs=10)
    assert history.epochs == 10 and restored == 10


def test_first_epoch_is_always_a_checkpoint_even_if_it_never_improves():
    history, restored = _run([0.0] * 10, patience=1)
    assert history.best_epoch == 1 and restored == 1 and history.best_valid_jc == 0.0


def test_nonfinite_loss_stops_with_a_status_and_keeps_the_last_good_checkpoint():
    history, restored = _run([10, 20, 30, 40], losses={3: math.nan})
    assert history.status is RunStatus.NONFINITE
    assert "epoch 3" in history.message
    assert restored == 2 and history.epochs == 3


@pytest.mark.parametrize("stage", ["train", "validate"])
def test_nonfinite_error_stops_with_its_message_and_keeps_the_last_good_checkpoint(stage):
    """A quantity the loss does not show (e.g. an ELBO) raises NonFiniteError: same status, its own message."""
    state = {"params": 0, "restored": None}

    def train_epoch(epoch):
        state["params"] = epoch
        if stage == "train" and epoch == 3:
            raise NonFiniteError("the ELBO became nan at training step 7")
        return 1.0

    def validate():
        if stage == "validate" and state["params"] == 3:
            raise NonFiniteError("ψ⁰ is not finite")
        return 10.0 * state["params"]

    history = early_stopped_training(
        train_epoch=train_epoch, validate=validate, snapshot=lambda: state["params"],
        restore=lambda p: state.update(restored=p), config=TrainConfig(max_epochs=10), progress=False,
    )
    assert history.status is RunStatus.NONFINITE and history.epochs == 3 and state["restored"] == 2
    assert history.best_epoch == 2 and len(history.epoch_seconds) == 3
    expected = {"train": "the ELBO became nan at training step 7 (epoch 3); stopped",
                "validate": "ψ⁰ is not finite during validation at epoch 3; stopped"}[stage]
    assert history.message == expected


@pytest.mark.parametrize("field, value", [("batch_size", 0), ("max_epochs", -1), ("patience", -1),
                                          ("learning_rate", float("nan")), ("neg_num", 1.5)])
def test_config_validation_names_the_field(field, value):
    with pytest.raises(ValueError, match=f"TrainConfig.{field}"):
        TrainConfig(**{field: value})

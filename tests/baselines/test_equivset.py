"""EquiVSet_ind / EquiVSet_copula: config, ELBO estimate, the alternating steps, NaN handling."""

import math
import os

import numpy as np
import pytest
import torch

from setbench.baselines import EquiVSet, EquiVSetConfig, RecognitionNetwork, SetFunction, elbo, gaussian_noise
from setbench.benchmarks import ALGORITHMS, expand, get_profile
from setbench.benchmarks.registry import build_config
from setbench.benchmarks.runner import execute
from setbench.baselines.training import to_tensors
from setbench.protocol import Batch, SetFunctionConfig, TrainConfig

from ..enumeration import all_subsets, exact_extension

TINY = SetFunctionConfig(embed_dim=8, hidden_dim=16, num_layers=2)


@pytest.mark.parametrize("field, value, message", [
    ("sampler", "gumbel", "EquiVSetConfig.sampler must be one of ('independent', 'copula'), got 'gumbel'"),
    ("iterations", 0, "EquiVSetConfig.iterations must be a positive integer, got 0"),
    ("rank", 2.5, "EquiVSetConfig.rank must be a positive integer, got 2.5"),
    ("temperature", 0.0, "EquiVSetConfig.temperature must be a finite number > 0, got 0.0"),
    ("temperature", math.inf, "EquiVSetConfig.temperature must be a finite number > 0, got inf"),
    ("standardize_copula", "yes", "EquiVSetConfig.standardize_copula must be a bool, got 'yes'"),
])
def test_config_validation_names_class_field_and_value(field, value, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        EquiVSetConfig(**{field: value})


@pytest.mark.parametrize("sampler, name", [("independent", "EquiVSet_ind"), ("copula", "EquiVSet_copula")])
def test_registry_names_and_defaults(sampler, name):
    algorithm = ALGORITHMS[name](TrainConfig(), {})
    assert algorithm.name == name and algorithm.config.sampler == sampler
    assert algorithm.config.iterations == 1 and algorithm.config.rank == 5 and algorithm.config.temperature == 0.1


def test_elbo_estimate_approaches_extension_plus_entropy():
    """Independent samples, small τ: mean_ℓ F(s_ℓ) + H(μ) → F̃(μ) + H(μ) (Eq. 5), against enumeration."""
    torch.manual_seed(0)
    model = SetFunction(3, TINY).double()
    recognition = RecognitionNetwork(3, TINY, rank=0).double()
    x = torch.randn(1, 5, 3, dtype=torch.float64)
    mask = torch.ones(1, 5, dtype=torch.bool)
    params = recognition(x)
    mu = torch.sigmoid(params.logits)[0].detach().numpy()
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        estimate = elbo(model, params, x, mask, gaussian_noise(generator, (1, 40_000, 5)).double(), 0.01, generator)
        subsets = all_subsets(5)
        values = model(x, torch.as_tensor(subsets)[None])[0].numpy()
    entropy = -np.sum(mu * np.log(mu) + (1 - mu) * np.log1p(-mu))
    scale = np.abs(values).max()
    assert estimate.shape == (1,)
    np.testing.assert_allclose(estimate.item(), exact_extension(values, subsets, mu) + entropy, atol=0.01 * scale)


def _batch(split, n, with_loss=True):
    rows = np.arange(n)
    optimal = split.optimal[rows]
    return Batch(x=split.set_features(rows), mask=split.mask[rows], optimal=optimal,
                 loss_mask=split.mask[rows] if with_loss else np.zeros_like(optimal))


def _initialized(tiny_gaussian, sampler="copula"):
    """A learner with fresh parameters (as at the start of ``fit``) and a training batch of 16 sets."""
    learner = EquiVSet(EquiVSetConfig(model=TINY, sampler=sampler, train=TrainConfig(batch_size=16)))
    learner.seed_ = 0
    learner._initialize(tiny_gaussian.train, 0)
    return learner, to_tensors(_batch(tiny_gaussian.train, 16))


def _parameters(module):
    return [p.detach().clone() for p in module.parameters()]


def _changed(before, module):
    return [not torch.equal(b, p) for b, p in zip(before, module.parameters())]


@pytest.mark.parametrize("sampler", ["independent", "copula"])
def test_recognition_step_moves_only_the_recognition_network(tiny_gaussian, sampler):
    learner, batch = _initialized(tiny_gaussian, sampler)
    energy, recognition = _parameters(learner.model_), _parameters(learner.recognition_)
    value = learner._recognition_step(batch, step=0)
    assert torch.isfinite(value)
    assert not any(_changed(energy, learner.model_))
    assert all(p.grad is None for p in learner.model_.parameters())  # F_θ held fixed: no gradient computed
    assert all(p.requires_grad for p in learner.model_.parameters())  # and trainable again afterwards
    assert any(_changed(recognition, learner.recognition_))


def test_energy_step_starts_from_the_detached_psi0_and_moves_only_the_energy_model(tiny_gaussian):
    learner, batch = _initialized(tiny_gaussian)
    energy, recognition = _parameters(learner.model_), _parameters(learner.recognition_)
    loss = learner._energy_step(batch)
    assert torch.isfinite(loss)
    assert all(p.grad is None for p in learner.recognition_.parameters())
    assert not any(_changed(recognition, learner.recognition_))
    assert any(_changed(energy, learner.model_))


def test_energy_step_unrolls_from_the_recognition_networks_psi0(tiny_gaussian, monkeypatch):
    """The energy model's K steps start at ψ⁰ = the recognition network's μ, not at 0.5."""
    from setbench.baselines import equivset

    learner, batch = _initialized(tiny_gaussian)
    starts = []
    original = equivset.unrolled_psi

    def spy(*args, psi0=None, **kwargs):
        starts.append(psi0)
        return original(*args, psi0=psi0, **kwargs)

    monkeypatch.setattr(equivset, "unrolled_psi", spy)
    with torch.no_grad():
        expected = learner.recognition_.psi0(batch.x, batch.mask)
    learner._energy_step(batch)
    assert len(starts) == 1 and starts[0] is not None and not starts[0].requires_grad
    torch.testing.assert_close(starts[0], expected, rtol=0, atol=0)
    assert not torch.allclose(starts[0][batch.mask], torch.full_like(starts[0][batch.mask], 0.5))


def test_inference_starts_from_the_recognition_network(tiny_gaussian):
    """Changing only the recognition network changes ψ: inference is K steps from its ψ⁰, not from 0.5."""
    learner, _ = _initialized(tiny_gaussian)
    batch = _batch(tiny_gaussian.valid, 8, with_loss=False)
    before = learner._psi(batch, 0)
    np.testing.assert_array_equal(before, learner._psi(batch, 0))  # a fixed stream per batch index
    with torch.no_grad():
        learner.recognition_.mu_head.bias.add_(3.0)
    assert not np.array_equal(before, learner._psi(batch, 0))


class _PoisonedELBO(EquiVSet):
    """The recognition network's μ head is NaN from the start, so the first ELBO is NaN."""

    def _initialize(self, train, seed):
        super()._initialize(train, seed)
        with torch.no_grad():
            self.recognition_.mu_head.bias.fill_(math.nan)


def test_nan_elbo_stops_training_with_a_nonfinite_status(tiny_gaussian):
    train = TrainConfig(max_epochs=3, batch_size=32)
    learner = _PoisonedELBO(EquiVSetConfig(model=TINY, train=train))
    learner.fit(tiny_gaussian.train, tiny_gaussian.valid, seed=0, progress=False)
    diagnostics = learner.diagnostics()
    assert diagnostics["status"] == "nonfinite" and diagnostics["epochs"] == 1
    assert diagnostics["message"] == "EquiVSet_copula: the ELBO became nan at training step 0 (epoch 1); stopped"


def test_nan_elbo_job_records_no_score(monkeypatch):
    """Through the runner: the cell is ``nonfinite``, its test JC is NaN and no test pass runs."""
    def poisoned(train, options):
        return _PoisonedELBO(build_config(EquiVSetConfig, options, train=train, sampler="copula"))

    monkeypatch.setitem(ALGORITHMS, "EquiVSet_copula", poisoned)
    job_env = {"OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2", "OPENBLAS_NUM_THREADS": "2",
               "XLA_PYTHON_CLIENT_PREALLOCATE": "false"}
    for var, value in job_env.items():  # execute() sets these for its job; monkeypatch restores them
        monkeypatch.setenv(var, os.environ.get(var, value))
    monkeypatch.setattr(torch, "set_num_threads", lambda n: None)
    (job,) = expand(get_profile("smoke"), algorithms=["EquiVSet_copula"], datasets=["gaussian"])
    record = execute(job, progress=False)
    assert record["status"] == "nonfinite" and "ELBO became nan" in record["message"]
    assert math.isnan(record["test_jc"]) and "test_seconds" not in record

"""The PyTorch ∇_ψ F̃ estimators and DiffMF with them (the JAX twins and their agreement: tests/idiffmf)."""

import numpy as np
import pytest
import torch

from setbench.baselines import (DiffMF, DiffMFConfig, SetFunction, draw_uniforms, exact_gains, marginal_gains,
                                multilinear_extension, relaxed_gains, unrolled_psi)
from setbench.protocol import MeanFieldConfig, SetFunctionConfig, TrainConfig

from ..enumeration import all_subsets, exact_gradient

CONFIG = SetFunctionConfig(embed_dim=8, hidden_dim=16, num_layers=2)


def _inputs(b=2, v=5, seed=0):
    torch.manual_seed(seed)
    model = SetFunction(3, CONFIG).double()
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, v, 3, generator=g, dtype=torch.float64)
    psi = torch.rand(b, v, generator=g, dtype=torch.float64) * 0.8 + 0.1
    return model, x, psi, torch.ones(b, v, dtype=torch.bool)


def test_exact_gains_equal_enumeration_and_autograd_of_the_extension():
    model, x, psi, mask = _inputs()
    a = model.element_terms(x)
    gains = exact_gains(model, a, psi, mask)
    subsets = all_subsets(5)
    with torch.no_grad():
        values = model(x, torch.as_tensor(subsets)[None].expand(2, -1, -1)).numpy()
    for b in range(2):
        np.testing.assert_allclose(gains[b].detach().numpy(), exact_gradient(values[b], subsets, psi[b].numpy()),
                                   rtol=1e-12, atol=1e-14)
    psi = psi.clone().requires_grad_(True)
    (autograd,) = torch.autograd.grad(multilinear_extension(model, a, psi, mask).sum(), psi)
    torch.testing.assert_close(gains, autograd, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("shared", [False, True])
def test_relaxed_gains_tend_to_the_hard_gains(shared):
    model, x, psi, mask = _inputs()
    a = model.element_terms(x)
    u = draw_uniforms(torch.Generator().manual_seed(1), 2, 5, 4, shared).double()
    with torch.no_grad():
        hard = marginal_gains(model, a, psi, mask, u)
        assert (relaxed_gains(model, a, psi, mask, u, 1e-4) - hard).abs().max() < 1e-12
        assert (relaxed_gains(model, a, psi, mask, u, 1.0) - hard).abs().max() > 1e-4


def test_unrolling_a_differentiable_estimator_needs_the_kept_graph():
    """Hard: kept == detached (tests/baselines/test_mean_field.py). Relaxed: ψ carries gradient between
    steps, so detaching changes (truncates) the gradient — DiffMF's config refuses that combination."""
    x = torch.randn(3, 5, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    mask = torch.ones(3, 5, dtype=torch.bool)
    grads = []
    for keep in (True, False):
        torch.manual_seed(5)
        model = SetFunction(3, CONFIG).double()
        psi, _ = unrolled_psi(model, x, mask, 3, MeanFieldConfig(estimator="relaxed", samples=3),
                              torch.Generator().manual_seed(7), keep_graph=keep)
        psi.sum().backward()
        grads.append(torch.cat([p.grad.ravel() for p in model.parameters()]))
    assert (grads[0] - grads[1]).abs().max() > 1e-6
    with pytest.raises(ValueError, match=r"keep_unrolled_graph=False .* estimator='relaxed' .* set keep_unrolled_graph=True"):
        DiffMFConfig(mean_field=MeanFieldConfig(estimator="relaxed"), keep_unrolled_graph=False)


def test_exact_mode_refuses_large_ground_sets_before_training():
    """|V| = 12 is fine; the limit names the field and the fix (here: a 20-item ground set)."""
    from setbench.datasets import SyntheticConfig, gaussian

    data = gaussian(SyntheticConfig(v_size=20, s_size=2, n_train=8, n_valid=8, n_test=8), seed=0)
    learner = DiffMF(DiffMFConfig(mean_field=MeanFieldConfig(estimator="exact"), train=TrainConfig(max_epochs=1)))
    with pytest.raises(ValueError, match=r"DiffMF: MeanFieldConfig.estimator='exact' .* \|V\| = 20"):
        learner.fit(data.train, data.valid, seed=0, progress=False)


@pytest.mark.slow
@pytest.mark.parametrize("estimator", ["score", "relaxed", "exact"])
def test_diffmf_trains_with_each_differentiable_estimator(estimator, tiny_gaussian):
    config = DiffMFConfig(model=SetFunctionConfig(embed_dim=16, hidden_dim=32),
                          mean_field=MeanFieldConfig(estimator=estimator, samples=3),
                          train=TrainConfig(max_epochs=2, batch_size=32, eval_batch_size=64, learning_rate=3e-3))
    learner = DiffMF(config).fit(tiny_gaussian.train, tiny_gaussian.valid, seed=0, progress=False)
    predicted = learner.predict(tiny_gaussian.test)
    assert predicted.shape == tiny_gaussian.test.optimal.shape
    assert learner.diagnostics()["status"] == "ok"

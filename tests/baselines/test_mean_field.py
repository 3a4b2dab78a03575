import numpy as np
import pytest
import torch

from setbench.baselines import SetFunction, draw_uniforms, marginal_gains, unrolled_psi
from setbench.protocol import MeanFieldConfig, SetFunctionConfig

from ..enumeration import all_subsets, exact_gradient

CONFIG = SetFunctionConfig(embed_dim=8, hidden_dim=16, num_layers=2)


def _model(d=3, seed=0):
    torch.manual_seed(seed)
    return SetFunction(d, CONFIG).double()


def _inputs(b=3, v=6, d=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, v, d, generator=g, dtype=torch.float64)
    psi = torch.rand(b, v, generator=g, dtype=torch.float64)
    return x, psi


def test_fresh_samples_match_the_definition():
    """Eq. (8): gain_j = mean_l F(S_l ∪ {j}) − F(S_l), S_l = {i ≠ j : u_lji < ψ_i}."""
    model = _model()
    x, psi = _inputs()
    mask = torch.ones(psi.shape, dtype=torch.bool)
    u = draw_uniforms(torch.Generator().manual_seed(1), 3, 6, 4, shared=False).double()
    gains = marginal_gains(model, model.element_terms(x), psi, mask, u)
    member = (u < psi[:, None, None, :]).double() * (1 - torch.eye(6, dtype=torch.float64))
    with_j = member + torch.eye(6, dtype=torch.float64)
    reference = (model(x, with_j) - model(x, member)).mean(1)
    torch.testing.assert_close(gains, reference, rtol=1e-10, atol=1e-10)


def test_shared_samples_match_the_definition():
    """gain_j = mean_l F(S_l ∪ {j}) − F(S_l ∖ {j}) with one S_l per sample."""
    model = _model()
    x, psi = _inputs()
    mask = torch.ones(psi.shape, dtype=torch.bool)
    u = draw_uniforms(torch.Generator().manual_seed(1), 3, 6, 4, shared=True).double()
    gains = marginal_gains(model, model.element_terms(x), psi, mask, u)
    member = (u < psi[:, None, :]).double()[:, :, None, :].expand(-1, -1, 6, -1)
    eye = torch.eye(6, dtype=torch.float64)
    reference = (model(x, torch.clamp(member + eye, max=1)) - model(x, member * (1 - eye))).mean(1)
    torch.testing.assert_close(gains, reference, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("shared", [False, True])
def test_monte_carlo_mean_approaches_the_exact_gradient(shared):
    """Against enumeration of all 2^|V| subsets (unbiasedness of the estimator)."""
    model = _model(seed=3)
    x, psi = _inputs(b=1, v=5, seed=4)
    subsets = torch.as_tensor(all_subsets(5))
    with torch.no_grad():
        values = model(x, subsets[None]).numpy()[0]
        exact = exact_gradient(values, subsets.numpy(), psi.numpy()[0])
        u = draw_uniforms(torch.Generator().manual_seed(0), 1, 5, 20000, shared=shared).double()
        estimate = marginal_gains(model, model.element_terms(x), psi, torch.ones(1, 5, dtype=torch.bool), u)[0].numpy()
    scale = np.abs(values).max()
    np.testing.assert_allclose(estimate, exact, atol=0.02 * scale)


def test_padding_never_joins_a_sample_and_gets_zero_gain():
    model = _model()
    x, psi = _inputs()
    mask = torch.ones(psi.shape, dtype=torch.bool)
    mask[:, -2:] = False
    u = draw_uniforms(torch.Generator().manual_seed(1), 3, 6, 4, shared=False).double()
    gains = marginal_gains(model, model.element_terms(x), psi, mask, u)
    x2 = x.clone()
    x2[:, -2:] = 100.0
    gains2 = marginal_gains(model, model.element_terms(x2), psi, mask, u)
    assert (gains[:, -2:] == 0).all()
    torch.testing.assert_close(gains, gains2)


def test_published_graph_and_detached_graph_give_bit_identical_gradients():
    """Hard samples have zero derivative: keeping the unrolled graph changes memory, not gradients."""
    x, _ = _inputs(b=4, v=8, d=3)
    mask = torch.ones(4, 8, dtype=torch.bool)
    grads = []
    for keep in (True, False):
        model = _model(seed=5)
        psi, _ = unrolled_psi(model, x, mask, 3, MeanFieldConfig(samples=3), torch.Generator().manual_seed(7),
                              keep_graph=keep)
        psi.sum().backward()
        grads.append([p.grad.clone() for p in model.parameters()])
    for kept, detached in zip(*grads):
        assert torch.equal(kept, detached)

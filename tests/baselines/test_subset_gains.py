"""The fast hard-sample estimate (blocked, no stored activations) equals the reference mask-matmul."""

import pytest
import torch

from setbench.baselines import SetFunction, draw_uniforms, marginal_gains, subset_gains
from setbench.benchmarks.reference import ReferenceSetFunction, reference_gains
from setbench.protocol import SetFunctionConfig

CONFIG = SetFunctionConfig(embed_dim=8, hidden_dim=16, num_layers=3)


def _models(dtype, d=3, seed=0):
    """The fast model and the reference model, on identical weights."""
    torch.manual_seed(seed)
    fast = SetFunction(d, CONFIG).to(dtype)
    reference = ReferenceSetFunction(d, CONFIG).to(dtype)
    reference.load_state_dict(fast.state_dict())
    return fast, reference


def _inputs(dtype, shared, b=5, v=7, m=3, d=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, v, d, generator=g, dtype=dtype)
    psi = torch.rand(b, v, generator=g, dtype=dtype)
    mask = torch.ones(b, v, dtype=torch.bool)
    mask[1, -2:] = False
    mask[3, -3:] = False
    u = draw_uniforms(g, b, v, m, shared).to(dtype)
    # A loss that weights a few coordinates per set, as Eq. (4) does (S* plus negatives).
    weights = torch.randn(b, v, generator=g, dtype=dtype) * (torch.rand(b, v, generator=g) < 0.4)
    weights[4] = 0.0  # a set with no weighted coordinate at all
    return x, psi, mask, u, weights


def _gains_and_grads(model, x, psi, mask, u, weights, estimate, **kwargs):
    model.zero_grad()
    gains = estimate(model, model.element_terms(x), psi, mask, u, **kwargs)
    (gains * weights).sum().backward()
    return gains.detach(), {name: p.grad.clone() for name, p in model.named_parameters()}


def _assert_relative(actual, expected, rtol):
    """``|actual − expected| ≤ rtol · max|expected|`` (relative to the tensor's scale)."""
    scale = expected.abs().max().clamp_min(torch.finfo(expected.dtype).tiny)
    error = (actual - expected).abs().max() / scale
    assert error <= rtol, f"relative error {error:.2e} > {rtol:.0e}"


def _assert_gradients(actual, expected, rtol):
    # Relative to each parameter's own scale; a gradient that is zero up to rounding (ρ's output bias
    # cancels in F(S ∪ {j}) − F(S)) is compared at the scale of the largest gradient instead.
    largest = max(g.abs().max() for g in expected.values())
    for name in expected:
        own = expected[name].abs().max()
        error = (actual[name] - expected[name]).abs().max() / (own if own >= 1e-3 * largest else largest)
        assert error <= rtol, f"{name}: relative error {error:.2e} > {rtol:.0e}"


@pytest.mark.parametrize("block_rows", [1, 50, 100_000], ids=["one-set-blocks", "several-sets", "one-block"])
@pytest.mark.parametrize("shared", [False, True], ids=["fresh", "shared"])
@pytest.mark.parametrize("dtype,rtol", [(torch.float64, 1e-12), (torch.float32, 1e-5)], ids=["float64", "float32"])
def test_fast_path_equals_the_reference_forward_and_gradients(monkeypatch, block_rows, shared, dtype, rtol):
    monkeypatch.setattr(subset_gains, "BLOCK_ROWS", block_rows)
    fast, reference = _models(dtype)
    inputs = _inputs(dtype, shared)
    gains, grads = _gains_and_grads(fast, *inputs, marginal_gains)
    expected_gains, expected_grads = _gains_and_grads(reference, *inputs, reference_gains)
    _assert_relative(gains, expected_gains, rtol)
    _assert_gradients(grads, expected_grads, rtol)


@pytest.mark.parametrize("shared", [False, True], ids=["fresh", "shared"])
def test_published_graph_equals_the_reference_and_keeps_psi_with_zero_derivative(shared):
    fast, reference = _models(torch.float64)
    x, psi, mask, u, weights = _inputs(torch.float64, shared)
    psi = psi.requires_grad_()
    gains, grads = _gains_and_grads(fast, x, psi, mask, u, weights, marginal_gains, keep_graph=True)
    expected_gains, expected_grads = _gains_and_grads(reference, x, psi.detach(), mask, u, weights, reference_gains)
    _assert_relative(gains, expected_gains, 1e-12)
    _assert_gradients(grads, expected_grads, 1e-12)
    assert psi.grad is not None and (psi.grad == 0).all()


def test_fast_path_keeps_no_activations_for_the_backward_pass():
    """Saved for backward: the inputs only (a, ψ, valid, u, parameters), never [B, m, |V|, hidden]."""
    fast, _ = _models(torch.float32)
    x, psi, mask, u, _ = _inputs(torch.float32, shared=False)
    a = fast.element_terms(x)
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t.shape) or t, lambda t: t):
        marginal_gains(fast, a, psi, mask, u)
    hidden = CONFIG.hidden_dim
    largest = max(torch.Size(s).numel() for s in saved)
    assert largest <= max(a.numel(), u.numel()), saved
    assert all(len(s) < 4 or s[-1] != hidden for s in saved)


def test_backward_evaluates_only_coordinates_with_a_cotangent(monkeypatch):
    """Coordinates outside the loss (zero cotangent) are not re-evaluated in the backward pass."""
    fast, _ = _models(torch.float64)
    x, psi, mask, u, _ = _inputs(torch.float64, shared=False)
    weights = torch.zeros_like(psi)
    weights[0, 2] = 1.0
    weights[2, [0, 5]] = -2.0
    seen = []
    original = subset_gains.sample_gains

    def spy(model, a, member, coords=None):
        if coords is not None:
            seen.append(coords.clone())
        return original(model, a, member, coords)

    monkeypatch.setattr(subset_gains, "sample_gains", spy)
    gains = marginal_gains(fast, fast.element_terms(x), psi, mask, u)
    (gains * weights).sum().backward()
    coords = torch.cat(seen)
    assert coords.shape == (2, 2)  # sets 0 and 2 carry weights (2 at most); sets without any are skipped
    assert set(coords[0].tolist()) == {0, 5} and 2 in coords[1].tolist()


def test_no_weighted_coordinate_gives_zero_gradients():
    fast, _ = _models(torch.float64)
    x, psi, mask, u, _ = _inputs(torch.float64, shared=True)
    gains = marginal_gains(fast, fast.element_terms(x), psi, mask, u)
    (gains * 0.0).sum().backward()
    assert all(p.grad is None or (p.grad == 0).all() for p in fast.parameters())

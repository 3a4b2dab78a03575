"""The recognition network and the relaxed-Bernoulli samples of q (EquiVSet_ind / EquiVSet_copula)."""

import math

import numpy as np
import pytest
import torch
from scipy.stats import norm

from setbench.baselines import (
    RecognitionNetwork,
    SetFunction,
    bernoulli_entropy,
    gaussian_noise,
    relaxed_bernoulli,
    straight_through,
)
from setbench.protocol import SetFunctionConfig

CONFIG = SetFunctionConfig(embed_dim=8, hidden_dim=16, num_layers=2)
MU = np.array([0.03, 0.2, 0.5, 0.8, 0.95])
DRAWS = 40_000


def _samples(mu, scale=None, factors=None, *, temperature, standardize=False, seed=0, draws=DRAWS):
    """float64 ``[draws, |V|]`` straight-through samples of q for one set."""
    logits = torch.logit(torch.as_tensor(mu, dtype=torch.float64))[None]
    generator = torch.Generator().manual_seed(seed)
    noise = gaussian_noise(generator, (1, draws, logits.shape[1]), scale, factors, standardize=standardize)
    if scale is None:
        noise = noise.double()
    mask = torch.ones(logits.shape, dtype=torch.bool)
    return straight_through(relaxed_bernoulli(logits, noise, mask, temperature), generator)[0].numpy()


def _assert_frequencies(samples, expected):
    """Inclusion frequencies within 4.5 binomial standard errors of ``expected``."""
    frequency = samples.mean(0)
    tolerance = 4.5 * np.sqrt(expected * (1 - expected) / samples.shape[0])
    assert np.all(np.abs(frequency - expected) <= tolerance), f"frequencies {frequency} vs {expected} ± {tolerance}"


@pytest.mark.parametrize("temperature", [0.1, 0.01])
def test_independent_inclusion_frequency_is_mu(temperature):
    """EquiVSet_ind (g = ε: σ_diag = 1, U = 0): P(s_i = 1) → μ_i as τ → 0; τ = 0.1 is already within MC error."""
    _assert_frequencies(_samples(MU, temperature=temperature), MU)


def test_copula_with_unit_scale_and_zero_factor_is_independent():
    v = len(MU)
    scale, factors = torch.ones(1, v, dtype=torch.float64), torch.zeros(1, v, 5, dtype=torch.float64)
    samples = _samples(MU, scale, factors, temperature=0.01)
    _assert_frequencies(samples, MU)
    assert np.all(np.abs(np.corrcoef(samples.T) - np.eye(v)) < 4.5 / math.sqrt(DRAWS))


def test_published_copula_marginals_follow_the_scale_of_g():
    """Unstandardised (as published): P(s_i = 1) → Φ(Φ⁻¹(μ_i) / sd(g_i)), sd(g_i)² = σ_diag,i² + ‖U_i‖²."""
    v = len(MU)
    scale = torch.tensor([[0.5, 2.0, 1.3, 0.7, 1.0]], dtype=torch.float64)
    factors = torch.zeros(1, v, 2, dtype=torch.float64)
    factors[0, :, 0] = torch.tensor([0.0, 0.0, 0.9, -0.6, 0.5], dtype=torch.float64)
    sd = torch.sqrt(scale**2 + (factors**2).sum(-1))[0].numpy()
    samples = _samples(MU, scale, factors, temperature=1e-3)
    _assert_frequencies(samples, norm.cdf(norm.ppf(MU) / sd))
    assert samples[:, 0].mean() < 0.002 and samples[:, 1].mean() > 0.3  # far from μ = 0.03, 0.2


def test_standardized_copula_keeps_every_marginal_at_mu():
    v = len(MU)
    scale = torch.tensor([[0.5, 2.0, 1.3, 0.7, 1.0]], dtype=torch.float64)
    factors = torch.tensor([[[0.9, 0.1], [0.9, -0.3], [-0.8, 0.0], [0.0, 0.95], [0.4, 0.4]]], dtype=torch.float64)
    assert factors.shape[1] == v
    _assert_frequencies(_samples(MU, scale, factors, temperature=1e-3, standardize=True), MU)


def test_shared_low_rank_factor_correlates_inclusions():
    """μ = 0.5, τ → 0: s_i = 1[g_i > 0], so corr(s_i, s_j) = (2/π) arcsin(ρ_ij) with ρ the correlation of g."""
    mu = np.full(4, 0.5)
    scale = torch.ones(1, 4, dtype=torch.float64)
    factors = torch.tensor([[[0.9], [0.9], [-0.9], [0.0]]], dtype=torch.float64)  # 0, 1 share +U; 2 has −U
    samples = _samples(mu, scale, factors, temperature=1e-3)
    corr = np.corrcoef(samples.T)
    rho = 0.81 / 1.81
    expected = 2 / math.pi * math.asin(rho)
    error = 4.5 / math.sqrt(DRAWS)
    assert corr[0, 1] > 0.2 and abs(corr[0, 1] - expected) < error
    assert abs(corr[0, 2] + expected) < error   # opposite factor: negatively correlated
    assert abs(corr[0, 3]) < error              # no shared factor: uncorrelated


def test_straight_through_is_hard_forward_and_relaxed_backward():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 6, dtype=torch.float64, requires_grad=True)
    noise = gaussian_noise(generator, (2, 3, 6)).double()
    mask = torch.ones(2, 6, dtype=torch.bool)
    weights = torch.randn(2, 3, 6, dtype=torch.float64)
    probs = relaxed_bernoulli(logits, noise, mask, 0.5)
    hard = straight_through(probs, generator)
    assert torch.all(torch.isclose(hard, torch.zeros_like(hard), atol=1e-12)
                     | torch.isclose(hard, torch.ones_like(hard), atol=1e-12))
    (grad_hard,) = torch.autograd.grad((hard * weights).sum(), logits, retain_graph=True)
    (grad_soft,) = torch.autograd.grad((probs * weights).sum(), logits)
    torch.testing.assert_close(grad_hard, grad_soft, rtol=0, atol=0)


@pytest.mark.parametrize("standardize", [False, True])
def test_relaxed_copula_sample_gradients_match_finite_differences(standardize):
    """float64 finite differences through Φ, the log-odds and the copula parameters."""
    mask = torch.tensor([[True, True, True, False]])

    def relaxed(logits, scale, factors):
        noise = gaussian_noise(torch.Generator().manual_seed(3), (1, 4, 4), scale, factors, standardize=standardize)
        return relaxed_bernoulli(logits, noise, mask, 0.7)

    g = torch.Generator().manual_seed(1)
    logits = torch.randn(1, 4, generator=g, dtype=torch.float64, requires_grad=True)
    scale = (torch.rand(1, 4, generator=g, dtype=torch.float64) + 0.5).requires_grad_()
    factors = (torch.rand(1, 4, 2, generator=g, dtype=torch.float64) - 0.5).requires_grad_()
    assert torch.autograd.gradcheck(relaxed, (logits, scale, factors))


def test_padding_never_joins_a_sample():
    generator = torch.Generator().manual_seed(0)
    logits = torch.full((1, 5), 8.0)
    mask = torch.tensor([[True, True, False, True, False]])
    samples = straight_through(relaxed_bernoulli(logits, gaussian_noise(generator, (1, 100, 5)), mask, 0.1), generator)
    assert samples[..., ~mask[0]].abs().max() == 0 and samples[..., mask[0]].mean() > 0.99


def test_entropy_known_answer_padding_and_extremes():
    logits = torch.tensor([[-3.0, 0.0, 0.7, 2.0]], dtype=torch.float64)
    mask = torch.tensor([[True, True, True, False]])
    mu = torch.sigmoid(logits)
    direct = -(mu * torch.log(mu) + (1 - mu) * torch.log1p(-mu))[0, :3].sum()
    torch.testing.assert_close(bernoulli_entropy(logits, mask), direct[None], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(bernoulli_entropy(torch.zeros(1, 3), torch.ones(1, 3, dtype=torch.bool)),
                               torch.tensor([3 * math.log(2)]))
    # Saturated μ: H ≈ |a| e^{−|a|}, finite and non-negative, with a finite gradient (log(0) never arises).
    extreme = torch.tensor([[60.0, -60.0]], requires_grad=True)
    entropy = bernoulli_entropy(extreme, torch.ones(1, 2, dtype=torch.bool))
    entropy.sum().backward()
    assert torch.isfinite(entropy).all() and (entropy >= 0).all() and torch.isfinite(extreme.grad).all()


def _network(rank, config=CONFIG, seed=0):
    torch.manual_seed(seed)
    return RecognitionNetwork(3, config, rank=rank).double()


@pytest.mark.parametrize("rank", [0, 5])
def test_heads_are_permutation_equivariant(rank):
    net = _network(rank)
    g = torch.Generator().manual_seed(2)
    x = torch.randn(2, 7, 3, generator=g, dtype=torch.float64)
    perm = torch.randperm(7, generator=g)
    mask = torch.ones(2, 7, dtype=torch.bool)
    torch.testing.assert_close(net.psi0(x[:, perm], mask), net.psi0(x, mask)[:, perm], rtol=0, atol=1e-14)
    for permuted, original in zip(net(x[:, perm]), net(x)):
        if original is not None:
            torch.testing.assert_close(permuted, original[:, perm], rtol=0, atol=1e-14)


def test_heads_shapes_ranges_and_padding():
    net = _network(rank=3)
    x = torch.randn(2, 6, 3, dtype=torch.float64)
    mask = torch.ones(2, 6, dtype=torch.bool)
    mask[1, 4:] = False
    params = net(x)
    assert params.logits.shape == (2, 6) and params.scale.shape == (2, 6) and params.factors.shape == (2, 6, 3)
    assert (params.scale > 0).all() and (params.factors.abs() < 1).all()
    psi0 = net.psi0(x, mask)
    torch.testing.assert_close(psi0[mask], torch.sigmoid(params.logits)[mask])
    assert (psi0[~mask] == 0).all()
    assert _network(rank=0)(x).scale is None


@pytest.mark.parametrize("num_layers, hidden_layers", [(1, 0), (2, 1), (3, 2)])
def test_mlp_has_num_layers_minus_one_hidden_layers(num_layers, hidden_layers):
    config = SetFunctionConfig(embed_dim=8, hidden_dim=16, num_layers=num_layers)
    net = RecognitionNetwork(3, config, rank=2)
    assert len(net.hidden) == hidden_layers
    assert net.out.out_features == 16 and net.phi.out_features == 8


@pytest.mark.parametrize("item_shape, item_kind", [((3,), "vector"), ((1, 32, 32), "image")])
def test_encoder_is_the_energy_models_architecture_with_its_own_weights(item_shape, item_kind):
    torch.manual_seed(0)
    net = RecognitionNetwork(item_shape, CONFIG, item_kind=item_kind, rank=2)
    energy_phi = SetFunction(item_shape, CONFIG, item_kind=item_kind).phi
    assert type(net.phi) is type(energy_phi)
    assert [p.shape for p in net.phi.parameters()] == [p.shape for p in energy_phi.parameters()]
    assert not any(torch.equal(a, b) for a, b in zip(net.phi.parameters(), energy_phi.parameters()))
    x = torch.randn((2, 5) + item_shape)
    mask = torch.ones(2, 5, dtype=torch.bool)
    perm = torch.tensor([3, 0, 4, 1, 2])
    torch.testing.assert_close(net.psi0(x[:, perm], mask), net.psi0(x, mask)[:, perm])

"""The ∇_ψ F̃ estimators of Eq. (6) in JAX: definitions, exact enumeration, limits, and the PyTorch twins."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from setbench import baselines, idiffmf
from setbench.benchmarks.verification import flax_params_from_torch
from setbench.protocol import MeanFieldConfig, SetFunctionConfig

from ..enumeration import all_subsets, exact_gradient

CONFIG = SetFunctionConfig(embed_dim=8, hidden_dim=16, num_layers=2)


def _problem(b=2, v=6, seed=0, padded=True):
    """Float64 JAX problem: (value, a, psi, mask, F on all subsets per set)."""
    torch.manual_seed(seed)
    model = baselines.SetFunction(3, CONFIG).double()
    module = idiffmf.SetFunction(in_features=3, config=CONFIG)
    params = flax_params_from_torch(model)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((b, v, 3))
    psi = rng.uniform(0.1, 0.9, (b, v))
    mask = np.ones((b, v), bool)
    if padded:
        mask[-1, -1] = False
        psi[-1, -1] = 0.0
    value = lambda z: module.apply(params, z, method=idiffmf.SetFunction.value)  # noqa: E731
    a = module.apply(params, jnp.asarray(x), method=idiffmf.SetFunction.element_terms)
    subsets = all_subsets(v)
    with torch.no_grad():
        f = model(torch.as_tensor(x), torch.as_tensor(subsets)[None] * torch.as_tensor(mask, dtype=torch.float64)[:, None])
    return value, a, jnp.asarray(psi), jnp.asarray(mask), f.numpy(), subsets, model, x


def test_exact_gains_equal_enumeration_and_autodiff_of_the_extension():
    with jax.enable_x64(True):
        value, a, psi, mask, f, subsets, _, _ = _problem()
        gains = np.asarray(idiffmf.exact_gains(value, a, psi, mask))
        for b in range(2):
            v = int(mask[b].sum())
            keep = np.all(subsets[:, v:] == 0, axis=1)  # subsets of the valid positions
            np.testing.assert_allclose(gains[b, :v], exact_gradient(f[b][keep], subsets[keep][:, :v], np.asarray(psi[b, :v])),
                                       rtol=1e-12, atol=1e-14)
        assert gains[1, -1] == 0.0
        autodiff = jax.grad(lambda p: idiffmf.multilinear_extension(value, a, p, mask).sum())(psi) * mask
        np.testing.assert_allclose(gains, autodiff, rtol=1e-12, atol=1e-14)


def test_extension_at_a_vertex_is_the_set_function():
    with jax.enable_x64(True):
        value, a, _, mask, f, subsets, _, _ = _problem(padded=False)
        for row in (0, 5, 37, 63):
            vertex = jnp.asarray(np.tile(subsets[row], (2, 1)))
            np.testing.assert_allclose(idiffmf.multilinear_extension(value, a, vertex, mask), f[:, row], rtol=1e-12)


@pytest.mark.parametrize("shared", [False, True])
def test_relaxed_gains_tend_to_the_hard_gains_on_the_same_uniforms(shared):
    with jax.enable_x64(True):
        value, a, psi, mask, *_ = _problem()
        u = jax.random.uniform(jax.random.PRNGKey(3), (2, 4, 6) if shared else (2, 4, 6, 6), jnp.float64)
        hard = idiffmf.marginal_gains(value, a, psi, mask, u)
        gaps = [float(jnp.abs(idiffmf.relaxed_gains(value, a, psi, mask, u, t) - hard).max()) for t in (1.0, 0.1, 1e-4)]
        assert gaps[0] > gaps[1] > 1e-6 and gaps[2] < 1e-12


def test_relaxed_gains_are_smooth_in_psi():
    """A non-zero ψ-Jacobian that matches finite differences (unlike the hard estimator's, which is 0)."""
    with jax.enable_x64(True):
        value, a, psi, mask, *_ = _problem()
        u = jax.random.uniform(jax.random.PRNGKey(3), (2, 4, 6, 6), jnp.float64)
        fn = lambda p: idiffmf.relaxed_gains(value, a, p, mask, u, 0.5)  # noqa: E731
        direction = jnp.asarray(np.random.default_rng(1).standard_normal((2, 6))) * mask
        jvp = jax.jvp(fn, (psi,), (direction,))[1]
        fd = (fn(psi + 1e-6 * direction) - fn(psi - 1e-6 * direction)) / 2e-6
        assert float(jnp.abs(jvp).max()) > 1e-3
        np.testing.assert_allclose(jvp, fd, rtol=1e-6, atol=1e-10)


@pytest.mark.parametrize("shared", [False, True])
def test_score_gains_and_their_psi_jacobian_match_the_definition(shared):
    """g_j = mean_l (F(S_l) − b_l) ∂_j log q(S_l), b_l = mean of the other samples; ∂g_j/∂ψ_k =
    mean_l (F(S_l) − b_l)(∂_j log q ∂_k log q + δ_jk ∂²_j log q), coded here in NumPy."""
    with jax.enable_x64(True):
        value, a, psi, mask, f_all, subsets, _, _ = _problem(padded=False)
        m, v = 4, 6
        u = np.asarray(jax.random.uniform(jax.random.PRNGKey(5), (2, m, v) if shared else (2, m, v, v), jnp.float64))
        gains = np.asarray(idiffmf.score_gains(value, a, psi, mask, jnp.asarray(u)))
        jac = np.asarray(jax.jacobian(lambda p: idiffmf.score_gains(value, a, p, mask, jnp.asarray(u)))(psi))
        psi = np.asarray(psi)
        index = {row.tobytes(): k for k, row in enumerate(subsets)}
        for b in range(2):
            for j in range(v):
                draws = u[b] if shared else u[b, :, j]                          # [m, |V|]
                member = (draws < psi[b]).astype(float)
                f = np.array([f_all[b, index[s.tobytes()]] for s in member])
                advantage = f - (f.sum() - f) / (m - 1)
                score = member / psi[b] - (1 - member) / (1 - psi[b])           # [m, |V|]
                np.testing.assert_allclose(gains[b, j], np.mean(advantage * score[:, j]), rtol=1e-10, atol=1e-14)
                second = -member[:, j] / psi[b, j] ** 2 - (1 - member[:, j]) / (1 - psi[b, j]) ** 2
                expected = np.mean(advantage[:, None] * score[:, j:j + 1] * score, axis=0)
                expected[j] += np.mean(advantage * second)
                np.testing.assert_allclose(jac[b, j, b], expected, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("estimator", ["score", "relaxed", "exact"])
def test_padding_never_counts_and_gets_zero_gain(estimator):
    with jax.enable_x64(True):
        value, a, psi, mask, *_ = _problem()
        u = jax.random.uniform(jax.random.PRNGKey(3), (2, 3, 6, 6), jnp.float64)
        config = MeanFieldConfig(estimator=estimator, samples=3)
        gains = idiffmf.gradient_estimate(value, a, psi, mask, u, config)
        moved = idiffmf.gradient_estimate(value, a.at[1, -1].set(100.0), psi.at[1, -1].set(0.7), mask, u, config)
        assert float(gains[1, -1]) == 0.0
        np.testing.assert_allclose(gains, moved, rtol=1e-12)


def test_hard_dispatch_is_the_published_estimator():
    value, a, psi, mask, *_ = _problem()
    u = jax.random.uniform(jax.random.PRNGKey(3), (2, 3, 6, 6))
    np.testing.assert_array_equal(idiffmf.gradient_estimate(value, a, psi, mask, u, MeanFieldConfig()),
                                  idiffmf.marginal_gains(value, a, psi, mask, u))


@pytest.mark.parametrize("estimator, shared", [("score", False), ("score", True), ("relaxed", False),
                                               ("relaxed", True), ("exact", False)])
def test_torch_and_jax_estimators_agree_on_identical_weights_and_samples(estimator, shared):
    """Both frameworks implement each estimator (same equation); identical inputs give identical gains and
    identical ψ-Jacobian–vector products."""
    with jax.enable_x64(True):
        value, a, psi, mask, _, _, model, x = _problem()
        u = np.random.default_rng(2).random((2, 3, 6) if shared else (2, 3, 6, 6))
        config = MeanFieldConfig(estimator=estimator, samples=3, temperature=0.3)
        direction = np.random.default_rng(4).standard_normal((2, 6))
        fn = lambda p: idiffmf.gradient_estimate(value, a, p, mask, jnp.asarray(u), config)  # noqa: E731
        gains, tangent = jax.jvp(fn, (psi,), (jnp.asarray(direction),))
    a_t = model.element_terms(torch.as_tensor(x)).detach()
    mask_t = torch.tensor(np.array(mask))
    expected, expected_tangent = torch.autograd.functional.jvp(
        lambda p: baselines.gradient_estimate(model, a_t, p, mask_t, torch.as_tensor(u), config),
        torch.tensor(np.array(psi)), torch.as_tensor(direction))
    np.testing.assert_allclose(np.asarray(gains), expected.detach().numpy(), rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(np.asarray(tangent), expected_tangent.detach().numpy(), rtol=1e-9, atol=1e-12)

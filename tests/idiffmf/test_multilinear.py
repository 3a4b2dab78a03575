import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from setbench import baselines, idiffmf
from setbench.benchmarks.reference import ReferenceFlaxSetFunction, reference_gains_jax
from setbench.idiffmf import multilinear
from setbench.protocol import SetFunctionConfig

CONFIG = SetFunctionConfig(embed_dim=8, hidden_dim=16, num_layers=3)


def _torch_model(d=3):
    torch.manual_seed(0)
    return baselines.SetFunction(d, CONFIG)


def _flax_params_from(model: baselines.SetFunction) -> dict:
    """The torch weights, laid out as the Flax module's parameters (kernels transposed)."""
    t = lambda p: jnp.asarray(p.detach().numpy())  # noqa: E731
    params = {
        "phi": {"kernel": t(model.phi.weight).T, "bias": t(model.phi.bias)},
        "rho_in_kernel": t(model.rho_in.weight).T,
        "rho_in_bias": t(model.rho_in.bias),
        "rho_out": {"kernel": t(model.rho_out.weight).T, "bias": t(model.rho_out.bias)},
    }
    for i, layer in enumerate(model.rho_hidden):
        params[f"rho_hidden_{i}"] = {"kernel": t(layer.weight).T, "bias": t(layer.bias)}
    return {"params": params}


def test_parameter_layout_matches_the_flax_module():
    module = idiffmf.SetFunction(in_features=3, config=CONFIG)
    init = module.init(jax.random.PRNGKey(0), jnp.zeros((1, 4, 3)), jnp.zeros((1, 4)))
    converted = _flax_params_from(_torch_model())
    shapes = jax.tree_util.tree_map(jnp.shape, init)
    assert shapes == jax.tree_util.tree_map(jnp.shape, converted)


def test_initialisation_follows_torch_linear_bounds():
    module = idiffmf.SetFunction(in_features=3, config=CONFIG)
    params = module.init(jax.random.PRNGKey(0), jnp.zeros((1, 4, 3)), jnp.zeros((1, 4)))["params"]
    assert float(jnp.abs(params["phi"]["kernel"]).max()) <= 1 / np.sqrt(3)
    assert float(jnp.abs(params["rho_in_kernel"]).max()) <= 1 / np.sqrt(CONFIG.embed_dim)
    assert float(jnp.abs(params["rho_hidden_0"]["kernel"]).max()) <= 1 / np.sqrt(CONFIG.hidden_dim)


@pytest.mark.parametrize("shared", [False, True])
def test_torch_and_jax_estimators_agree_on_identical_weights_and_samples(shared):
    """Both frameworks implement Eq. (8)'s estimator; identical inputs give identical gains."""
    model = _torch_model()
    module = idiffmf.SetFunction(in_features=3, config=CONFIG)
    params = _flax_params_from(model)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 7, 3)).astype(np.float32)
    psi = rng.random((2, 7)).astype(np.float32)
    mask = np.ones((2, 7), bool)
    mask[1, -2:] = False
    u = rng.random((2, 4, 7) if shared else (2, 4, 7, 7)).astype(np.float32)

    with torch.no_grad():
        expected = baselines.marginal_gains(model, model.element_terms(torch.as_tensor(x)), torch.as_tensor(psi),
                                            torch.as_tensor(mask), torch.as_tensor(u)).numpy()
        f_torch = model(torch.as_tensor(x), torch.as_tensor(mask, dtype=torch.float32)).numpy()
    value = lambda z: module.apply(params, z, method=idiffmf.SetFunction.value)  # noqa: E731
    a = module.apply(params, jnp.asarray(x), method=idiffmf.SetFunction.element_terms)
    gains = idiffmf.marginal_gains(value, a, jnp.asarray(psi), jnp.asarray(mask), jnp.asarray(u))
    np.testing.assert_allclose(np.asarray(gains), expected, rtol=1e-5, atol=1e-5)
    f_jax = module.apply(params, jnp.asarray(x), jnp.asarray(mask, jnp.float32))
    np.testing.assert_allclose(np.asarray(f_jax), f_torch, rtol=1e-5, atol=1e-5)


def test_hard_sample_map_has_zero_derivative_in_psi():
    """Why Thm. 4.3's A is the identity under hard samples (the paper-reproduction setting)."""
    module = idiffmf.SetFunction(in_features=3, config=CONFIG)
    params = module.init(jax.random.PRNGKey(0), jnp.zeros((1, 5, 3)), jnp.zeros((1, 5)))
    x = jax.random.normal(jax.random.PRNGKey(1), (2, 5, 3))
    u = jax.random.uniform(jax.random.PRNGKey(2), (2, 3, 5, 5))
    mask = jnp.ones((2, 5), bool)
    value = lambda z: module.apply(params, z, method=idiffmf.SetFunction.value)  # noqa: E731
    a = module.apply(params, x, method=idiffmf.SetFunction.element_terms)
    jac = jax.jacobian(lambda psi: idiffmf.marginal_gains(value, a, psi, mask, u))(jnp.full((2, 5), 0.5))
    assert float(jnp.abs(jac).max()) == 0.0


def _fast_and_reference_loss(shared, dtype, weights=None):
    """Σ_j w_j · ∇̂F̃_j(ψ) as a function of the parameters, by the fast and the reference estimator
    (``weights`` ``[5, 7]``: random when ``None``)."""
    module = idiffmf.SetFunction(in_features=3, config=CONFIG)
    reference = ReferenceFlaxSetFunction(in_features=3, config=CONFIG)
    params = module.init(jax.random.PRNGKey(0), jnp.zeros((1, 7, 3)), jnp.zeros((1, 7)))
    params = jax.tree_util.tree_map(lambda p: p.astype(dtype), params)
    rng = np.random.default_rng(1)
    x = jnp.asarray(rng.standard_normal((5, 7, 3)), dtype)
    psi = jnp.asarray(rng.random((5, 7)), dtype)
    mask = np.ones((5, 7), bool)
    mask[1, -2:] = False
    mask[3, -3:] = False
    u = jnp.asarray(rng.random((5, 3, 7) if shared else (5, 3, 7, 7)), dtype)
    weights = jnp.asarray(rng.standard_normal((5, 7)) if weights is None else weights, dtype)

    def loss(params, model, estimate):
        value = lambda z: model.apply(params, z, method=type(model).value)  # noqa: E731
        a = model.apply(params, x, method=type(model).element_terms)
        gains = estimate(value, a, psi, jnp.asarray(mask), u)
        return jnp.sum(gains * weights), gains

    return params, lambda p: loss(p, module, idiffmf.marginal_gains), lambda p: loss(p, reference, reference_gains_jax)


@pytest.mark.parametrize("dtype,rtol", [("float32", 1e-5), ("float64", 1e-12)])
@pytest.mark.parametrize("block_rows", [1, 50, 100_000], ids=["one-set-blocks", "several-sets", "one-block"])
@pytest.mark.parametrize("shared", [False, True], ids=["fresh", "shared"])
def test_fast_estimator_equals_the_reference_forward_and_gradients(monkeypatch, block_rows, shared, dtype, rtol):
    """The blocked, factored estimate equals the mask-matmul reference (1e-5 relative in float32, 1e-12 in float64)."""
    monkeypatch.setattr(multilinear, "BLOCK_ROWS", block_rows)
    with jax.enable_x64(dtype == "float64"):
        params, fast, reference = _fast_and_reference_loss(shared, jnp.dtype(dtype))
        (_, gains), grads = jax.jit(jax.value_and_grad(fast, has_aux=True))(params)
        (_, expected), expected_grads = jax.jit(jax.value_and_grad(reference, has_aux=True))(params)
        assert gains.dtype == jnp.dtype(dtype)
        scale = float(jnp.abs(expected).max())
        assert float(jnp.abs(gains - expected).max()) <= rtol * scale
        # Relative to each parameter's own scale; a gradient that is zero up to rounding (ρ's output bias
        # cancels in F(S ∪ {j}) − F(S)) is compared at the scale of the largest gradient instead.
        leaves, expected_leaves = jax.tree_util.tree_leaves(grads), jax.tree_util.tree_leaves(expected_grads)
        largest = max(float(jnp.abs(g).max()) for g in expected_leaves)
        for got, want in zip(leaves, expected_leaves):
            own = float(jnp.abs(want).max())
            assert float(jnp.abs(got - want).max()) <= rtol * (own if own >= 1e-3 * largest else largest)


def _loss_like_weights() -> np.ndarray:
    """Cotangents as the loss of Eq. (4) leaves them: a few coordinates per set, none for set 1,
    all of set 2, and for set 3 only a padding position (which must carry nothing)."""
    weights = np.zeros((5, 7))
    weights[0, [1, 4]] = [0.7, -1.3]
    weights[2] = np.linspace(-1.0, 1.0, 7)
    weights[3, 6] = 2.0
    weights[4, [0, 2, 3, 5]] = [1.0, 0.5, -0.25, 3.0]
    return weights


@pytest.mark.parametrize("path", ["chunked", "plain"])
@pytest.mark.parametrize("chunk", [1, 3, 8])
@pytest.mark.parametrize("shared", [False, True], ids=["fresh", "shared"])
def test_backward_pass_re_evaluating_only_the_cotangents_coordinates_equals_the_reference(monkeypatch, path, chunk,
                                                                                            shared):
    """The chunked backward pass (only coordinates with a non-zero cotangent, chunks of 1, 3 and 8 of
    |V| = 7) and the plain one both give the reference gradients, to 1e-12 in float64."""
    monkeypatch.setattr(multilinear, "CHUNK", chunk)
    monkeypatch.setattr(multilinear, "CHUNKED_MAX_FRACTION", math.inf if path == "chunked" else -1.0)
    monkeypatch.setattr(multilinear, "BLOCK_ROWS", 60)  # several blocks of sets in both passes
    with jax.enable_x64(True):
        params, fast, reference = _fast_and_reference_loss(shared, jnp.float64, _loss_like_weights())
        grads = jax.jit(jax.grad(lambda p: fast(p)[0]))(params)
        expected = jax.jit(jax.grad(lambda p: reference(p)[0]))(params)
        leaves, expected_leaves = jax.tree_util.tree_leaves(grads), jax.tree_util.tree_leaves(expected)
        largest = max(float(jnp.abs(g).max()) for g in expected_leaves)
        assert largest > 0
        for got, want in zip(leaves, expected_leaves):
            assert float(jnp.abs(got - want).max()) <= 1e-12 * largest


def test_backward_pass_goes_by_chunks_for_the_loss_and_plainly_for_dense_cotangents():
    """At paper sizes (B = 128, |V| = 100, m = 5: 25 sets per block of chunks of 8): the loss of Eq. (4)
    reaches 20 coordinates per set (24 slots of 100) and goes by chunks; a dense cotangent (all 100, 104
    slots) and one reaching 80 per set (80 slots > 75 %) take the plain pass; Amazon-like counts (30
    coordinates, a few sets with all, most with 4-20) go by chunks."""
    per_block = 2048 // (2 * 5 * multilinear.CHUNK)
    takes = lambda counts, v: bool(multilinear._takes_chunks(jnp.asarray(counts), v, per_block))  # noqa: E731
    assert takes(np.full(128, 20), 100)
    assert not takes(np.full(128, 100), 100)
    assert not takes(np.full(128, 80), 100)
    assert takes(np.r_[np.full(4, 30), np.random.default_rng(0).integers(4, 21, 124)], 30)
    assert takes(np.zeros(128, int), 100)

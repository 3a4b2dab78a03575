import jax
import jax.numpy as jnp
import numpy as np
import pytest

from setbench.idiffmf import FixedPointConfig, contraction_factor, implicit_solver, solve


def _affine_problem(batch=4, v=5, seed=0):
    """T_b(ψ) = A_b ψ + c_b with ‖A_b‖₂ = ρ_b < 1 (a different contraction per set)."""
    rng = np.random.default_rng(seed)
    rates = np.linspace(0.1, 0.8, batch)
    a = []
    for rate in rates:
        m = rng.standard_normal((v, v))
        a.append(rate * m / np.linalg.norm(m, 2))
    a, c = np.stack(a), rng.standard_normal((batch, v))
    exact = np.linalg.solve(np.eye(v)[None] - a, c[..., None])[..., 0]
    return jnp.asarray(a), jnp.asarray(c), exact, rates


def _affine(psi, a, c):
    return jnp.einsum("bij,bj->bi", a, psi) + c


@pytest.mark.parametrize("solver", ["fixed_point", "anderson"])
def test_known_answer_and_per_set_iterations(solver):
    a, c, exact, _ = _affine_problem()
    cfg = FixedPointConfig(solver=solver, tol=1e-6, max_iter=200)
    psi, info = jax.jit(lambda a, c: solve(_affine, jnp.zeros_like(c), (a, c), cfg))(a, c)
    np.testing.assert_allclose(psi, exact, atol=1e-5)
    assert bool(info.converged.all())
    assert (np.asarray(info.residual) <= 1e-6).all()
    if solver == "fixed_point":
        iterations = np.asarray(info.iterations)
        # Slower contraction, more iterations: each set is judged on its own.
        assert (np.diff(iterations) >= 0).all() and iterations[0] < iterations[-1]


def test_anderson_needs_fewer_iterations_than_plain_iteration():
    a, c, _, _ = _affine_problem(v=8, seed=1)
    runs = {s: solve(_affine, jnp.zeros_like(c), (a, c), FixedPointConfig(solver=s, max_iter=500))[1]
            for s in ("fixed_point", "anderson")}
    assert int(runs["anderson"].iterations.max()) < int(runs["fixed_point"].iterations.max())


def test_tolerance_does_not_depend_on_the_batch():
    a, c, _, _ = _affine_problem()
    cfg = FixedPointConfig(max_iter=200)
    _, together = solve(_affine, jnp.zeros_like(c), (a, c), cfg)
    for b in range(c.shape[0]):
        _, alone = solve(_affine, jnp.zeros_like(c[b:b + 1]), (a[b:b + 1], c[b:b + 1]), cfg)
        assert int(alone.iterations[0]) == int(together.iterations[b])


def test_zero_tolerance_runs_exactly_max_iter():
    a, c, _, _ = _affine_problem()
    _, info = solve(_affine, jnp.zeros_like(c), (a, c), FixedPointConfig(tol=0.0, max_iter=7))
    assert (np.asarray(info.iterations) == 7).all()


def test_zero_tolerance_runs_exactly_max_iter_on_a_piecewise_constant_map():
    """A constant map (as hard samples make T) reaches residual 0 after one step; tol = 0 still runs 7."""
    calls = []
    c = jnp.full((3, 5), 0.25)

    def constant(psi, c):
        jax.debug.callback(lambda: calls.append(1))
        return c

    _, info = solve(constant, jnp.full_like(c, 0.5), (c,), FixedPointConfig(tol=0.0, max_iter=7))
    jax.effects_barrier()
    assert len(calls) == 7
    assert (np.asarray(info.iterations) == 7).all()
    assert bool(info.converged.all()) and (np.asarray(info.residual) == 0).all()


def test_iteration_cap_reports_not_converged():
    a, c, _, _ = _affine_problem()
    _, info = solve(_affine, jnp.zeros_like(c), (a * 1.2, c), FixedPointConfig(max_iter=3))
    assert not bool(info.converged.any())


def test_nan_is_never_converged_and_stops_the_loop():
    def nan_map(psi, c):
        return psi * jnp.nan + c

    c = jnp.ones((2, 3))
    _, info = solve(nan_map, jnp.zeros_like(c), (c,), FixedPointConfig(max_iter=50))
    assert not bool(info.converged.any())
    assert int(info.iterations.max()) == 1
    assert np.isnan(np.asarray(info.residual)).all()


@pytest.mark.parametrize("backward", ["normal_cg", "gmres"])
def test_implicit_gradient_matches_finite_differences(backward):
    """Thm. 4.3 on a smooth contractive map, in float64."""
    with jax.enable_x64(True):
        rng = np.random.default_rng(0)
        w = jnp.asarray(0.4 * rng.standard_normal((3, 4, 4)) / 2.0)
        theta = jnp.asarray(rng.standard_normal((3, 4)))
        weights = jnp.asarray(rng.standard_normal((3, 4)))

        def T(psi, w, theta):
            return 0.5 * jnp.tanh(jnp.einsum("bij,bj->bi", w, psi) + theta)

        cfg = FixedPointConfig(tol=1e-12, max_iter=500, backward=backward, backward_tol=1e-12, backward_max_iter=100)
        solver = implicit_solver(T, cfg)

        def objective(theta):
            psi, _ = solver(jnp.zeros_like(theta), w, theta)
            return jnp.sum(weights * psi)

        grad = jax.grad(objective)(theta)
        eps = 1e-6
        fd = np.zeros(theta.shape)
        for idx in np.ndindex(theta.shape):
            step = jnp.zeros_like(theta).at[idx].set(eps)
            fd[idx] = (objective(theta + step) - objective(theta - step)) / (2 * eps)
        np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("kwargs, message", [
    ({"solver": "newton"}, "solver must be one of"),
    ({"backward": "lu"}, "backward must be one of"),
    ({"tol": -1.0}, "tol must be a finite number >= 0"),
    ({"max_iter": 0}, "max_iter must be a positive integer"),
    ({"solver": "anderson", "anderson_history": 1}, "anderson_history must be >= 2"),
])
def test_config_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        FixedPointConfig(**kwargs)


def test_contraction_factor_is_the_spectral_norm_of_each_sets_jacobian():
    """Known answer: T_b(ψ) = A_b ψ + c_b has ∂T/∂ψ = A_b with ‖A_b‖₂ = ρ_b."""
    a, c, exact, rates = _affine_problem(v=6, seed=2)
    omega = contraction_factor(_affine, jnp.asarray(exact), (a, c), jax.random.PRNGKey(0), iterations=100)
    np.testing.assert_allclose(omega, rates, rtol=1e-4)
    zero = contraction_factor(lambda psi, c: 0.0 * psi + c, jnp.asarray(exact), (c,), jax.random.PRNGKey(0))
    assert float(jnp.abs(zero).max()) == 0.0


@pytest.mark.parametrize("backward", ["normal_cg", "gmres"])
def test_backward_solve_reports_its_residual_per_set(backward):
    a, c, _, _ = _affine_problem()
    reports = []
    cfg = FixedPointConfig(tol=1e-8, max_iter=300, backward=backward, backward_tol=1e-10, backward_max_iter=50)
    solver = implicit_solver(_affine, cfg, on_backward=lambda residual, scale: reports.append((residual, scale)))
    grad = jax.jit(jax.grad(lambda c: jnp.sum(solver(jnp.zeros_like(c), a, c)[0] ** 2)))(c)
    grad.block_until_ready()
    jax.effects_barrier()
    assert len(reports) == 1
    residual, scale = map(np.asarray, reports[0])
    assert residual.shape == scale.shape == (4,)
    assert (scale > 0).all() and (residual / scale < 1e-5).all()  # float32


def test_a_truncated_backward_solve_reports_a_large_residual():
    a, c, _, _ = _affine_problem()
    reports = []
    cfg = FixedPointConfig(tol=1e-8, max_iter=300, backward="normal_cg", backward_max_iter=1)
    solver = implicit_solver(_affine, cfg, on_backward=lambda residual, scale: reports.append((residual, scale)))
    jax.grad(lambda c: jnp.sum(solver(jnp.zeros_like(c), a, c)[0] ** 2))(c)
    jax.effects_barrier()
    assert (np.asarray(reports[0][0]) / np.asarray(reports[0][1]) > 1e-3).any()  # one CG iteration is not enough


def test_unconverged_fraction_must_be_a_fraction():
    with pytest.raises(ValueError, match=r"max_unconverged_fraction must be in \[0, 1\], got 1.5"):
        FixedPointConfig(max_unconverged_fraction=1.5)

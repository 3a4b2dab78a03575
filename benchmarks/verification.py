"""Scientific checks of the mean-field machinery: exact mode, Thm. 4.2 and 4.3, the estimators, normalisation.

Every check builds a small float64 instance (both frameworks on identical weights), measures, and
returns a :class:`CheckResult` with the figures and whether the claim held. ``make verify`` renders
them into ``results/verification.md`` (:mod:`.verification_report`); ``tests/benchmarks`` asserts them.

* :func:`implicit_vs_finite_differences` — exact mode: Thm. 4.3's implicit gradient equals central
  finite differences of the solved fixed point, for each normalisation.
* :func:`unrolled_convergence` — exact mode: DiffMF's K-step unrolled gradient (PyTorch) converges to
  iDiffMF's implicit gradient (JAX) as K grows, geometrically at the spectral radius of ``∂_ψT(ψ*)``.
* :func:`unique_fixed_point` — Thm. 4.2: with ``sup|F̃| < 1/|V|`` (Asm. 4.1), iteration from random
  starts reaches one ψ*.
* :func:`hard_degeneracy` — hard samples: ``∂_ψT = 0``, so the implicit gradient is the one-step
  gradient at ψ*, and DiffMF's unrolled gradient equals the detached one bit for bit.
* :func:`estimator_bias_variance` — hard, score and relaxed against exact: bias and spread of the
  ``∇_ψ F̃`` estimate, of its ψ-Jacobian and of the resulting implicit gradient.
* :func:`normalization_invariance` — batch-wide vs per-set norms: does a set's ψ* depend on its batch?

The module runs past the usual 400 lines on purpose: the six checks share one instance builder and
a handful of helpers, and splitting them would only export those private helpers across modules.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import numpy as np

from setbench.protocol import MeanFieldConfig, SetFunctionConfig, subset_matrix

__all__ = [
    "CheckResult",
    "Instance",
    "estimator_bias_variance",
    "flax_params_from_torch",
    "hard_degeneracy",
    "implicit_vs_finite_differences",
    "normalization_invariance",
    "unique_fixed_point",
    "unrolled_convergence",
]

#: Tolerance of the forward solves in the checks (float64).
_TOL = 1e-13


@dataclasses.dataclass(frozen=True)
class CheckResult:
    """Outcome of one check: ``figures`` are the measured numbers, ``rows`` an optional table."""

    name: str
    claim: str
    passed: bool
    figures: dict[str, Any]
    rows: tuple[dict[str, Any], ...] = ()


@dataclasses.dataclass(frozen=True, kw_only=True)
class Instance:
    """A small problem shared by both frameworks (float64).

    Attributes:
        v_size, batch, features: ``|V|``, number of sets and item dimension.
        model: the set function's widths.
        sup_f: if set, F is scaled (through ρ's output layer) so that ``max_S |F(S)| = sup_f``
            over all sets; ``sup_f < 1/|V|`` is Asm. 4.1 (``sup_ψ |F̃| = max_S |F(S)|``).
        padding: pad the last set's last position (exercises masks).
        seed: weights, features and labels.
    """

    v_size: int = 6
    batch: int = 3
    features: int = 2
    model: SetFunctionConfig = SetFunctionConfig(embed_dim=8, hidden_dim=16, num_layers=2)
    sup_f: float | None = None
    padding: bool = False
    seed: int = 0


class _Problem(NamedTuple):
    torch_model: Any      # setbench.baselines.SetFunction, float64
    module: Any           # setbench.idiffmf.SetFunction
    params: Any           # its float64 parameters, equal to the torch weights
    x: np.ndarray         # float64 [B, |V|, d]
    mask: np.ndarray      # bool [B, |V|]
    optimal: np.ndarray   # bool [B, |V|]
    loss_mask: np.ndarray  # bool [B, |V|]


def flax_params_from_torch(model, *, gradients: bool = False) -> dict:
    """The torch :class:`~setbench.baselines.SetFunction`'s weights (or, with ``gradients``, their
    ``.grad``) in the Flax module's parameter layout (kernels transposed), as NumPy arrays of the
    torch dtype (JAX converts them where they are used, float64 inside ``jax.enable_x64``)."""

    def t(p):
        return (p.grad if gradients else p).detach().numpy().copy()

    params = {
        "phi": {"kernel": t(model.phi.weight).T, "bias": t(model.phi.bias)},
        "rho_in_kernel": t(model.rho_in.weight).T,
        "rho_in_bias": t(model.rho_in.bias),
        "rho_out": {"kernel": t(model.rho_out.weight).T, "bias": t(model.rho_out.bias)},
    }
    for i, layer in enumerate(model.rho_hidden):
        params[f"rho_hidden_{i}"] = {"kernel": t(layer.weight).T, "bias": t(layer.bias)}
    return {"params": params}


def _build(instance: Instance) -> _Problem:
    """The instance in both frameworks; call inside ``jax.enable_x64(True)``."""
    import torch

    from setbench import baselines, idiffmf

    rng = np.random.default_rng(instance.seed)
    b, v = instance.batch, instance.v_size
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(instance.seed)
        model = baselines.SetFunction(instance.features, instance.model).double()
    x = rng.standard_normal((b, v, instance.features))
    mask = np.ones((b, v), bool)
    if instance.padding:
        mask[-1, -1] = False
    optimal = np.zeros((b, v), bool)
    for row in range(b):
        optimal[row, rng.choice(int(mask[row].sum()), size=2, replace=False)] = True
    if instance.sup_f is not None:
        subsets = torch.tensor(subset_matrix(v))[None] * torch.as_tensor(mask, dtype=torch.float64)[:, None]
        with torch.no_grad():
            largest = model(torch.as_tensor(x), subsets).abs().max()
            model.rho_out.weight.mul_(instance.sup_f / largest)
            model.rho_out.bias.mul_(instance.sup_f / largest)
    module = idiffmf.SetFunction(in_features=instance.features, config=instance.model)
    return _Problem(model, module, flax_params_from_torch(model), x, mask, optimal, mask.copy())


def _idiffmf_config(estimator: str = "exact", normalization: str = "c", scope: str = "batch", c: float = 1.0,
                    samples: int = 5, temperature: float = 0.5, max_iter: int = 5000):
    from setbench.idiffmf import FixedPointConfig, IDiffMFConfig

    return IDiffMFConfig(
        mean_field=MeanFieldConfig(estimator=estimator, samples=samples, temperature=temperature),
        normalization=normalization, normalization_scope=scope, c=c,
        fixed_point=FixedPointConfig(tol=_TOL, max_iter=max_iter, backward="gmres", backward_tol=1e-13,
                                     backward_max_iter=200),
    )


def _objective(problem: _Problem, cfg):
    """``(loss(params, u), T, solve_fn)``: Eq. (4) at ψ*(params, u), differentiable implicitly (Thm. 4.3)."""
    import jax.numpy as jnp

    from setbench import idiffmf

    T = idiffmf.mean_field_map(problem.module, cfg)
    solver = idiffmf.implicit_solver(T, cfg.fixed_point)
    x, mask = jnp.asarray(problem.x), jnp.asarray(problem.mask)
    weight = jnp.ones(problem.x.shape[0])

    def args(params, u):
        return problem.module.apply(params, x, method=idiffmf.SetFunction.element_terms), params, u, mask

    def loss(params, u):
        psi, _ = solver(0.5 * mask.astype(x.dtype), *args(params, u))
        return idiffmf.cross_entropy(psi, jnp.asarray(problem.optimal), jnp.asarray(problem.loss_mask), weight)

    return loss, T, args


def _flat(tree) -> np.ndarray:
    import jax

    return np.concatenate([np.ravel(np.asarray(leaf)) for leaf in jax.tree_util.tree_leaves(tree)])


def _no_samples(problem: _Problem):
    import jax.numpy as jnp

    return jnp.zeros((problem.x.shape[0], 1, problem.x.shape[1]))  # the exact estimator ignores u


def implicit_vs_finite_differences(*, instance: Instance = Instance(padding=True), directions: int = 3,
                                   eps: float = 1e-6,
                                   settings: tuple[tuple[str, str], ...] = (("c", "batch"), ("fro", "batch"),
                                                                           ("nuclear", "batch"), ("fro", "set")),
                                   threshold: float = 1e-4) -> CheckResult:
    """Exact mode: ``⟨∇_θ L(ψ*), d⟩`` (Thm. 4.3) vs ``(L(θ + εd) − L(θ − εd)) / 2ε`` along random directions ``d``."""
    import jax

    rows = []
    with jax.enable_x64(True):
        problem = _build(instance)
        u = _no_samples(problem)
        rng = np.random.default_rng(instance.seed + 1)
        for normalization, scope in settings:
            loss, _, _ = _objective(problem, _idiffmf_config(normalization=normalization, scope=scope))
            loss = jax.jit(loss)
            grad = jax.jit(jax.grad(loss))(problem.params, u)
            errors = []
            for _ in range(directions):
                direction = jax.tree_util.tree_map(lambda p: rng.standard_normal(p.shape), problem.params)
                shifted = lambda s: jax.tree_util.tree_map(lambda p, d: p + s * d, problem.params, direction)  # noqa: E731
                fd = (float(loss(shifted(eps), u)) - float(loss(shifted(-eps), u))) / (2 * eps)
                analytic = float(np.dot(_flat(grad), _flat(direction)))
                errors.append(abs(fd - analytic) / max(abs(analytic), 1e-300))
            rows.append({"normalization": normalization, "scope": scope, "max relative error": max(errors)})
    worst = max(row["max relative error"] for row in rows)
    return CheckResult(
        name="exact-implicit-vs-fd",
        claim=f"exact mode: implicit gradient (Thm. 4.3) = central finite differences, relative error < {threshold:g}",
        passed=worst < threshold,
        figures={"max relative error": worst, "directions": directions, "eps": eps, "|V|": instance.v_size,
                 "sets": instance.batch},
        rows=tuple(rows),
    )


def _per_set_jacobians(T, psi, args) -> np.ndarray:
    """float ``[B, |V|, |V|]``: the diagonal blocks of ``∂_ψT`` (the map acts on each set independently)."""
    import jax

    full = np.asarray(jax.jacobian(lambda p: T(p, *args))(psi))   # [B, V, B, V]
    return np.stack([full[b, :, b, :] for b in range(full.shape[0])])


def _torch_unrolled_backward(problem: _Problem, iterations: int, mean_field: MeanFieldConfig,
                             keep_graph: bool = True) -> None:
    """DiffMF (PyTorch): Eq. (4) after ``iterations`` unrolled steps from ψ⁰ = 0.5, backpropagated into
    the model's ``.grad`` (the uniforms come from a fixed generator, so repeated calls see the same ones)."""
    import torch

    from setbench import baselines

    model = problem.torch_model
    model.zero_grad(set_to_none=True)
    psi, _ = baselines.unrolled_psi(model, torch.as_tensor(problem.x), torch.as_tensor(problem.mask), iterations,
                                    mean_field, torch.Generator().manual_seed(0), keep_graph=keep_graph)
    baselines.cross_entropy(psi, torch.as_tensor(problem.optimal, dtype=torch.float64),
                            torch.as_tensor(problem.loss_mask, dtype=torch.float64)).backward()


def _torch_unrolled_gradient(problem: _Problem, iterations: int, mean_field: MeanFieldConfig) -> np.ndarray:
    _torch_unrolled_backward(problem, iterations, mean_field)
    return _flat(flax_params_from_torch(problem.torch_model, gradients=True))


def unrolled_convergence(*, instance: Instance = Instance(sup_f=5.0), k_max: int = 40,
                         rate_tolerance: float = 0.15) -> CheckResult:
    """Exact mode: ``‖∇_θ L(ψ^(K)) − ∇_θ L(ψ*)‖ / ‖∇_θ L(ψ*)‖`` for K = 1..k_max and its geometric rate.

    DiffMF's map is ``σ(∇_ψ F̃)``; iDiffMF_c with ``c = 2/|V|`` applies the same map, so the two
    gradients differ only by unrolling vs implicit differentiation. The rate is the geometric mean
    of ``e_{K+1}/e_K`` over the K where ``e_K`` lies between 1e-3 and 1e-11; the claim is that it is
    within ``rate_tolerance`` (relative) of the spectral radius ``ρ(∂_ψT(ψ*))``.
    """
    import jax
    import jax.numpy as jnp

    from setbench import idiffmf

    mean_field = MeanFieldConfig(estimator="exact")
    with jax.enable_x64(True):
        problem = _build(instance)
        cfg = _idiffmf_config(normalization="c", c=2.0 / instance.v_size)
        loss, T, args = _objective(problem, cfg)
        u = _no_samples(problem)
        implicit = _flat(jax.grad(loss)(problem.params, u))
        a = args(problem.params, u)
        psi, _ = idiffmf.solve(T, 0.5 * jnp.asarray(problem.mask, jnp.float64), a, cfg.fixed_point)
        blocks = _per_set_jacobians(T, psi, a)
        radius = max(float(np.max(np.abs(np.linalg.eigvals(block)))) for block in blocks)
        norm = max(float(np.linalg.norm(block, 2)) for block in blocks)
        omega = float(np.max(idiffmf.contraction_factor(T, psi, a, jax.random.PRNGKey(0), iterations=50)))
    errors = np.array([np.linalg.norm(_torch_unrolled_gradient(problem, k, mean_field) - implicit)
                       for k in range(1, k_max + 1)]) / np.linalg.norm(implicit)
    window = np.flatnonzero((errors < 1e-3) & (errors > 1e-11))
    window = window[window < len(errors) - 1]
    rate = float(np.exp(np.mean(np.log(errors[window + 1] / errors[window])))) if len(window) else float("nan")
    rows = tuple({"K": k, "relative gradient error": float(errors[k - 1])}
                 for k in (1, 2, 3, 5, 10, 15, 20, 30, 40) if k <= k_max)
    return CheckResult(
        name="exact-unrolled-to-implicit",
        claim=("exact mode: DiffMF's K-step unrolled gradient → the implicit gradient as K grows, at a geometric "
               f"rate within {100 * rate_tolerance:.0f} % of the spectral radius of ∂T/∂ψ at ψ*"),
        passed=bool(np.isfinite(rate) and abs(rate - radius) <= rate_tolerance * radius and errors[-1] < 1e-8),
        figures={"fitted rate": rate, "spectral radius ρ(∂T/∂ψ)": radius, "‖∂T/∂ψ‖₂ (exact)": norm,
                 "ω by power iteration": omega, f"error at K={k_max}": float(errors[-1]),
                 "K in the fit": f"{window[0] + 1}–{window[-1] + 2}" if len(window) else "—",
                 "max_S |F(S)|": instance.sup_f},
        rows=rows,
    )


def unique_fixed_point(*, instance: Instance = Instance(v_size=8, batch=4), starts: int = 5,
                       threshold: float = 1e-6) -> CheckResult:
    """Thm. 4.2: F scaled to ``sup|F̃| = 0.9/|V|`` (Asm. 4.1); iteration of ``σ(∇F̃)`` from random starts meets."""
    import jax
    import jax.numpy as jnp

    from setbench import idiffmf

    instance = dataclasses.replace(instance, sup_f=0.9 / instance.v_size)
    with jax.enable_x64(True):
        problem = _build(instance)
        cfg = _idiffmf_config(normalization="c", c=2.0 / instance.v_size)
        _, T, args = _objective(problem, cfg)
        a = args(problem.params, _no_samples(problem))
        key = jax.random.PRNGKey(instance.seed)
        solutions, iterations = [], []
        for start in range(starts):
            psi0 = jax.random.uniform(jax.random.fold_in(key, start), problem.mask.shape, jnp.float64)
            psi, info = idiffmf.solve(T, psi0 * jnp.asarray(problem.mask), a, cfg.fixed_point)
            solutions.append(np.asarray(psi))
            iterations.append(int(np.max(info.iterations)))
        norm = max(float(np.linalg.norm(block, 2)) for block in _per_set_jacobians(T, jnp.asarray(solutions[0]), a))
    spread = max(float(np.max(np.abs(s - solutions[0]))) for s in solutions)
    return CheckResult(
        name="unique-fixed-point",
        claim=f"Thm. 4.2: with sup|F̃| < 1/|V|, {starts} random starts reach the same ψ* (max difference < {threshold:g})",
        passed=spread < threshold,
        figures={"max difference between starts": spread, "sup|F̃|·|V|": 0.9, "iterations (max)": max(iterations),
                 "‖∂T/∂ψ(ψ*)‖₂ (max over sets)": norm, "|V|": instance.v_size, "sets": instance.batch},
    )


def hard_degeneracy(*, instance: Instance = Instance(v_size=8, batch=4), samples: int = 5,
                    unrolled_steps: int = 5) -> CheckResult:
    """Hard samples (as published): ``∂_ψT(ψ*) = 0``; implicit gradient = one-step gradient at ψ*; DiffMF's
    unrolled gradient = the gradient with ψ detached between steps.

    iDiffMF_2's map (batch Frobenius normalisation, fresh samples per coordinate) in JAX; DiffMF's
    K-step unroll in PyTorch, with the graph kept as published and detached.
    """
    import jax
    import jax.numpy as jnp
    import torch

    from setbench import idiffmf

    mean_field = MeanFieldConfig(estimator="hard", samples=samples)
    with jax.enable_x64(True):
        problem = _build(instance)
        cfg = _idiffmf_config(estimator="hard", normalization="fro", samples=samples, max_iter=200)
        loss, T, args = _objective(problem, cfg)
        u = idiffmf.draw_uniforms(jax.random.PRNGKey(instance.seed), instance.batch, instance.v_size, samples, False)
        implicit = _flat(jax.grad(loss)(problem.params, u))
        psi, info = idiffmf.solve(T, 0.5 * jnp.asarray(problem.mask, jnp.float64), args(problem.params, u),
                                  cfg.fixed_point)

        def one_step(params):
            psi_next = T(jax.lax.stop_gradient(psi), *args(params, u))
            return idiffmf.cross_entropy(psi_next, jnp.asarray(problem.optimal), jnp.asarray(problem.loss_mask),
                                         jnp.ones(instance.batch))

        one = _flat(jax.grad(one_step)(problem.params))
        jacobian = float(np.max(np.abs(_per_set_jacobians(T, psi, args(problem.params, u)))))
    gradients = {}
    for keep_graph in (True, False):
        _torch_unrolled_backward(problem, unrolled_steps, mean_field, keep_graph)
        gradients[keep_graph] = [p.grad.clone() for p in problem.torch_model.parameters()]
    kept, detached = gradients[True], gradients[False]
    identical = all(torch.equal(k, d) for k, d in zip(kept, detached))
    torch_diff = max(float((k - d).abs().max()) for k, d in zip(kept, detached))
    difference = float(np.max(np.abs(implicit - one)) / np.max(np.abs(implicit)))
    return CheckResult(
        name="hard-degeneracy",
        claim=("hard samples: ∂T/∂ψ = 0, so Thm. 4.3's A = I and the implicit gradient equals the one-step gradient "
               "at ψ*; DiffMF's unrolled gradient equals the gradient with ψ detached between steps, bit for bit"),
        passed=jacobian == 0.0 and difference < 1e-12 and identical,
        figures={"max |∂T/∂ψ(ψ*)|": jacobian, "implicit vs one-step (max relative difference)": difference,
                 "sets converged": f"{int(np.sum(np.asarray(info.converged)))}/{instance.batch}",
                 f"DiffMF K={unrolled_steps}: kept vs detached graph, max |difference|": torch_diff,
                 "bit-identical": identical},
    )


def _bias_spread(estimates: np.ndarray, truth: np.ndarray, used: np.ndarray) -> tuple[float, float, float]:
    """``(‖mean − truth‖/‖truth‖, √(mean ‖x − mean‖²)/‖truth‖, max |z|)`` over the ``used`` entries."""
    estimates, truth = estimates[:, used], truth[used]
    mean = estimates.mean(axis=0)
    scale = np.linalg.norm(truth)
    spread = np.sqrt(np.mean(np.sum((estimates - mean) ** 2, axis=1)))
    standard_error = estimates.std(axis=0, ddof=1) / np.sqrt(len(estimates))
    z = np.abs(mean - truth) / np.maximum(standard_error, 1e-300)
    return float(np.linalg.norm(mean - truth) / scale), float(spread / scale), float(z.max())


def estimator_bias_variance(*, instance: Instance = Instance(v_size=6, batch=2, sup_f=5.0), replicates: int = 200,
                            samples: int = 5, temperatures: tuple[float, ...] = (1.0, 0.5, 0.1),
                            z_threshold: float = 4.5) -> CheckResult:
    """Each estimator against exact, over ``replicates`` independent draws of its uniforms.

    Three derivative estimates: the gains ``∇_ψ F̃`` at a fixed ψ; their ψ-Jacobian (``∇²_ψ F̃``, what
    Thm. 4.3's ``A`` needs; off-diagonal entries — the diagonal of ``∇²F̃`` is 0); and the implicit
    gradient ``∇_θ L(ψ*)`` of the map ``σ(∇F̃)`` (iDiffMF_c with ``c = 2/|V|``; F scaled so that
    ``ρ(∂_ψT) ≈ 0.4`` and ``A`` matters) at the estimator's own fixed point, against exact mode's. Claims: hard and score gains are unbiased and the score Hessian is unbiased
    (``max |z| < z_threshold``; z = bias / standard error per entry); the relaxed gains' bias shrinks
    as τ decreases. Figures are relative to the norm of the exact quantity.
    """
    import jax
    import jax.numpy as jnp

    from setbench import idiffmf

    settings = [("hard", None), ("score", None)] + [("relaxed", t) for t in temperatures]
    rows = []
    with jax.enable_x64(True):
        problem = _build(instance)
        b, v = instance.batch, instance.v_size
        key = jax.random.PRNGKey(instance.seed)
        psi = jax.random.uniform(jax.random.fold_in(key, 10**6), (b, v), jnp.float64, 0.2, 0.8)
        mask = jnp.asarray(problem.mask)
        a = problem.module.apply(problem.params, jnp.asarray(problem.x), method=idiffmf.SetFunction.element_terms)
        value = lambda z: problem.module.apply(problem.params, z, method=idiffmf.SetFunction.value)  # noqa: E731
        exact_gains = np.asarray(idiffmf.exact_gains(value, a, psi, mask)).ravel()
        off_diagonal = np.tile(~np.eye(v, dtype=bool)[None], (b, 1, 1)).ravel()

        def blocks(gains_fn, u):
            full = jax.jacobian(lambda p: gains_fn(p, u))(psi)
            return jnp.stack([full[i, :, i, :] for i in range(b)])

        exact_fn = lambda p, u: idiffmf.exact_gains(value, a, p, mask)  # noqa: E731
        exact_hessian = np.asarray(blocks(exact_fn, None)).ravel()
        c = 2.0 / v
        exact_loss, _, _ = _objective(problem, _idiffmf_config(estimator="exact", c=c, max_iter=500))
        exact_gradient = _flat(jax.grad(exact_loss)(problem.params, _no_samples(problem)))
        for estimator, temperature in settings:
            mean_field = MeanFieldConfig(estimator=estimator, samples=samples, temperature=temperature or 0.5)
            gains_fn = lambda p, u: idiffmf.gradient_estimate(value, a, p, mask, u, mean_field)  # noqa: E731,B023
            cfg = _idiffmf_config(estimator=estimator, c=c, samples=samples, temperature=temperature or 0.5,
                                  max_iter=500)
            loss, T, args = _objective(problem, cfg)
            measure = jax.jit(lambda u: (gains_fn(psi, u), blocks(gains_fn, u), jax.grad(loss)(problem.params, u),  # noqa: B023
                                         idiffmf.solve(T, 0.5 * mask.astype(psi.dtype), args(problem.params, u),  # noqa: B023
                                                       cfg.fixed_point)[1].converged))  # noqa: B023
            gains, hessians, gradients, converged = [], [], [], []
            for r in range(replicates):
                u = idiffmf.draw_uniforms(jax.random.fold_in(key, r), b, v, samples, False)
                g, h, grad, ok = measure(u)
                gains.append(np.asarray(g).ravel())
                hessians.append(np.asarray(h).ravel())
                gradients.append(_flat(grad))
                converged.append(np.asarray(ok))
            g_bias, g_spread, g_z = _bias_spread(np.stack(gains), exact_gains, np.ones(b * v, bool))
            # hard: measured like the others; its ψ-Jacobian is 0 (bias 1, spread 0, |z| infinite)
            h_bias, h_spread, h_z = _bias_spread(np.stack(hessians), exact_hessian, off_diagonal)
            gradients = np.stack(gradients)
            d_bias, d_spread, _ = _bias_spread(gradients, exact_gradient, np.ones(len(exact_gradient), bool))
            d_median = float(np.median(np.linalg.norm(gradients - exact_gradient, axis=1)) / np.linalg.norm(exact_gradient))
            rows.append({"estimator": estimator if temperature is None else f"relaxed τ={temperature:g}",
                         "gains bias": g_bias, "gains spread": g_spread, "gains max |z|": g_z,
                         "Hessian bias": h_bias, "Hessian spread": h_spread, "Hessian max |z|": h_z,
                         "implicit-gradient bias": d_bias, "implicit-gradient spread": d_spread,
                         "implicit-gradient median error": d_median,
                         "solves converged": float(np.mean(np.concatenate(converged)))})
    by_name = {row["estimator"]: row for row in rows}
    relaxed_bias = [by_name[f"relaxed τ={t:g}"]["gains bias"] for t in sorted(temperatures, reverse=True)]
    passed = (by_name["hard"]["gains max |z|"] < z_threshold and by_name["score"]["gains max |z|"] < z_threshold
              and by_name["score"]["Hessian max |z|"] < z_threshold
              and all(later < earlier for earlier, later in zip(relaxed_bias, relaxed_bias[1:])))
    return CheckResult(
        name="estimators-vs-exact",
        claim=(f"hard and score estimate ∇F̃ without bias and score's ψ-derivative estimates ∇²F̃ without bias "
               f"(max |z| < {z_threshold:g}); relaxed is biased, less so as τ decreases"),
        passed=passed,
        figures={"replicates": replicates, "samples m": samples, "|V|": instance.v_size, "sets": instance.batch,
                 "exact ‖∇F̃‖": float(np.linalg.norm(exact_gains)),
                 "exact ‖∇²F̃‖ (off-diagonal)": float(np.linalg.norm(exact_hessian[off_diagonal]))},
        rows=tuple(rows),
    )


def normalization_invariance(*, instance: Instance = Instance(v_size=8, batch=6), estimator: str = "relaxed",
                             samples: int = 5, normalizations: tuple[str, ...] = ("fro", "nuclear"),
                             threshold: float = 1e-12) -> CheckResult:
    """Does a set's ψ* depend on the other sets of its batch? Solve a batch, each set alone, and the batch
    in a shuffled order (each set keeping its own uniforms), for batch-wide and per-set norms."""
    import jax
    import jax.numpy as jnp

    from setbench import idiffmf

    rows, solutions = [], {}
    with jax.enable_x64(True):
        problem = _build(instance)
        b, v = instance.batch, instance.v_size
        u = idiffmf.draw_uniforms(jax.random.PRNGKey(instance.seed), b, v, samples, False)
        order = np.random.default_rng(instance.seed).permutation(b)
        for normalization in normalizations:
            for scope in ("batch", "set"):
                cfg = _idiffmf_config(estimator=estimator, normalization=normalization, scope=scope, samples=samples,
                                      max_iter=500)
                _, T, args = _objective(problem, cfg)
                element_terms, params, _, mask = args(problem.params, u)

                @jax.jit
                def solve_rows(element_terms, u, mask, T=T, cfg=cfg):
                    sub = (element_terms, params, u, mask)
                    return idiffmf.solve(T, 0.5 * mask.astype(jnp.float64), sub, cfg.fixed_point)[0]

                def solve(rows_):
                    return np.asarray(solve_rows(element_terms[rows_], u[rows_], mask[rows_]))

                together = solve(np.arange(b))
                alone = np.concatenate([solve(np.array([i])) for i in range(b)])
                shuffled = np.empty_like(together)
                shuffled[order] = solve(order)
                solutions[normalization, scope] = together
                rows.append({"normalization": normalization, "scope": scope,
                             "alone vs in batch": float(np.max(np.abs(alone - together))),
                             "shuffled vs in order": float(np.max(np.abs(shuffled - together)))})
    per_set = [max(r["alone vs in batch"], r["shuffled vs in order"]) for r in rows if r["scope"] == "set"]
    figures: dict[str, Any] = {"estimator": estimator, "sets": b, "|V|": v}
    if {"fro", "nuclear"} <= set(normalizations):
        figures["fro vs nuclear per set (max |Δψ*|)"] = float(
            np.max(np.abs(solutions["fro", "set"] - solutions["nuclear", "set"])))
    return CheckResult(
        name="normalization-invariance",
        claim=(f"per-set normalisation: a set's ψ* does not depend on its batch (composition or order; max |Δψ*| < "
               f"{threshold:g}); per set, the Frobenius and nuclear norms coincide"),
        passed=max(per_set) < threshold and figures.get("fro vs nuclear per set (max |Δψ*|)", 0.0) < threshold,
        figures=figures,
        rows=tuple(rows),
    )

"""iDiffMF (Alg. 2): solve the mean-field fixed point (Eq. 7) to tolerance, differentiate implicitly.

Each training step draws one set of uniforms ``u`` and solves ``ψ* = T(ψ*; θ, u)`` with

    T(ψ) = σ(N(∇̂_ψ F̃(ψ; θ, u)))           (Eq. 8 with a normalisation N, Sec. 5.1)

from ψ⁰ = 0.5, by fixed-point iteration or Anderson acceleration with a per-set tolerance; the
loss of Eq. (4) at ψ* is differentiated through the fixed point by the implicit function theorem
(Thm. 4.3). Keeping ``u`` fixed within a solve makes ``T`` a deterministic map, so a fixed point
exists to be found; fresh ``u`` are drawn at every training step and per inference batch.

With hard Bernoulli samples ``∂_ψ T = 0``: the implicit gradient equals the gradient of one
application of ``T`` at ψ* (see :mod:`.multilinear`). ``mean_field.estimator`` selects an estimator
of ``∇_ψ F̃`` under which ``∂_ψ T`` is not zero (:mod:`.estimators`).

Diagnostics per run (:meth:`IDiffMF.diagnostics`): the test pass's forward iterations, residuals and
converged fraction (``fp_*``), the contraction-factor estimate ``ω = ‖∂_ψT(ψ*)‖₂`` per set
(``fp_contraction_*``, by power iteration; NaN for ``hard``, whose ``T`` is piecewise constant and
has no Lipschitz constant), the training solves (``train_fp_*``) and the relative residual of every
implicit backward solve (``bwd_*``). The run is ``not_converged`` when more than
``fixed_point.max_unconverged_fraction`` of the test sets hit ``fixed_point.max_iter``.
"""

from __future__ import annotations

import dataclasses
import math
import time

import jax
import jax.numpy as jnp
import numpy as np

from setbench.protocol import (BackwardRecord, Batch, MeanFieldConfig, SetFunctionConfig, SetLearner, SolveRecord,
                               TrainConfig)

from .estimators import gradient_estimate
from .fixed_point import FixedPointConfig, contraction_factor, implicit_solver, solve
from .multilinear import draw_uniforms
from .normalization import NORMALIZATION_SCOPES, NORMALIZATIONS, normalize_gains
from .set_function import SetFunction
from .training import cross_entropy, make_optimizer, pad_batch

__all__ = ["IDiffMFConfig", "IDiffMF", "VARIANTS", "mean_field_map"]

#: Registry name of each normalisation (Sec. 5.1).
VARIANTS = {"c": "iDiffMF_c", "fro": "iDiffMF_2", "nuclear": "iDiffMF_*"}


@dataclasses.dataclass(frozen=True, kw_only=True)
class IDiffMFConfig:
    """iDiffMF settings.

    Attributes:
        normalization: ``"c"`` (iDiffMF_c), ``"fro"`` (iDiffMF_2) or ``"nuclear"`` (iDiffMF_*); see
            :mod:`.normalization`.
        normalization_scope: ``"batch"`` (as published: the norm of the whole batch matrix, so a
            set's result depends on its batch neighbours) or ``"set"`` (each set's own row; then
            ``fro`` and ``nuclear`` coincide). Only for ``fro`` and ``nuclear``.
        c: the constant of iDiffMF_c (F̃ scaled by ``2/(|V|c)``); a hyper-parameter in the paper.
        fixed_point: forward and backward solver settings, and the ``not_converged`` rule.
        contraction_iterations: power-iteration steps of the ω estimate (test pass only).
    """

    model: SetFunctionConfig = SetFunctionConfig()
    mean_field: MeanFieldConfig = MeanFieldConfig()
    normalization: str = "fro"
    normalization_scope: str = "batch"
    c: float = 1.0
    fixed_point: FixedPointConfig = FixedPointConfig()
    contraction_iterations: int = 20
    train: TrainConfig = TrainConfig()

    def __post_init__(self):
        if self.normalization not in NORMALIZATIONS:
            raise ValueError(
                f"IDiffMFConfig.normalization must be one of {NORMALIZATIONS}, got {self.normalization!r}"
            )
        if self.normalization_scope not in NORMALIZATION_SCOPES:
            raise ValueError(f"IDiffMFConfig.normalization_scope must be one of {NORMALIZATION_SCOPES}, "
                             f"got {self.normalization_scope!r}")
        if self.normalization == "c" and self.normalization_scope != "batch":
            raise ValueError("IDiffMFConfig.normalization_scope='set' applies to 'fro' and 'nuclear' only; "
                             "normalization='c' already scales each set by its own constant")
        if (not isinstance(self.contraction_iterations, int) or isinstance(self.contraction_iterations, bool)
                or self.contraction_iterations <= 0):
            raise ValueError(f"IDiffMFConfig.contraction_iterations must be a positive integer, "
                             f"got {self.contraction_iterations!r}")
        if not (isinstance(self.c, (int, float)) and math.isfinite(self.c) and self.c > 0):
            raise ValueError(f"IDiffMFConfig.c must be a finite number > 0, got {self.c!r}")


def mean_field_map(module: SetFunction, cfg: IDiffMFConfig):
    """The map ``T(psi, a, params, u, mask) = σ(N(∇̂_ψ F̃(ψ)))`` of Eq. (8) with iDiffMF's normalisation ``N``.

    Args (of ``T``): psi float ``[B, |V|]``; a float ``[B, |V|, hidden]`` element terms of
    ``module``; params its Flax parameters; u the uniforms of ``cfg.mean_field`` (ignored by
    ``exact``); mask bool ``[B, |V|]``. Returns float ``[B, |V|]``, zero at padding.
    """

    def T(psi, a, params, u, mask):
        value = lambda z: module.apply(params, z, method=SetFunction.value)  # noqa: E731
        gains = gradient_estimate(value, a, psi, mask, u, cfg.mean_field)
        gains = normalize_gains(gains, mask, cfg.normalization, cfg.c, cfg.normalization_scope)
        return jax.nn.sigmoid(gains) * mask.astype(psi.dtype)

    return T


class IDiffMF(SetLearner):
    """iDiffMF with the shared training protocol (see :class:`~setbench.protocol.SetLearner`).

    Attributes:
        params_: the fitted Flax parameters of :class:`SetFunction`.
    """

    def __init__(self, config: IDiffMFConfig = IDiffMFConfig()):
        super().__init__(config)

    @property
    def name(self) -> str:  # type: ignore[override]
        return VARIANTS[self.config.normalization]

    def _initialize(self, train, seed):
        cfg = self.config
        cfg.mean_field.check_ground_set(train.v_size, self.name)
        module = SetFunction(in_features=train.item_shape, config=cfg.model, item_kind=train.item_kind)
        device = jax.devices()[0]
        self.device_ = f"{device.platform}:{device.id}"  # where the train step runs: "cpu:0", "gpu:0"
        init_key, self._train_key, self._eval_key = jax.random.split(jax.random.PRNGKey(seed), 3)
        v_size = train.v_size
        self.params_ = module.init(init_key, jnp.zeros((1, v_size) + train.item_shape), jnp.zeros((1, v_size)))
        optimizer = make_optimizer(cfg.train)
        self._opt_state = optimizer.init(self.params_)
        T = mean_field_map(module, cfg)
        self._backward_record = BackwardRecord()
        solver = implicit_solver(T, cfg.fixed_point, on_backward=self._backward_record.add)
        mf = cfg.mean_field

        def loss_fn(params, batch, u):
            a = module.apply(params, batch.x, method=SetFunction.element_terms)
            psi0 = 0.5 * batch.mask.astype(a.dtype)
            psi, info = solver(psi0, a, params, u, batch.mask)
            return cross_entropy(psi, batch.optimal, batch.loss_mask, batch.weight), info

        def train_step(params, opt_state, batch, key):
            u = draw_uniforms(key, batch.x.shape[0], batch.x.shape[1], mf.samples, mf.shared_samples)
            (loss, info), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, batch, u)
            updates, opt_state = optimizer.update(grads, opt_state, params)
            return jax.tree_util.tree_map(jnp.add, params, updates), opt_state, loss, info

        def infer_args(params, x, mask, key):
            u = draw_uniforms(key, x.shape[0], x.shape[1], mf.samples, mf.shared_samples)
            return module.apply(params, x, method=SetFunction.element_terms), params, u, mask

        def infer(params, x, mask, key):
            args = infer_args(params, x, mask, key)
            return solve(T, 0.5 * mask.astype(args[0].dtype), args, cfg.fixed_point)

        def contraction(params, x, mask, key, psi):
            """ω per set at the inference fixed point ``psi`` (same samples as :func:`infer`)."""
            return contraction_factor(T, psi, infer_args(params, x, mask, key), jax.random.fold_in(key, 1),
                                      cfg.contraction_iterations)

        start = time.perf_counter()
        example = pad_batch(_empty_batch(train, cfg.train.batch_size), cfg.train.batch_size)
        self._compiled_step = jax.jit(train_step).lower(self.params_, self._opt_state, example, self._train_key).compile()
        probe = pad_batch(_empty_batch(train, cfg.train.eval_batch_size), cfg.train.eval_batch_size)
        self._compiled_infer = jax.jit(infer).lower(self.params_, probe.x, probe.mask, self._eval_key).compile()
        # ∂_ψT = 0 under hard samples: no contraction factor to estimate (and nothing compiled for it).
        self._contraction = None
        if mf.estimator != "hard":
            self._contraction = jax.jit(contraction).lower(
                self.params_, probe.x, probe.mask, self._eval_key, jnp.zeros(probe.mask.shape)).compile()
        self.compile_seconds_ = time.perf_counter() - start
        self._train_record = SolveRecord()
        self._record = SolveRecord()
        self._omega: list[np.ndarray] = []

    def _train_step(self, batch, step):
        padded = pad_batch(batch, self.config.train.batch_size)
        key = jax.random.fold_in(self._train_key, step)
        self.params_, self._opt_state, loss, info = self._compiled_step(self.params_, self._opt_state, padded, key)
        real = padded.weight > 0
        self._train_record.add(*(np.asarray(field)[real] for field in info))
        return loss

    def _psi(self, batch, batch_index):
        if batch_index == 0:
            self._record = SolveRecord()
        padded = pad_batch(batch, self.config.train.eval_batch_size)
        key = jax.random.fold_in(self._eval_key, batch_index)
        psi, info = self._compiled_infer(self.params_, padded.x, padded.mask, key)
        n = batch.x.shape[0]
        self._record.add(*(np.asarray(field)[:n] for field in info))
        return np.asarray(psi)[:n]

    def _inference_diagnostics(self, batch, batch_index, psi):
        if batch_index == 0:
            self._omega = []
        if self._contraction is None:
            return
        size = self.config.train.eval_batch_size
        padded = pad_batch(batch, size)
        psi_padded = np.zeros(padded.mask.shape, psi.dtype)
        psi_padded[:len(psi)] = psi
        key = jax.random.fold_in(self._eval_key, batch_index)
        omega = self._contraction(self.params_, padded.x, padded.mask, key, jnp.asarray(psi_padded))
        self._omega.append(np.asarray(omega)[:len(psi)])

    def _convergence_failure(self):
        summary = self._record.summary()
        unconverged = 1.0 - summary["fp_converged_fraction"]
        cfg = self.config.fixed_point
        if unconverged > cfg.max_unconverged_fraction:
            return (f"{100 * unconverged:.1f} % of the sets hit max_iter={cfg.max_iter} without reaching "
                    f"tol={cfg.tol:g} at inference (allowed: {100 * cfg.max_unconverged_fraction:.1f} %, "
                    f"fixed_point.max_unconverged_fraction)")
        return None

    @property
    def compiled_train_step_(self):
        """The ahead-of-time compiled training step (``.memory_analysis()`` gives XLA's buffer sizes)."""
        if not hasattr(self, "_compiled_step"):
            raise AttributeError(f"{self.name} has no compiled training step before fit/partial_fit")
        return self._compiled_step

    def _snapshot(self):
        return self.params_  # immutable arrays: a reference is a copy

    def _restore(self, state):
        self.params_ = state

    def _method_diagnostics(self):
        omega = np.concatenate(self._omega) if self._omega else np.full(1, np.nan)
        return {
            **self._record.summary("fp_"),
            "fp_contraction_mean": float(np.mean(omega)),
            "fp_contraction_max": float(np.max(omega)),
            **self._train_record.summary("train_fp_"),
            **self._backward_record.summary("bwd_"),
        }


def _empty_batch(split, size):
    """A zero batch with the split's shapes, used only to compile."""
    v = split.v_size
    zeros = np.zeros((size, v), bool)
    return Batch(np.zeros((size, v) + split.item_shape, np.float32), zeros, zeros, zeros)

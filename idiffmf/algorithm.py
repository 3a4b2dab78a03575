"""iDiffMF (Alg. 2): solve the mean-field fixed point (Eq. 7) to tolerance, differentiate implicitly.

Each training step draws one set of uniforms ``u`` and solves ``ψ* = T(ψ*; θ, u)`` with

    T(ψ) = σ(N(∇̂_ψ F̃(ψ; θ, u)))           (Eq. 8 with a normalisation N, Sec. 5.1)

from ψ⁰ = 0.5, by fixed-point iteration or Anderson acceleration with a per-set tolerance; the
loss of Eq. (4) at ψ* is differentiated through the fixed point by the implicit function theorem
(Thm. 4.3). Keeping ``u`` fixed within a solve makes ``T`` a deterministic map, so a fixed point
exists to be found; fresh ``u`` are drawn at every training step and per inference batch.

With hard Bernoulli samples ``∂_ψ T = 0``: the implicit gradient equals the gradient of one
application of ``T`` at ψ* (see :mod:`.multilinear`).
"""

from __future__ import annotations

import dataclasses
import math
import time

import jax
import jax.numpy as jnp
import numpy as np

from setbench.protocol import Batch, MeanFieldConfig, SetFunctionConfig, SetLearner, SolveRecord, TrainConfig

from .fixed_point import FixedPointConfig, implicit_solver, solve
from .multilinear import draw_uniforms, marginal_gains
from .normalization import NORMALIZATIONS, normalize_gains
from .set_function import SetFunction
from .training import cross_entropy, make_optimizer, pad_batch

__all__ = ["IDiffMFConfig", "IDiffMF", "VARIANTS"]

#: Registry name of each normalisation (Sec. 5.1).
VARIANTS = {"c": "iDiffMF_c", "fro": "iDiffMF_2", "nuclear": "iDiffMF_*"}


@dataclasses.dataclass(frozen=True, kw_only=True)
class IDiffMFConfig:
    """iDiffMF settings.

    Attributes:
        normalization: ``"c"`` (iDiffMF_c), ``"fro"`` (iDiffMF_2) or ``"nuclear"`` (iDiffMF_*); see
            :mod:`.normalization`.
        c: the constant of iDiffMF_c (F̃ scaled by ``2/(|V|c)``); a hyper-parameter in the paper.
        fixed_point: forward and backward solver settings.
    """

    model: SetFunctionConfig = SetFunctionConfig()
    mean_field: MeanFieldConfig = MeanFieldConfig()
    normalization: str = "fro"
    c: float = 1.0
    fixed_point: FixedPointConfig = FixedPointConfig()
    train: TrainConfig = TrainConfig()

    def __post_init__(self):
        if self.normalization not in NORMALIZATIONS:
            raise ValueError(
                f"IDiffMFConfig.normalization must be one of {NORMALIZATIONS}, got {self.normalization!r}"
            )
        if not (isinstance(self.c, (int, float)) and math.isfinite(self.c) and self.c > 0):
            raise ValueError(f"IDiffMFConfig.c must be a finite number > 0, got {self.c!r}")


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

    def _mean_field_map(self, module: SetFunction):
        cfg = self.config

        def T(psi, a, params, u, mask):
            """Eq. (8) with normalisation: float ``[B, |V|]`` → ``[B, |V|]``, zero at padding."""
            value = lambda z: module.apply(params, z, method=SetFunction.value)  # noqa: E731
            gains = normalize_gains(marginal_gains(value, a, psi, mask, u), mask, cfg.normalization, cfg.c)
            return jax.nn.sigmoid(gains) * mask.astype(psi.dtype)

        return T

    def _initialize(self, train, seed):
        cfg = self.config
        module = SetFunction(in_features=train.item_shape[-1], config=cfg.model)
        init_key, self._train_key, self._eval_key = jax.random.split(jax.random.PRNGKey(seed), 3)
        v_size, d = train.v_size, train.item_shape[-1]
        self.params_ = module.init(init_key, jnp.zeros((1, v_size, d)), jnp.zeros((1, v_size)))
        optimizer = make_optimizer(cfg.train)
        self._opt_state = optimizer.init(self.params_)
        T = self._mean_field_map(module)
        solver = implicit_solver(T, cfg.fixed_point)
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

        def infer(params, x, mask, key):
            u = draw_uniforms(key, x.shape[0], x.shape[1], mf.samples, mf.shared_samples)
            a = module.apply(params, x, method=SetFunction.element_terms)
            return solve(T, 0.5 * mask.astype(a.dtype), (a, params, u, mask), cfg.fixed_point)

        start = time.perf_counter()
        example = pad_batch(_empty_batch(train, cfg.train.batch_size), cfg.train.batch_size)
        self._compiled_step = jax.jit(train_step).lower(self.params_, self._opt_state, example, self._train_key).compile()
        probe = pad_batch(_empty_batch(train, cfg.train.eval_batch_size), cfg.train.eval_batch_size)
        self._compiled_infer = jax.jit(infer).lower(self.params_, probe.x, probe.mask, self._eval_key).compile()
        self.compile_seconds_ = time.perf_counter() - start
        self._train_record = SolveRecord()
        self._record = SolveRecord()

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
        return {**self._record.summary("fp_"), **self._train_record.summary("train_fp_")}


def _empty_batch(split, size):
    """A zero batch with the split's shapes, used only to compile."""
    v = split.v_size
    zeros = np.zeros((size, v), bool)
    return Batch(np.zeros((size, v) + split.item_shape, np.float32), zeros, zeros, zeros)

"""Fixed-point solves of Eq. (7) with per-set tolerance, differentiated implicitly (Thm. 4.3).

This is the only module that imports jaxopt (unmaintained since 0.8.5): it supplies the implicit
differentiation decorator and the backward linear solvers. The forward solvers are written here
because jaxopt's judge convergence by one norm over the whole batch (so the tolerance would depend on
the batch size) and read a NaN error as converged. Here each set stops on its own
``‖T(ψ_b) − ψ_b‖₂ ≤ tol``, and a non-finite residual is never "converged".

Backward: with ``ψ* = T(ψ*, θ)``, the vector–Jacobian product of ``ψ*(θ)`` solves
``(I − ∂_ψT)ᵀ w = v`` (Thm. 4.3 with ``A = I − ∂_ψT``) by normal-equation CG or GMRES, then
returns ``wᵀ ∂_θT``. Memory is that of one application of ``T``, whatever the forward iterations.
The backward solve can report its per-set residual ``‖(I − ∂_ψT)ᵀ w − v‖₂`` to the host
(``on_backward``), and :func:`contraction_factor` estimates ``ω = ‖∂_ψT‖₂`` at a solution.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxopt import implicit_diff, linear_solve

__all__ = ["FixedPointConfig", "SolveInfo", "contraction_factor", "solve", "implicit_solver"]

FORWARD_SOLVERS = ("fixed_point", "anderson")
BACKWARD_SOLVERS = ("normal_cg", "gmres")


@dataclasses.dataclass(frozen=True, kw_only=True)
class FixedPointConfig:
    """Forward and backward solver settings (defaults: the published run scripts).

    Attributes:
        solver: ``"fixed_point"`` (plain iteration of Eq. 8) or ``"anderson"`` acceleration.
        tol: per-set tolerance on ``‖T(ψ) − ψ‖₂`` (Sec. 5.1: 1e-6). ``0`` runs exactly ``max_iter`` iterations (no early stop).
        max_iter: iteration cap; a set still above ``tol`` is reported not converged.
        anderson_history: number of past iterates Anderson mixes.
        anderson_ridge: Tikhonov term of Anderson's least-squares problem, relative to the mean
            squared residual in the history (an absolute term would swamp the problem as ψ converges).
        backward: linear solver of the implicit backward pass, ``"normal_cg"`` or ``"gmres"``.
        backward_tol, backward_max_iter: its tolerance and iteration cap.
        max_unconverged_fraction: the run status rule. A run is ``not_converged`` when, in its
            test-time inference pass (the restored checkpoint scoring the test split), more than this
            fraction of sets hit ``max_iter`` without reaching ``tol``. Default 0: any such set.
            With hard samples ``T`` is piecewise constant and a set can cycle between two pieces.
    """

    solver: str = "fixed_point"
    tol: float = 1e-6
    max_iter: int = 20
    anderson_history: int = 10
    anderson_ridge: float = 1e-7
    backward: str = "normal_cg"
    backward_tol: float = 1e-4
    backward_max_iter: int = 20
    max_unconverged_fraction: float = 0.0

    def __post_init__(self):
        if self.solver not in FORWARD_SOLVERS:
            raise ValueError(f"FixedPointConfig.solver must be one of {FORWARD_SOLVERS}, got {self.solver!r}")
        if self.backward not in BACKWARD_SOLVERS:
            raise ValueError(f"FixedPointConfig.backward must be one of {BACKWARD_SOLVERS}, got {self.backward!r}")
        if not (isinstance(self.tol, (int, float)) and math.isfinite(self.tol) and self.tol >= 0):
            raise ValueError(f"FixedPointConfig.tol must be a finite number >= 0, got {self.tol!r}")
        for field in ("max_iter", "backward_max_iter", "anderson_history"):
            value = getattr(self, field)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"FixedPointConfig.{field} must be a positive integer, got {value!r}")
        if self.solver == "anderson" and self.anderson_history < 2:
            raise ValueError("FixedPointConfig.anderson_history must be >= 2 for Anderson; use solver='fixed_point'")
        if not (self.backward_tol > 0 and self.anderson_ridge >= 0):
            raise ValueError("FixedPointConfig.backward_tol must be > 0 and anderson_ridge >= 0")
        fraction = self.max_unconverged_fraction
        if not (isinstance(fraction, (int, float)) and not isinstance(fraction, bool) and 0 <= fraction <= 1):
            raise ValueError(f"FixedPointConfig.max_unconverged_fraction must be in [0, 1], got {fraction!r}")


class SolveInfo(NamedTuple):
    """Per-set outcome of a forward solve.

    Attributes:
        iterations: int32 ``[B]``, applications of ``T`` until the set converged (or the cap).
        residual: float ``[B]``, ``‖T(ψ) − ψ‖₂`` at the last iteration the set ran.
        converged: bool ``[B]``, ``residual ≤ tol`` reached (never for a non-finite residual).
    """

    iterations: jax.Array
    residual: jax.Array
    converged: jax.Array


MapFn = Callable[..., jax.Array]  # T(psi [B, |V|], *args) -> [B, |V|]


class _State(NamedTuple):
    step: jax.Array
    psi: jax.Array
    info: SolveInfo
    history_x: jax.Array  # Anderson: [B, h, |V|] past iterates (unused by plain iteration)
    history_t: jax.Array  # Anderson: [B, h, |V|] T at those iterates


def _anderson_mix(state: _State, psi: jax.Array, t_psi: jax.Array, cfg: FixedPointConfig):
    """Anderson (type II) per set: ψ⁺ = Σ_k α_k T(x_k), α = argmin ‖Σ α_k (T(x_k) − x_k)‖² + ridge, Σα = 1."""
    h = cfg.anderson_history
    slot = state.step % h
    xs = state.history_x.at[:, slot].set(psi)
    ts = state.history_t.at[:, slot].set(t_psi)
    f = ts - xs                                                     # [B, h, |V|]
    used = jnp.arange(h) < jnp.minimum(state.step + 1, h)          # [h]
    both = used[:, None] & used[None, :]
    gram = jnp.where(both, jnp.einsum("bkv,blv->bkl", f, f), 0.0)
    # Ridge relative to the mean squared residual, so that it stays small as the residuals shrink.
    scale = jnp.trace(gram, axis1=1, axis2=2) / jnp.maximum(jnp.sum(used), 1)
    gram = gram + cfg.anderson_ridge * scale[:, None, None] * jnp.eye(h)
    gram = jnp.where(both, gram, jnp.eye(h))
    weights = jnp.linalg.solve(gram, jnp.broadcast_to(used.astype(f.dtype), gram.shape[:2])[..., None])[..., 0]
    weights = weights / jnp.sum(weights, axis=1, keepdims=True)
    mixed = jnp.einsum("bk,bkv->bv", weights, ts)
    mixed = jnp.where(jnp.all(jnp.isfinite(mixed), axis=1, keepdims=True), mixed, t_psi)
    return mixed, xs, ts


def solve(T: MapFn, psi0: jax.Array, args: tuple, cfg: FixedPointConfig) -> tuple[jax.Array, SolveInfo]:
    """Iterate ``ψ ← T(ψ, *args)`` from ``psi0`` until every set converges or ``max_iter``.

    A converged set is frozen at ``T(ψ)`` of its last iteration. The loop also stops early if a
    non-finite residual appears (that set can never converge).

    Args:
        T: the mean-field map; ``T(psi, *args)`` with psi float ``[B, |V|]``.
        psi0: float ``[B, |V|]`` start.
        args: the remaining arguments of ``T``.
        cfg: solver settings.

    Returns:
        ``(psi, info)``: float ``[B, |V|]`` and the per-set :class:`SolveInfo`.
    """
    batch = psi0.shape[0]
    shape = (batch, cfg.anderson_history if cfg.solver == "anderson" else 1, psi0.shape[1])
    init = _State(
        step=jnp.zeros((), jnp.int32),
        psi=psi0,
        info=SolveInfo(jnp.zeros(batch, jnp.int32), jnp.full(batch, jnp.inf, psi0.dtype), jnp.zeros(batch, bool)),
        history_x=jnp.zeros(shape, psi0.dtype),
        history_t=jnp.zeros(shape, psi0.dtype),
    )

    # tol = 0 runs exactly max_iter iterations: no set is frozen early, even where T(ψ) = ψ to the bit
    # (with hard samples T is piecewise constant, so a zero residual is common); its `converged` says
    # whether the last residual was 0.
    exact = cfg.tol == 0

    def running(state: _State) -> jax.Array:
        info = state.info
        finite = jnp.all(jnp.isfinite(info.residual) | (state.step == 0))
        return (state.step < cfg.max_iter) & ~jnp.all(info.converged) & finite

    def body(state: _State) -> _State:
        done = state.info.converged
        t_psi = T(state.psi, *args)
        residual = jnp.linalg.norm(t_psi - state.psi, axis=-1)
        now = ~done & (residual <= cfg.tol) & (not exact)
        if cfg.solver == "anderson":
            proposal, xs, ts = _anderson_mix(state, state.psi, t_psi, cfg)
            proposal = jnp.where(now[:, None], t_psi, proposal)
        else:
            proposal, xs, ts = t_psi, state.history_x, state.history_t
        info = SolveInfo(
            iterations=jnp.where(done, state.info.iterations, state.step + 1),
            residual=jnp.where(done, state.info.residual, residual),
            converged=done | now,
        )
        psi = jnp.where(done[:, None], state.psi, proposal)
        return _State(state.step + 1, psi, info, xs, ts)

    final = jax.lax.while_loop(running, body, init)
    if exact:
        return final.psi, final.info._replace(converged=final.info.residual == 0)
    return final.psi, final.info


def _set_norm(x: jax.Array) -> jax.Array:
    return jnp.linalg.norm(x.reshape(x.shape[0], -1), axis=-1)


def _linear_solver(cfg: FixedPointConfig, on_backward: Callable[[np.ndarray, np.ndarray], None] | None):
    if cfg.backward == "gmres":
        inner = functools.partial(linear_solve.solve_gmres, tol=cfg.backward_tol, maxiter=cfg.backward_max_iter)
    else:
        inner = functools.partial(linear_solve.solve_normal_cg, tol=cfg.backward_tol, maxiter=cfg.backward_max_iter)
    if on_backward is None:
        return inner

    def solve_and_report(matvec, b):
        """Solve ``matvec(w) = b`` and send the per-set ``(‖matvec(w) − b‖₂, ‖b‖₂)``, float ``[B]`` each, to the host."""
        w = inner(matvec, b)
        jax.debug.callback(on_backward, _set_norm(matvec(w) - b), _set_norm(b))
        return w

    return solve_and_report


def implicit_solver(T: MapFn, cfg: FixedPointConfig, *,
                    on_backward: Callable[[np.ndarray, np.ndarray], None] | None = None,
                    ) -> Callable[..., tuple[jax.Array, SolveInfo]]:
    """``solver(psi0, *args) -> (psi*, info)``, differentiable in ``args`` by the implicit function theorem.

    ``T`` must take its arguments positionally with a fixed signature, ``T(psi, arg1, arg2, ...)``;
    the solver takes ``(psi0, arg1, arg2, ...)``. Gradients never flow through the forward
    iterations, only through one application of ``T`` at ``psi*`` and the backward linear solve.

    Args:
        on_backward: called on the host after every backward solve of ``(I − ∂_ψT)ᵀ w = v`` with
            the per-set absolute residual and ``‖v‖₂`` (NumPy float ``[B]`` each); costs one extra
            vector–Jacobian product of ``T``.
    """

    def run(psi0, *args):
        return solve(T, psi0, args, cfg)

    return implicit_diff.custom_fixed_point(T, has_aux=True, solve=_linear_solver(cfg, on_backward))(run)


def contraction_factor(T: MapFn, psi: jax.Array, args: tuple, key: jax.Array, iterations: int = 20) -> jax.Array:
    """Per-set estimate of ``ω = ‖∂_ψT(ψ)‖₂`` (the local Lipschitz constant of Thm. 4.2) by power iteration.

    Iterates ``v ← JᵀJ v`` with ``J = ∂_ψT(ψ, *args)`` (one Jacobian–vector and one vector–Jacobian
    product per step), normalising each set's block of ``v`` separately, and returns ``‖J v‖₂`` per
    set. Exact for maps that act on each set independently; with a batch-wide normalisation the
    sets are coupled through the norm and each set's figure includes that (small) coupling. A map
    with ``∂_ψT = 0`` (hard samples) gives 0.

    Args:
        T: the map; psi: float ``[B, |V|]`` the point (a fixed point); args: ``T``'s other arguments;
        key: PRNG key of the random start; iterations: power-iteration steps.

    Returns:
        float ``[B]``.
    """
    _, jvp = jax.linearize(lambda p: T(p, *args), psi)
    vjp = jax.linear_transpose(jvp, psi)

    def normalise(v):
        return v / jnp.maximum(_set_norm(v), jnp.finfo(v.dtype).tiny)[:, None]

    def step(_, v):
        return normalise(vjp(jvp(v))[0])

    v = jax.lax.fori_loop(0, iterations, step, normalise(jax.random.normal(key, psi.shape, psi.dtype)))
    return _set_norm(jvp(v))

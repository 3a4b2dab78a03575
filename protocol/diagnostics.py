"""Per-set fixed-point and backward-solve diagnostics, summarised for results rows."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["BackwardRecord", "SolveRecord"]


class SolveRecord:
    """Accumulates, batch by batch, each set's iterations, final residual and convergence flag.

    The residual of a set is ``‖T(ψ) − ψ‖₂`` at its last iterate ψ, whose image ``T(ψ)`` is the ψ
    returned (for an unrolled method: the size of its last step).
    """

    def __init__(self):
        self._iterations: list[np.ndarray] = []
        self._residuals: list[np.ndarray] = []
        self._converged: list[np.ndarray] = []

    def add(self, iterations: np.ndarray, residual: np.ndarray, converged: np.ndarray) -> None:
        """Record one batch: int ``[b]``, float ``[b]``, bool ``[b]``."""
        self._iterations.append(np.asarray(iterations, dtype=np.int64).reshape(-1))
        self._residuals.append(np.asarray(residual, dtype=np.float64).reshape(-1))
        self._converged.append(np.asarray(converged, dtype=bool).reshape(-1))

    def summary(self, prefix: str = "fp_") -> dict[str, float]:
        """Mean and max iterations and residual, and the converged fraction (NaN before any batch)."""
        if not self._iterations:
            keys = ("iterations_mean", "iterations_max", "residual_mean", "residual_max", "converged_fraction")
            return {prefix + k: math.nan for k in keys}
        iterations = np.concatenate(self._iterations)
        residuals = np.concatenate(self._residuals)
        converged = np.concatenate(self._converged)
        return {
            prefix + "iterations_mean": float(iterations.mean()),
            prefix + "iterations_max": float(iterations.max()),
            prefix + "residual_mean": float(residuals.mean()),
            prefix + "residual_max": float(residuals.max()),
            prefix + "converged_fraction": float(converged.mean()),
        }


class BackwardRecord:
    """Accumulates the residuals of implicit-differentiation backward solves ``A w = v``, set by set.

    Each solve reports, per set, ``‖A w − v‖₂`` and ``‖v‖₂``; the summary gives the relative residual
    ``‖A w − v‖₂ / ‖v‖₂`` over sets with ``v ≠ 0`` (padding sets have ``v = 0`` and are skipped).
    """

    def __init__(self):
        self._relative: list[np.ndarray] = []
        self.solves = 0

    def add(self, residual: np.ndarray, scale: np.ndarray) -> None:
        """Record one solve: float ``[b]`` absolute residuals and ``[b]`` right-hand-side norms."""
        residual = np.asarray(residual, dtype=np.float64).reshape(-1)
        scale = np.asarray(scale, dtype=np.float64).reshape(-1)
        used = scale > 0
        self._relative.append(residual[used] / scale[used])
        self.solves += 1

    def summary(self, prefix: str = "bwd_") -> dict[str, float]:
        """Number of solves, mean and max relative residual (NaN before any solve)."""
        relative = np.concatenate(self._relative) if self._relative else np.empty(0)
        return {
            prefix + "solves": float(self.solves),
            prefix + "residual_mean": float(relative.mean()) if relative.size else math.nan,
            prefix + "residual_max": float(relative.max()) if relative.size else math.nan,
        }

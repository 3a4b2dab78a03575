"""Exact multilinear-extension quantities by enumerating all subsets (small ground sets only)."""

from __future__ import annotations

import itertools

import numpy as np


def all_subsets(v: int) -> np.ndarray:
    """float64 ``[2^v, v]`` 0/1 rows, every subset of ``range(v)``."""
    return np.array(list(itertools.product([0.0, 1.0], repeat=v)))


def exact_gradient(values: np.ndarray, subsets: np.ndarray, psi: np.ndarray) -> np.ndarray:
    """``∂F̃/∂ψ_j = Σ_S F(S) ∂/∂ψ_j Π_i ψ_i^{s_i} (1−ψ_i)^{1−s_i}`` for one set.

    Args:
        values: ``[2^v]`` F of each subset; subsets: ``[2^v, v]``; psi: ``[v]``.
    """
    probs = np.where(subsets > 0, psi, 1.0 - psi)          # [2^v, v]
    grad = np.zeros_like(psi)
    for j in range(len(psi)):
        others = np.prod(np.delete(probs, j, axis=1), axis=1)
        grad[j] = np.sum(values * others * np.where(subsets[:, j] > 0, 1.0, -1.0))
    return grad


def exact_extension(values: np.ndarray, subsets: np.ndarray, psi: np.ndarray) -> float:
    """``F̃(ψ) = Σ_S F(S) Π_i ψ_i^{s_i} (1−ψ_i)^{1−s_i}`` (Eq. 6) for one set; arguments as :func:`exact_gradient`."""
    return float(np.sum(values * np.prod(np.where(subsets > 0, psi, 1.0 - psi), axis=1)))

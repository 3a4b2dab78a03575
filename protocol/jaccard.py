"""The task's score (Sec. 5.2): Jaccard coefficient between predicted and optimal subsets."""

from __future__ import annotations

import numpy as np

__all__ = ["jaccard", "mean_jaccard", "top_k_subsets"]


def jaccard(predicted: np.ndarray, optimal: np.ndarray) -> np.ndarray:
    """Per-set Jaccard coefficient ``|Ŝ ∩ S*| / |Ŝ ∪ S*|``.

    Args:
        predicted: bool ``[n_sets, |V|]``.
        optimal: bool ``[n_sets, |V|]``.

    Returns:
        float64 ``[n_sets]`` in ``[0, 1]``; a set where both subsets are empty scores 1.0.
    """
    predicted = np.asarray(predicted, dtype=bool)
    optimal = np.asarray(optimal, dtype=bool)
    if predicted.shape != optimal.shape or predicted.ndim != 2:
        raise ValueError(f"jaccard: predicted {predicted.shape} and optimal {optimal.shape} must both be [n_sets, |V|]")
    intersection = (predicted & optimal).sum(axis=1)
    union = (predicted | optimal).sum(axis=1)
    return np.where(union == 0, 1.0, intersection / np.maximum(union, 1))


def mean_jaccard(predicted: np.ndarray, optimal: np.ndarray) -> float:
    """Mean Jaccard over sets, ×100 (the JC of the paper's tables)."""
    return float(100.0 * jaccard(predicted, optimal).mean())


def top_k_subsets(scores: np.ndarray, k: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Ou et al.'s prediction rule: the ``k_b`` highest-scoring valid positions of each set.

    Ties go to the lower position (stable sort), so a prediction is a deterministic function of
    the scores.

    Args:
        scores: float ``[n_sets, |V|]`` (ψ).
        k: int ``[n_sets]``, subset size per set (``|S*|``).
        mask: bool ``[n_sets, |V|]``; padding is never selected.

    Returns:
        bool ``[n_sets, |V|]``.
    """
    scores = np.where(mask, np.asarray(scores, dtype=np.float64), -np.inf)
    order = np.argsort(-scores, axis=1, kind="stable")
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(scores.shape[1])[None, :].repeat(scores.shape[0], 0), axis=1)
    return (rank < np.asarray(k)[:, None]) & mask

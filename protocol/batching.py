"""Framework-neutral index sampling for training: minibatches and the loss mask of Eq. (4)."""

from __future__ import annotations

import numpy as np

__all__ = ["epoch_batches", "loss_mask"]


def epoch_batches(n_sets: int, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """A shuffled partition of ``range(n_sets)`` into batches of at most ``batch_size`` indices."""
    order = rng.permutation(n_sets)
    return [order[i:i + batch_size] for i in range(0, n_sets, batch_size)]


def loss_mask(optimal: np.ndarray, mask: np.ndarray, neg_num: int, rng: np.random.Generator) -> np.ndarray:
    """Positions entering the loss of Eq. (4): ``S*`` plus ``neg_num · |S*|`` random non-members.

    Ou et al. resample the negatives at every epoch; pass a fresh ``rng`` state each time. Where
    fewer non-members exist than requested, all of them are taken.

    Args:
        optimal: bool ``[n, |V|]``.
        mask: bool ``[n, |V|]`` (padding is never a negative).
        neg_num: negatives per member.

    Returns:
        bool ``[n, |V|]``.
    """
    keys = rng.random(optimal.shape)
    keys[optimal | ~mask] = np.inf
    rank = np.argsort(np.argsort(keys, axis=1, kind="stable"), axis=1, kind="stable")
    wanted = neg_num * optimal.sum(axis=1, keepdims=True)
    return optimal | ((rank < wanted) & np.isfinite(keys))

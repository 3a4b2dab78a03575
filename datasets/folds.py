"""Cross-validation folds over the union of splits, with the test split left untouched (Sec. 5.1).

The paper selects hyper-parameters by 5-fold cross-validation over train ∪ validation and keeps the
test split for the final models only. Two pieces, both framework-neutral:

* :func:`concatenate` stacks splits into one :class:`SetSplit`. Splits that share one feature
  table (Amazon) keep it; splits with their own tables (the synthetic datasets) get one stacked
  table, each split's ground-set indices offset by the rows of the tables before it. Narrower
  splits are padded (``mask = False``) to the widest ``|V|``.
* :func:`fold_rows` cuts ``n_sets`` rows into ``n_folds`` disjoint held-out blocks of a seeded
  permutation. Every row is held out in exactly one fold, and each fold's held-out block is its
  own: there is no fall-back to the original split for any fold (an upstream implementation
  silently reused the original validation split for the last fold).

:func:`cross_validation_fold` combines them: fold ``k`` of ``data`` is ``(train ∪ valid) \\ block_k``
for training and ``block_k`` for validation (early stopping and the selection score).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .split import SetData, SetSplit

__all__ = ["concatenate", "fold_rows", "cross_validation_fold"]


def concatenate(splits: Sequence[SetSplit], name: str) -> SetSplit:
    """One split holding the sets of ``splits`` in order.

    Args:
        splits: at least one split; all items must have the same ``item_shape``.
        name: name of the result, used in messages.

    Returns:
        A split with ``sum(n_sets)`` sets of width ``max(|V|)``. Its ``features`` are the shared
        table when every split holds the same table object, else the splits' tables stacked
        (``[Σ n_items, *item_shape]``) with ``ground_sets`` offset to match.

    Raises:
        ValueError: for no splits, or item kinds or shapes that differ (naming both splits).
    """
    if not splits:
        raise ValueError(f"concatenate({name!r}): needs at least one split")
    first = splits[0]
    for split in splits[1:]:
        if split.item_shape != first.item_shape or split.item_kind != first.item_kind:
            raise ValueError(f"concatenate({name!r}): items of {split.name!r} are {split.item_kind} of shape "
                             f"{split.item_shape}, those of {first.name!r} {first.item_kind} of shape "
                             f"{first.item_shape}")
    width = max(split.v_size for split in splits)
    shared = all(split.features is first.features for split in splits)
    offsets = np.zeros(len(splits), dtype=np.int64)
    if not shared:
        offsets[1:] = np.cumsum([split.features.shape[0] for split in splits[:-1]])

    def padded(array: np.ndarray, fill) -> np.ndarray:
        out = np.full((array.shape[0], width), fill, dtype=array.dtype)
        out[:, : array.shape[1]] = array
        return out

    ground = np.concatenate([padded(np.where(s.mask, s.ground_sets + offset, 0), 0)
                             for s, offset in zip(splits, offsets)])
    return SetSplit(
        features=first.features if shared else np.concatenate([split.features for split in splits]),
        ground_sets=ground,
        mask=np.concatenate([padded(split.mask, False) for split in splits]),
        optimal=np.concatenate([padded(split.optimal, False) for split in splits]),
        name=name,
        item_kind=first.item_kind,
    )


def fold_rows(n_sets: int, n_folds: int, *, seed: int) -> tuple[np.ndarray, ...]:
    """The held-out rows of each fold: ``n_folds`` disjoint int64 arrays covering ``0..n_sets-1``.

    Rows are permuted by ``np.random.default_rng(seed)`` and cut into blocks whose sizes differ by
    at most one; each block is sorted.

    Raises:
        ValueError: unless ``2 <= n_folds <= n_sets``.
    """
    if not isinstance(n_folds, (int, np.integer)) or isinstance(n_folds, bool) or n_folds < 2:
        raise ValueError(f"cross-validation needs n_folds >= 2, got {n_folds!r}")
    if n_folds > n_sets:
        raise ValueError(f"cross-validation with n_folds={n_folds} needs at least {n_folds} sets, got {n_sets}")
    order = np.random.default_rng(seed).permutation(n_sets)
    return tuple(np.sort(block).astype(np.int64) for block in np.array_split(order, n_folds))


def cross_validation_fold(data: SetData, n_folds: int, fold: int, *, seed: int) -> tuple[SetSplit, SetSplit]:
    """Fold ``fold`` of ``n_folds`` over ``data.train ∪ data.valid``; ``data.test`` is not used.

    Returns:
        ``(train, valid)``: the sets outside block ``fold`` and the sets of block ``fold`` of
        :func:`fold_rows` over the concatenation (train sets first).

    Raises:
        ValueError: for ``fold`` outside ``0..n_folds-1`` or an invalid ``n_folds``.
    """
    if not isinstance(fold, (int, np.integer)) or isinstance(fold, bool) or not 0 <= fold < n_folds:
        raise ValueError(f"cross-validation fold must be in 0..{n_folds - 1}, got {fold!r}")
    pool = concatenate([data.train, data.valid], name=f"{data.name}/train+valid")
    blocks = fold_rows(pool.n_sets, n_folds, seed=seed)
    held = blocks[fold]
    kept = np.setdiff1d(np.arange(pool.n_sets), held)
    tag = f"{data.name}/cv{fold + 1}of{n_folds}"
    return pool.subset(kept, name=f"{tag}/train"), pool.subset(held, name=f"{tag}/valid")

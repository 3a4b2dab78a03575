"""Hyper-parameter selection by k-fold cross-validation over train ∪ valid (Sec. 5.1 of the paper).

For each dataset × algorithm, every point of the algorithm's grid is trained once per fold (fold
``k`` validates, and early-stops, on block ``k`` of :func:`setbench.datasets.fold_rows`); the point
with the best **mean validation JC over the folds** is selected, and the final models are trained
with it on the original split and scored on the test split.

A grid maps option paths to the values to try. ``train.<field>`` sets a :class:`TrainConfig` field
(``train.learning_rate``); any other path sets the algorithm's config, dots descending into nested
configs (``model.num_layers``, ``fixed_point.solver``, ``c``).

Selection is honest about missing evidence: a point is *eligible* only if all its folds finished
with status ``ok`` (a point that diverged in any fold is not selected); if any fold of any point has
no finished record (failed, or not run yet), the cell has no selection and no final models.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from typing import Any, Mapping, Sequence

import numpy as np

__all__ = ["CrossValidation", "Candidate", "Selection", "apply_point", "grid_points", "point_label", "select",
           "selection_frame"]

Point = Mapping[str, Any]


@dataclasses.dataclass(frozen=True, kw_only=True)
class CrossValidation:
    """The selection protocol of a profile.

    Attributes:
        grid: algorithm name → {option path → values to try}; the cross product of an algorithm's
            axes, in declared order, is its grid (an empty mapping: the profile's settings only).
        folds: ``k`` of k-fold cross-validation (paper: 5).
        fold_seed: seed of the fold assignment (the same folds for every algorithm and point).
        model_seed: model seed of every cross-validation fit.
    """

    grid: Mapping[str, Mapping[str, tuple]]
    folds: int = 5
    fold_seed: int = 0
    model_seed: int = 0

    def __post_init__(self):
        if not isinstance(self.folds, int) or isinstance(self.folds, bool) or self.folds < 2:
            raise ValueError(f"CrossValidation.folds must be an integer >= 2, got {self.folds!r}")
        for algorithm, axes in self.grid.items():
            for path, values in axes.items():
                if not isinstance(path, str) or not path or path.startswith(".") or path.endswith("."):
                    raise ValueError(f"CrossValidation.grid[{algorithm!r}]: bad option path {path!r}")
                if not isinstance(values, tuple) or not values:
                    raise ValueError(f"CrossValidation.grid[{algorithm!r}][{path!r}] must be a non-empty tuple "
                                     f"of values, got {values!r}")


def grid_points(axes: Mapping[str, tuple]) -> list[dict[str, Any]]:
    """The cross product of ``axes`` in declared order (the last axis varies fastest)."""
    names = list(axes)
    return [dict(zip(names, values)) for values in itertools.product(*(axes[n] for n in names))]


def apply_point(train: Mapping[str, Any], options: Mapping[str, Any], point: Point) -> tuple[dict, dict]:
    """``(train, options)`` with the point's values set (nested dicts are copied, never mutated)."""
    train, options = dict(train), _copy(options)
    for path, value in point.items():
        head, _, rest = path.partition(".")
        if head == "train" and rest:
            if "." in rest:
                raise ValueError(f"grid option {path!r}: TrainConfig has no nested fields")
            train[rest] = value
            continue
        node = options
        *parents, leaf = path.split(".")
        for parent in parents:
            child = node.get(parent)
            node[parent] = child = dict(child) if isinstance(child, Mapping) else {}
            node = child
        node[leaf] = value
    return train, options


def _copy(options: Mapping[str, Any]) -> dict:
    return {k: _copy(v) if isinstance(v, Mapping) else v for k, v in options.items()}


def point_label(point: Point) -> str:
    """``"learning_rate=0.001, num_layers=3"``: last path components, full paths where they clash."""
    if not point:
        return "profile settings"
    leaves = [path.rsplit(".", 1)[-1] for path in point]
    names = [leaf if leaves.count(leaf) == 1 else path for leaf, path in zip(leaves, point)]
    return ", ".join(f"{name}={value:g}" if isinstance(value, float) else f"{name}={value}"
                     for name, value in zip(names, point.values()))


@dataclasses.dataclass(frozen=True)
class Candidate:
    """One grid point's cross-validation evidence.

    Attributes:
        point: option path → value.
        statuses: per fold, the record's status, or ``"missing"`` where no record exists.
        valid_jc: float ``[folds]`` validation JC (×100) per fold; NaN where the fold is not ``ok``.
    """

    point: Point
    statuses: tuple[str, ...]
    valid_jc: tuple[float, ...]

    @property
    def complete(self) -> bool:
        """Every fold has a finished record (``failed`` and ``missing`` are not finished)."""
        return all(s not in ("failed", "missing") for s in self.statuses)

    @property
    def eligible(self) -> bool:
        return all(s == "ok" for s in self.statuses)

    @property
    def mean(self) -> float:
        return float(np.mean(self.valid_jc)) if self.eligible else math.nan

    @property
    def std(self) -> float:
        return float(np.std(self.valid_jc, ddof=1)) if self.eligible and len(self.valid_jc) > 1 else math.nan


@dataclasses.dataclass(frozen=True)
class Selection:
    """The outcome of cross-validation for one dataset × algorithm.

    Attributes:
        best: the selected candidate, or ``None`` with ``reason`` saying why not.
    """

    dataset: str
    algorithm: str
    candidates: tuple[Candidate, ...]
    best: Candidate | None
    reason: str = ""


def select(dataset: str, algorithm: str, candidates: Sequence[Candidate]) -> Selection:
    """The candidate with the highest mean validation JC; ties go to the earliest in grid order.

    No candidate is selected while any fold of any candidate lacks a finished record, nor when every
    candidate diverged (or did not converge) in some fold.
    """
    candidates = tuple(candidates)
    unfinished = sum(s in ("failed", "missing") for c in candidates for s in c.statuses)
    if unfinished:
        failed = sum(s == "failed" for c in candidates for s in c.statuses)
        total = sum(len(c.statuses) for c in candidates)
        return Selection(dataset, algorithm, candidates, None,
                         f"{unfinished} of {total} cross-validation jobs unfinished ({failed} failed)")
    eligible = [c for c in candidates if c.eligible]
    if not eligible:
        return Selection(dataset, algorithm, candidates, None,
                         "every grid point diverged or did not converge in at least one fold")
    best = max(eligible, key=lambda c: c.mean)  # max keeps the first of equal keys
    return Selection(dataset, algorithm, candidates, best)


def selection_frame(selections: Sequence[Selection]) -> "pd.DataFrame":
    """One row per dataset × algorithm × grid point × fold: status, validation JC, whether selected."""
    import pandas as pd

    rows = []
    for s in selections:
        for c in s.candidates:
            for fold, (status, jc) in enumerate(zip(c.statuses, c.valid_jc)):
                rows.append({"dataset": s.dataset, "algorithm": s.algorithm, "point": point_label(c.point),
                             **{f"hp:{path}": value for path, value in c.point.items()},
                             "fold": fold, "status": status, "valid_jc": jc, "point_mean_valid_jc": c.mean,
                             "selected": s.best is c})
    return pd.DataFrame(rows)

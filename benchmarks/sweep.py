"""A profile's sweep in stages: cross-validation, selection, then the models scored on the test split.

Without a :class:`~.selection.CrossValidation`, a sweep is the profile's ``(algorithm × dataset ×
seed)`` jobs (:func:`~.runner.expand`) in one stage. With one, each dataset × algorithm *cell*

1. fits every grid point on every fold of train ∪ valid (stage ``cv``, model seed fixed);
2. selects the point with the best mean validation JC (:func:`~.selection.select`);
3. trains one model per seed with the selected point on the dataset's own split and scores the
   test split (stage ``test``).

Every stage is a list of ordinary jobs in the record store, so a killed sweep resumes: stage 1's
finished jobs are reused, the selection is recomputed from their records (deterministically) and
stage 3 continues. :func:`collect` reads the same structure without running anything (``table``,
``status``, ``plot``).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Sequence

from .profiles import Profile
from .registry import ALGORITHMS, UnknownNameError
from .runner import Job, expand, run_jobs
from .selection import Candidate, Selection, apply_point, grid_points, select
from .store import AnyCodeView, RecordStore

__all__ = ["Cell", "Sweep", "Outcome", "plan", "run_sweep", "collect"]


@dataclasses.dataclass(frozen=True)
class Cell:
    """One dataset × algorithm of a sweep.

    Attributes:
        points: the grid points (empty without cross-validation).
        cv_jobs: ``[point][fold]`` cross-validation jobs.
        base_jobs: one job per seed with the profile's settings; the test-stage jobs are these with
            the selected point applied (or these as they are, without cross-validation).
    """

    dataset: str
    algorithm: str
    points: tuple[Mapping[str, Any], ...]
    cv_jobs: tuple[tuple[Job, ...], ...]
    base_jobs: tuple[Job, ...]

    def test_jobs(self, point: Mapping[str, Any] | None) -> list[Job]:
        if point is None:
            return list(self.base_jobs)
        return [_with_point(job, point) for job in self.base_jobs]


def _with_point(job: Job, point: Mapping[str, Any], **changes) -> Job:
    train, options = apply_point(job.train, job.algorithm_options, point)
    return dataclasses.replace(job, train=train, algorithm_options=options, hyper=dict(point), **changes)


@dataclasses.dataclass(frozen=True)
class Sweep:
    profile: Profile
    cells: tuple[Cell, ...]

    @property
    def cross_validated(self) -> bool:
        return self.profile.selection is not None

    def cv_jobs(self) -> list[Job]:
        """Stage 1, fold-major (an interrupted sweep has whole folds of every cell, not all of a few)."""
        if not self.cells or not self.cross_validated:
            return []
        folds = self.profile.selection.folds
        return [jobs[fold] for fold in range(folds) for cell in self.cells for jobs in cell.cv_jobs]

    def select(self, store: RecordStore) -> list[Selection]:
        """Each cell's selection from the stored cross-validation records (empty without CV)."""
        if not self.cross_validated:
            return []
        selections = []
        for cell in self.cells:
            candidates = []
            for point, jobs in zip(cell.points, cell.cv_jobs):
                records = [store.get(job.key) for job in jobs]
                statuses = tuple("missing" if r is None else r["status"] for r in records)
                scores = tuple(float(r["valid_jc"]) if r is not None and r["status"] == "ok" else float("nan")
                               for r in records)
                candidates.append(Candidate(point, statuses, scores))
            selections.append(select(cell.dataset, cell.algorithm, candidates))
        return selections

    def test_jobs(self, selections: Sequence[Selection] = ()) -> list[Job]:
        """Stage 3, seed-major; with cross-validation, only for cells that have a selection."""
        chosen = {(s.dataset, s.algorithm): s.best for s in selections}
        per_cell = []
        for cell in self.cells:
            if not self.cross_validated:
                per_cell.append(cell.test_jobs(None))
            elif chosen.get((cell.dataset, cell.algorithm)) is not None:
                per_cell.append(cell.test_jobs(chosen[(cell.dataset, cell.algorithm)].point))
        return [jobs[i] for i in range(max(map(len, per_cell), default=0)) for jobs in per_cell if i < len(jobs)]


def plan(profile: Profile, *, grid_overrides: Mapping[str, Mapping[str, tuple]] | None = None,
         **expand_options) -> Sweep:
    """The sweep of ``profile``, narrowed and overridden as :func:`~.runner.expand` allows.

    Args:
        grid_overrides: algorithm → {option path → values}, replacing (or adding) axes of the
            profile's grid, e.g. ``{"iDiffMF_2": {"fixed_point.backward": ("normal_cg",)}}``.

    Raises:
        UnknownNameError: for an override naming an unknown algorithm.
        ValueError: for grid overrides on a profile without cross-validation, or an algorithm
            the profile's grid does not cover.
    """
    base = expand(profile, **expand_options)
    grid = _grid(profile, grid_overrides or {})
    cells: dict[tuple[str, str], list[Job]] = {}
    for job in base:
        cells.setdefault((job.dataset, job.algorithm), []).append(job)
    built = []
    for (dataset, algorithm), jobs in cells.items():
        jobs.sort(key=lambda job: job.seed)
        points: tuple = ()
        cv_jobs: tuple = ()
        if profile.selection is not None:
            if algorithm not in grid:
                raise ValueError(f"profile {profile.name!r} has no hyper-parameter grid for {algorithm!r}; "
                                 f"add one to its CrossValidation.grid in benchmarks/profiles.py")
            cv = profile.selection
            points = tuple(grid_points(grid[algorithm]))
            cv_jobs = tuple(
                tuple(_with_point(jobs[0], point, seed=cv.model_seed,
                                  cv={"folds": cv.folds, "fold": fold, "seed": cv.fold_seed})
                      for fold in range(cv.folds))
                for point in points)
        built.append(Cell(dataset, algorithm, points, cv_jobs, tuple(jobs)))
    return Sweep(profile, tuple(built))


def _grid(profile: Profile, overrides: Mapping[str, Mapping[str, tuple]]) -> dict[str, dict[str, tuple]]:
    if overrides and profile.selection is None:
        raise ValueError(f"--grid: profile {profile.name!r} selects no hyper-parameters (no cross-validation); "
                         f"use --set to change a setting")
    grid = {name: dict(axes) for name, axes in (profile.selection.grid.items() if profile.selection else ())}
    for algorithm, axes in overrides.items():
        if algorithm not in ALGORITHMS:
            raise UnknownNameError(f"--grid: unknown algorithm {algorithm!r}; choose from {', '.join(ALGORITHMS)}")
        grid.setdefault(algorithm, {}).update({path: tuple(values) for path, values in axes.items()})
    return grid


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What a sweep has produced so far.

    Attributes:
        selections: one per cell with cross-validation (empty without).
        test_jobs: the test-stage jobs that can be known (those of selected cells).
        records: key → record of every job of the sweep that has one.
    """

    sweep: Sweep
    selections: tuple[Selection, ...]
    test_jobs: tuple[Job, ...]
    records: Mapping[str, dict]

    def test_records(self) -> list[dict]:
        return [self.records[job.key] for job in self.test_jobs if job.key in self.records]

    def cv_records(self) -> list[dict]:
        return [self.records[job.key] for job in self.sweep.cv_jobs() if job.key in self.records]


def run_sweep(sweep: Sweep, store: RecordStore, *, executor=None, force: bool = False,
              progress: bool = True) -> Outcome:
    """Run every stage of ``sweep`` (finished jobs are reused unless ``force``)."""
    records = {}
    cv_jobs = sweep.cv_jobs()
    if cv_jobs:
        for job, record in zip(cv_jobs, run_jobs(cv_jobs, store, executor=executor, force=force, progress=progress,
                                                 description="cross-validation")):
            records[job.key] = record
    selections = sweep.select(store)
    test_jobs = sweep.test_jobs(selections)
    for job, record in zip(test_jobs, run_jobs(test_jobs, store, executor=executor, force=force, progress=progress,
                                               description="test models")):
        records[job.key] = record
    return Outcome(sweep, tuple(selections), tuple(test_jobs), records)


def collect(sweep: Sweep, store: RecordStore, *, any_code: bool = False) -> Outcome:
    """The sweep's stored records and selections, running nothing.

    ``any_code``: also use records of the same settings written by other code versions
    (:class:`~.store.AnyCodeView`), for the selections and the test models alike.
    """
    if any_code:
        view = AnyCodeView(store)
        view.know(sweep.cv_jobs())
        view.know(sweep.test_jobs(sweep.select(view)))
        store = view
    selections = sweep.select(store)
    test_jobs = sweep.test_jobs(selections)
    records = {}
    for job in [*sweep.cv_jobs(), *test_jobs]:
        record = store.get(job.key)
        if record is not None:
            records[job.key] = record
    return Outcome(sweep, tuple(selections), tuple(test_jobs), records)

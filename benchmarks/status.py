"""Where a sweep stands: finished, failed, running and pending jobs per stage and per cell.

"Running" means some process holds the job's lock (:meth:`~.store.RecordStore.is_running`), on
this machine or, for a store on a shared filesystem, on a node whose locks the filesystem honours.
"""

from __future__ import annotations

import math
from typing import Sequence

from .runner import Job
from .selection import point_label
from .store import FINISHED, RecordStore
from .sweep import Outcome

__all__ = ["render_status"]


def _counts(jobs: Sequence[Job], outcome: Outcome, store: RecordStore) -> dict[str, int]:
    counts = {"jobs": len(jobs), "ok": 0, "excluded": 0, "failed": 0, "running": 0, "pending": 0}
    for job in jobs:
        record = outcome.records.get(job.key)
        status = record["status"] if record is not None else None
        if status == "ok":
            counts["ok"] += 1
        elif status in FINISHED:
            counts["excluded"] += 1
        elif store.is_running(job.key):
            counts["running"] += 1
        elif status == "failed":
            counts["failed"] += 1
        else:
            counts["pending"] += 1
    return counts


def _stage_line(name: str, counts: dict[str, int]) -> str:
    return (f"| {name} | {counts['jobs']} | {counts['ok']} | {counts['excluded']} | {counts['failed']} "
            f"| {counts['running']} | {counts['pending']} |")


def render_status(outcome: Outcome, store: RecordStore) -> str:
    """A Markdown report of ``outcome`` (from :func:`~.sweep.collect`) against ``store``."""
    sweep = outcome.sweep
    profile = sweep.profile
    cells = sweep.cells
    lines = [f"# Sweep status — profile `{profile.name}`", "",
             f"{len({c.dataset for c in cells})} datasets × {len({c.algorithm for c in cells})} algorithms"
             + (f"; {profile.selection.folds}-fold cross-validation of "
                f"{sum(len(c.points) for c in cells)} grid points in all, then the selected point per seed"
                if sweep.cross_validated else "; one model per seed") + f". Records: `{store.folder}`.", "",
             "| stage | jobs | ok | excluded (diverged, not converged) | failed (retried on rerun) | running "
             "| pending |", "|---|---|---|---|---|---|---|"]
    if sweep.cross_validated:
        lines.append(_stage_line("cross-validation", _counts(sweep.cv_jobs(), outcome, store)))
    lines.append(_stage_line("test models", _counts(outcome.test_jobs, outcome, store)))
    waiting = {(s.dataset, s.algorithm) for s in outcome.selections if s.best is None}
    if waiting:
        blocked = sum(len(c.base_jobs) for c in cells if (c.dataset, c.algorithm) in waiting)
        lines += ["", f"{blocked} test-model jobs of {len(waiting)} cells wait for their selection "
                      f"(not counted above)."]
    selections = {(s.dataset, s.algorithm): s for s in outcome.selections}
    lines += ["", "| dataset | algorithm | cross-validation finished | selected | test models finished "
                  "| test JC (mean of ok) |", "|---|---|---|---|---|---|"]
    for cell in cells:
        cv_jobs = [job for jobs in cell.cv_jobs for job in jobs]
        cv_done = sum(outcome.records.get(j.key, {}).get("status") in FINISHED for j in cv_jobs)
        selection = selections.get((cell.dataset, cell.algorithm))
        if selection is None:
            chosen, tests = "—", cell.test_jobs(None)
        elif selection.best is None:
            chosen, tests = f"none yet: {selection.reason}", []
        else:
            chosen, tests = point_label(selection.best.point), cell.test_jobs(selection.best.point)
        test_records = [outcome.records[j.key] for j in tests if j.key in outcome.records]
        done = sum(r["status"] in FINISHED for r in test_records)
        scores = [r["test_jc"] for r in test_records if r["status"] == "ok"]
        mean = sum(scores) / len(scores) if scores else math.nan
        lines.append(f"| {cell.dataset} | {cell.algorithm} | "
                     + (f"{cv_done} of {len(cv_jobs)}" if sweep.cross_validated else "—")
                     + f" | {chosen} | {done} of {len(cell.base_jobs)} | "
                     + (f"{mean:.2f}" if math.isfinite(mean) else "—") + " |")
    journal = store.journal()
    if journal:
        last = journal[-1]
        lines += ["", f"Journal: {sum(e['event'] == 'start' for e in journal)} job starts, "
                      f"{sum(e['event'] == 'finish' for e in journal)} finishes; last: {last['event']} "
                      f"{last.get('label', last['key'])} at {last['time']} on {last['host']}."]
    return "\n".join(lines) + "\n"

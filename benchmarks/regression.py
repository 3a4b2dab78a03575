"""CI regression check of Jaccard scores: the ``regress`` profile against a committed baseline.

``make regress`` runs the ``regress`` profile (:mod:`.profiles`) through the ordinary runner and
record store, into its own folder (``results/regress/runs``, never the user's ``results/runs``),
and compares each dataset × algorithm cell's mean test JC over the seeds with the baseline file
(``results/regression_baseline.json``). A cell **fails** when

* its mean JC dropped by more than ``max(1.0, 3 × σ)``, where σ is the seed-to-seed standard
  deviation (``ddof = 1``) recorded when the baseline was set;
* any of its runs did not end ``ok`` (failed, non-finite loss, fixed point not converged) or
  scored a non-finite JC;
* it has no baseline (an algorithm registered since: run ``make regress-update``).

Improvements, and baseline cells no longer run (an algorithm removed from the registry), are
reported, not failed. ``make regress-update`` runs the profile and rewrites the baseline with its
provenance (git commit, date, machine and CPU, Python and package versions, code version) and the
profile's resolved config and hash. The check refuses, before running anything, a baseline whose
config differs from the profile's for a cell both have, or whose seeds differ: scores of different
settings are not comparable. The comparison is also written as Markdown
(``results/regress/regression.md``).
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import math
import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from .environment import code_version, machine, package_versions
from .profiles import Profile, get_profile
from .runner import validate_configs, validate_data
from .store import RecordStore, atomic_write_text
from .sweep import Sweep, plan, run_sweep

__all__ = ["BASELINE_PATH", "BaselineError", "CellScores", "Finding", "RESULTS_PATH", "chance_jaccard", "compare",
           "check_config", "load_baseline", "make_baseline", "render_report", "resolved_config", "run_regression",
           "scores_of", "tolerance"]

#: The committed baseline and the check's own results folder (relative to the repository root).
BASELINE_PATH = Path("results/regression_baseline.json")
RESULTS_PATH = Path("results/regress")
#: A drop of the mean JC larger than max(MIN_TOLERANCE, STD_FACTOR × baseline σ) fails the check.
MIN_TOLERANCE = 1.0
STD_FACTOR = 3.0
#: Version of the baseline file's layout.
FORMAT = 1


class BaselineError(ValueError):
    """The baseline file is absent, malformed or was produced by a different profile config."""


def tolerance(std: float) -> float:
    """The largest allowed drop of a cell's mean JC: ``max(1.0, 3 × std)`` (JC points)."""
    return max(MIN_TOLERANCE, STD_FACTOR * std)


def chance_jaccard(v_size: int, s_size: int) -> float:
    """Expected JC (×100) of ``|S*|`` items drawn uniformly at random from ``|V|``.

    The overlap ``X = |Ŝ ∩ S*|`` is hypergeometric, ``P(X = x) = C(k, x) C(v − k, k − x) / C(v, k)``,
    and the Jaccard coefficient of two k-subsets with overlap x is ``x / (2k − x)``.
    """
    k, v = s_size, v_size
    total = math.comb(v, k)
    return 100.0 * sum(math.comb(k, x) * math.comb(v - k, k - x) / total * x / (2 * k - x) for x in range(k + 1))


@dataclasses.dataclass(frozen=True, kw_only=True)
class CellScores:
    """One dataset × algorithm cell of a run: per-seed test JC and run status.

    Attributes:
        test_jc: one per seed, in ``seeds`` order; NaN where the run has no score.
        statuses: one per seed (``ok``, ``nonfinite``, ``not_converged``, ``failed``, ``missing``).
        messages: one per seed, why a run is not ``ok`` (empty otherwise).
    """

    dataset: str
    algorithm: str
    seeds: tuple[int, ...]
    test_jc: tuple[float, ...]
    statuses: tuple[str, ...]
    messages: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return f"{self.algorithm} / {self.dataset}"

    @property
    def problems(self) -> list[str]:
        """Why the cell cannot be scored: one line per seed whose run is not ``ok`` with a finite JC."""
        messages = self.messages or ("",) * len(self.seeds)
        return [f"seed {seed}: status {status}" + (f" ({message})" if message else "")
                if status != "ok" else f"seed {seed}: non-finite test JC {jc}"
                for seed, jc, status, message in zip(self.seeds, self.test_jc, self.statuses, messages)
                if status != "ok" or not math.isfinite(jc)]

    @property
    def mean(self) -> float:
        return float(np.mean(self.test_jc))

    @property
    def std(self) -> float:
        """Seed-to-seed standard deviation (``ddof = 1``; 0 for a single seed)."""
        return float(np.std(self.test_jc, ddof=1)) if len(self.test_jc) > 1 else 0.0


@dataclasses.dataclass(frozen=True, kw_only=True)
class Finding:
    """The verdict on one cell.

    Attributes:
        kind: ``pass``, ``improved``, ``regressed``, ``broken`` (a run not ``ok``), ``no_baseline``
            or ``not_run`` (in the baseline only).
        old, new: mean JC of the baseline and of this run (NaN where absent).
        tol: the allowed drop.
        identical: every seed's JC equals the baseline's to the bit.
    """

    dataset: str
    algorithm: str
    kind: str
    message: str
    old: float = math.nan
    new: float = math.nan
    tol: float = math.nan
    identical: bool = False

    @property
    def failed(self) -> bool:
        return self.kind in ("regressed", "broken", "no_baseline")


def _canonical_hash(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _cell_key(dataset: str, algorithm: str) -> str:
    return f"{dataset} / {algorithm}"


def resolved_config(sweep: Sweep) -> dict[str, Any]:
    """The profile's resolved settings: its seeds, and per cell every setting of its jobs but the seed.

    Returns:
        ``{"profile", "seeds", "cells": {"<dataset> / <algorithm>": settings}, "hash"}``, where
        ``settings`` is :meth:`Job.settings` without ``seed`` (data, model, training, threads).
    """
    cells = {}
    seeds = None
    for cell in sweep.cells:
        settings = cell.base_jobs[0].settings()
        settings.pop("seed")
        cells[_cell_key(cell.dataset, cell.algorithm)] = json.loads(json.dumps(settings, default=str))
        cell_seeds = [job.seed for job in cell.base_jobs]
        seeds = cell_seeds if seeds is None else seeds
    config = {"profile": sweep.profile.name, "seeds": seeds or [], "cells": cells}
    return {**config, "hash": _canonical_hash(config)}


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, Mapping):
        flat = {}
        for key, item in value.items():
            flat.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    return {prefix: value}


def check_config(baseline: Mapping[str, Any], config: Mapping[str, Any], path: Path) -> None:
    """Refuse a baseline produced by a different profile config (cells new or gone are allowed).

    Raises:
        BaselineError: naming the baseline file, both hashes and each differing setting.
    """
    old = baseline["config"]
    if old["hash"] == config["hash"]:
        return
    differences = []
    if old["profile"] != config["profile"]:
        differences.append(f"profile {old['profile']!r} → {config['profile']!r}")
    if list(old["seeds"]) != list(config["seeds"]):
        differences.append(f"seeds {old['seeds']} → {config['seeds']}")
    for cell in sorted(set(old["cells"]) & set(config["cells"])):
        before, after = _flatten(old["cells"][cell]), _flatten(config["cells"][cell])
        for field in sorted(set(before) | set(after)):
            if before.get(field, "(absent)") != after.get(field, "(absent)"):
                differences.append(f"{cell}: {field} {before.get(field, '(absent)')!r} → "
                                   f"{after.get(field, '(absent)')!r}")
    if differences:
        shown = "; ".join(differences[:8]) + (f"; and {len(differences) - 8} more" if len(differences) > 8 else "")
        raise BaselineError(
            f"{path}: the baseline was produced by a different {config['profile']!r} profile config (hash "
            f"{old['hash']}, now {config['hash']}): {shown}. Scores of different settings are not comparable: "
            f"run `make regress-update` and commit the new baseline with the change that explains it")


def load_baseline(path: Path) -> dict[str, Any]:
    """Read and validate a baseline file.

    Raises:
        BaselineError: naming the file (and line, or field) that is absent or malformed.
    """
    path = Path(path)
    if not path.is_file():
        raise BaselineError(f"{path}: baseline file not found; create it with `make regress-update` "
                            f"(`python -m setbench.benchmarks regress --update`) and commit it")
    text = path.read_text(encoding="utf-8")
    try:
        baseline = json.loads(text)
    except json.JSONDecodeError as err:
        raise BaselineError(f"{path}:{err.lineno}: invalid JSON ({err.msg})") from None
    if not isinstance(baseline, dict) or baseline.get("format") != FORMAT:
        found = baseline.get("format") if isinstance(baseline, dict) else type(baseline).__name__
        raise BaselineError(f"{path}: field 'format' must be {FORMAT}, got {found!r}; rewrite the baseline "
                            f"with `make regress-update`")
    for field in ("config", "cells", "provenance"):
        if field not in baseline:
            raise BaselineError(f"{path}: field {field!r} missing")
    for field in ("profile", "seeds", "cells", "hash"):
        if field not in baseline["config"]:
            raise BaselineError(f"{path}: field 'config.{field}' missing")
    for index, cell in enumerate(baseline["cells"]):
        for field, kind in (("dataset", str), ("algorithm", str), ("seeds", list), ("test_jc", list),
                            ("mean", (int, float)), ("std", (int, float))):
            if not isinstance(cell.get(field), kind):
                raise BaselineError(f"{path}: field 'cells[{index}].{field}' missing or not a "
                                    f"{getattr(kind, '__name__', 'number')}")
        if not all(isinstance(jc, (int, float)) and math.isfinite(jc) for jc in cell["test_jc"]):
            raise BaselineError(f"{path}: field 'cells[{index}].test_jc' ({cell['algorithm']} / "
                                f"{cell['dataset']}) holds a non-finite score: {cell['test_jc']}")
    return baseline


def compare(baseline: Mapping[str, Any], current: Sequence[CellScores]) -> list[Finding]:
    """The verdict on every cell of ``current``, then on every baseline cell it lacks.

    Args:
        baseline: a baseline as :func:`load_baseline` returns it.
        current: this run's cells.
    """
    old_cells = {(cell["dataset"], cell["algorithm"]): cell for cell in baseline["cells"]}
    findings = []
    for cell in current:
        old = old_cells.get((cell.dataset, cell.algorithm))
        if cell.problems:
            findings.append(Finding(
                dataset=cell.dataset, algorithm=cell.algorithm, kind="broken",
                old=old["mean"] if old else math.nan,
                message=f"{cell.label}: {len(cell.problems)} of {len(cell.seeds)} runs have no valid score: "
                        + "; ".join(cell.problems)))
            continue
        if old is None:
            findings.append(Finding(
                dataset=cell.dataset, algorithm=cell.algorithm, kind="no_baseline", new=cell.mean,
                message=f"{cell.label}: no baseline (a newly registered algorithm or dataset?); test JC "
                        f"{cell.mean:.2f}. Run `make regress-update` and commit the baseline"))
            continue
        allowed = tolerance(float(old["std"]))
        drop = old["mean"] - cell.mean
        identical = list(old["seeds"]) == list(cell.seeds) and list(old["test_jc"]) == list(cell.test_jc)
        common = dict(dataset=cell.dataset, algorithm=cell.algorithm, old=old["mean"], new=cell.mean, tol=allowed,
                      identical=identical)
        if drop > allowed:
            findings.append(Finding(
                kind="regressed", **common,
                message=f"{cell.algorithm} / {cell.dataset}: test JC dropped from {old['mean']:.2f} to "
                        f"{cell.mean:.2f} (-{drop:.2f}), more than the tolerance {allowed:.2f} = max("
                        f"{MIN_TOLERANCE:g}, {STD_FACTOR:g} x seed std {old['std']:.2f})"))
        elif -drop > allowed:
            findings.append(Finding(kind="improved", **common,
                                    message=f"{cell.label}: test JC improved from {old['mean']:.2f} to {cell.mean:.2f} "
                                            f"(+{-drop:.2f}, tolerance {allowed:.2f}); consider `make regress-update`"))
        else:
            findings.append(Finding(kind="pass", **common,
                                    message=f"{cell.label}: test JC {cell.mean:.2f} vs {old['mean']:.2f} "
                                            f"(tolerance {allowed:.2f})"))
    seen = {(cell.dataset, cell.algorithm) for cell in current}
    for (dataset, algorithm), old in old_cells.items():
        if (dataset, algorithm) not in seen:
            findings.append(Finding(dataset=dataset, algorithm=algorithm, kind="not_run", old=old["mean"],
                                    message=f"{algorithm} / {dataset}: in the baseline but not in the profile (no "
                                            f"longer registered?); `make regress-update` drops it"))
    return findings


def scores_of(sweep: Sweep, records: Mapping[str, dict]) -> list[CellScores]:
    """Per cell, the test-stage records' JC and status in seed order (``missing`` where none)."""
    cells = []
    for cell in sweep.cells:
        found = [records.get(job.key) for job in cell.base_jobs]
        cells.append(CellScores(
            dataset=cell.dataset, algorithm=cell.algorithm, seeds=tuple(job.seed for job in cell.base_jobs),
            test_jc=tuple(math.nan if r is None or r.get("test_jc") is None else float(r["test_jc"]) for r in found),
            statuses=tuple("missing" if r is None else r["status"] for r in found),
            messages=tuple("" if r is None else str(r.get("message", "")) for r in found)))
    return cells


def _git(*args: str) -> str:
    try:
        done = subprocess.run(["git", *args], capture_output=True, text=True, check=True, timeout=30,
                              cwd=Path(__file__).resolve().parent)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return done.stdout.strip()


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _source_state() -> dict[str, Any]:
    """The git commit and code version of the code about to run (read before the run starts)."""
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {"git_commit": _git("rev-parse", "HEAD"), "git_dirty": status not in ("", "unknown"),
            "code_version": code_version()}


def provenance(source: Mapping[str, Any], started: float, load_before: tuple[float, ...]) -> dict[str, Any]:
    """Where and when a run was made: commit, date, machine and CPU, versions, load and wall time."""
    return {
        **source, "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {**machine(), "cpu_model": _cpu_model()}, "versions": package_versions(),
        "wall_seconds": round(time.perf_counter() - started, 1),
        "load_average_start": [round(x, 2) for x in load_before],
        "load_average_end": [round(x, 2) for x in os.getloadavg()],
    }


def make_baseline(cells: Sequence[CellScores], config: Mapping[str, Any], chance: Mapping[str, float],
                  prov: Mapping[str, Any]) -> dict[str, Any]:
    """The baseline file's content.

    Raises:
        BaselineError: when a run has no valid score (a broken run is no baseline).
    """
    broken = [f"{cell.label}: {'; '.join(cell.problems)}" for cell in cells if cell.problems]
    if broken:
        raise BaselineError("not writing a baseline: some runs have no valid score: " + " | ".join(broken))
    return {
        "format": FORMAT,
        "tolerance_rule": f"fail when the mean test JC drops by more than max({MIN_TOLERANCE:g}, "
                          f"{STD_FACTOR:g} x seed std (ddof=1))",
        "provenance": dict(prov), "config": dict(config), "chance_jc": dict(chance),
        "cells": [{"dataset": c.dataset, "algorithm": c.algorithm, "seeds": list(c.seeds), "test_jc": list(c.test_jc),
                   "mean": c.mean, "std": c.std} for c in cells],
    }


_VERDICT = {"pass": "pass", "improved": "improved", "regressed": "**REGRESSED**", "broken": "**BROKEN RUN**",
            "no_baseline": "**NO BASELINE**", "not_run": "not run"}


def _number(value: float) -> str:
    return f"{value:.2f}" if math.isfinite(value) else "—"


def render_report(findings: Sequence[Finding], cells: Sequence[CellScores], baseline: Mapping[str, Any] | None,
                  prov: Mapping[str, Any], chance: Mapping[str, float], *, title: str) -> str:
    """The comparison as Markdown: verdicts, per-seed scores, chance level and both provenances."""
    failed = [f for f in findings if f.failed]
    by_cell = {(c.dataset, c.algorithm): c for c in cells}
    lines = [f"# {title}", "",
             f"**{'FAILED' if failed else 'PASSED'}**: {len(failed)} of {len(findings)} cells fail. A cell fails "
             f"when its mean test JC over the seeds drops by more than max({MIN_TOLERANCE:g}, {STD_FACTOR:g} × the "
             f"seed-to-seed std of the baseline), when a run has no valid score, or when it has no baseline.", ""]
    if failed:
        lines += [f"- {f.message}" for f in failed] + [""]
    lines += ["| dataset | algorithm | baseline JC (mean ± std) | this run | change | tolerance | per-seed JC | "
              "identical | verdict |", "|---|---|---|---|---|---|---|---|---|"]
    old_cells = {(c["dataset"], c["algorithm"]): c for c in (baseline or {}).get("cells", [])}
    for f in findings:
        old, new = old_cells.get((f.dataset, f.algorithm)), by_cell.get((f.dataset, f.algorithm))
        before = f"{old['mean']:.2f} ± {old['std']:.2f}" if old else "—"
        after = f"{new.mean:.2f} ± {new.std:.2f}" if new and not new.problems else "—"
        change = f"{f.new - f.old:+.2f}" if math.isfinite(f.new - f.old) else "—"
        seeds = ", ".join(_number(jc) for jc in new.test_jc) if new else "—"
        lines.append(f"| {f.dataset} | {f.algorithm} | {before} | {after} | {change} | {_number(f.tol)} | {seeds} | "
                     f"{'yes' if f.identical else 'no'} | {_VERDICT[f.kind]} |")
    lines += ["", "Chance level (|S\\*| items drawn at random): "
              + ", ".join(f"{name} {value:.2f}" for name, value in chance.items()) + ".", ""]
    for name, facts in (("This run", prov), ("Baseline", (baseline or {}).get("provenance"))):
        if facts:
            dirty = " (uncommitted changes)" if facts["git_dirty"] else ""
            lines.append(f"{name}: commit {facts['git_commit'][:12]}{dirty}, code {facts['code_version']}, "
                         f"{facts['date']}, {facts['machine']['cpu_model']} ({facts['machine']['cpus']} CPUs), Python {facts['versions']['python']}, "
                         f"{facts['wall_seconds']:.0f} s, load average {facts['load_average_start'][0]:.2f} → "
                         f"{facts['load_average_end'][0]:.2f}.")
    if baseline:
        lines.append(f"Profile config hash {baseline['config']['hash']}.")
    return "\n".join(lines) + "\n"


def _chance(sweep: Sweep) -> dict[str, float]:
    sizes = {}
    for cell in sweep.cells:
        options = cell.base_jobs[0].data_options.get("sizes", {})
        if "v_size" in options and "s_size" in options:
            sizes[cell.dataset] = round(chance_jaccard(options["v_size"], options["s_size"]), 4)
    return sizes


def run_regression(*, profile: Profile | None = None, baseline_path: Path = BASELINE_PATH,
                   results: Path = RESULTS_PATH, update: bool = False, executor=None, resume: bool = False,
                   progress: bool = True) -> tuple[list[Finding], Path]:
    """Run the ``regress`` profile and compare it with the baseline (or, with ``update``, rewrite it).

    Args:
        profile: default the ``regress`` profile; tests pass a narrowed copy.
        results: folder of this check's records (``runs/``) and report (``regression.md``).
        resume: reuse this code's finished records in ``results`` instead of rerunning every job.

    Returns:
        The findings and the report's path. With ``update``, the findings compare the run with the
        previous baseline where its config matches (what the update changes), else with itself.

    Raises:
        BaselineError: before any job runs, for an absent, malformed or incompatible baseline (unless
            ``update``); after the run, with ``update``, when a run has no valid score.
    """
    sweep = plan(profile or get_profile("regress"))
    config = resolved_config(sweep)
    baseline = None
    if not update:
        baseline = load_baseline(baseline_path)
        check_config(baseline, config, baseline_path)
    elif Path(baseline_path).is_file():
        try:
            baseline = load_baseline(baseline_path)
            check_config(baseline, config, baseline_path)
        except BaselineError:
            baseline = None  # an old baseline of other settings: nothing to compare with
    jobs = [job for cell in sweep.cells for job in cell.base_jobs]
    validate_configs(jobs)
    validate_data(jobs)
    source, load_before, started = _source_state(), os.getloadavg(), time.perf_counter()
    outcome = run_sweep(sweep, RecordStore(Path(results) / "runs"), executor=executor, force=not resume,
                        progress=progress)
    cells = scores_of(sweep, outcome.records)
    prov, chance = provenance(source, started, load_before), _chance(sweep)
    if update:
        written = make_baseline(cells, config, chance, prov)
        atomic_write_text(Path(baseline_path), json.dumps(written, indent=1) + "\n")
        title = (f"Regression baseline rewritten ({baseline_path}): this run against the previous baseline"
                 if baseline else f"Regression baseline written ({baseline_path})")
        baseline = baseline or written
    else:
        title = f"Regression check against {baseline_path}"
    findings = compare(baseline, cells)
    report = Path(results) / "regression.md"
    atomic_write_text(report, render_report(findings, cells, baseline, prov, chance, title=title))
    return findings, report

"""Command line: ``python -m setbench.benchmarks {run,table,plot,status,data,verify,regress}`` (``make bench``
calls ``run``, ``make verify`` calls ``verify``, ``make regress`` calls ``regress``).

Arguments become a profile's sweep; library functions do the work. Every verb takes the same
sweep arguments, so ``table``, ``plot`` and ``status`` address exactly the jobs ``run`` runs. Bad
names, sizes or data files fail before any job starts, with one line naming the problem and exit
status 2. One function per verb (``_run``, ``_table``, ...), registered in ``VERBS``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections import Counter
from pathlib import Path

from setbench.datasets import SOURCES, DataFileError

from .ceiling import GENERATED, generator_ceiling, published_split_ceiling
from .environment import code_version
from .executors import LocalExecutor, SubmititExecutor
from .plots import FIGURES, save_figure
from .profiles import PROFILES, get_profile
from .regression import BASELINE_PATH, RESULTS_PATH
from .registry import ALGORITHMS, DATASET_INFO, DATASETS, DEFAULT_DATA_ROOT, UnknownNameError, table_labels
from .runner import available_optional, validate_configs, validate_data
from .selection import selection_frame
from .status import render_status
from .store import RecordStore, atomic_write_text, write_results_csv
from .sweep import Outcome, Sweep, collect, plan, run_sweep
from .tables import render_table1, render_table1_latex

__all__ = ["main"]

_SIZE_FLAGS = ("v_size", "s_size", "n_train", "n_valid", "n_test")


def _sweep_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments that define a sweep's jobs, shared by every verb."""
    parser.add_argument("--profile", default="default", choices=sorted(PROFILES),
                        help="named sweep (default: %(default)s)")
    parser.add_argument("--amazon", metavar="PATH",
                        help="Amazon data: a registry file (one registry per line, 1-based ids) or the folder "
                             "of Ou et al.'s extracted archive; adds amazon_apparel")
    parser.add_argument("--algorithms", nargs="+", choices=list(ALGORITHMS), metavar="NAME",
                        help=f"subset of algorithms ({', '.join(ALGORITHMS)})")
    parser.add_argument("--datasets", nargs="+", choices=list(DATASETS), metavar="NAME",
                        help=f"subset of datasets ({', '.join(DATASETS)})")
    parser.add_argument("--seeds", nargs="+", type=int, metavar="SEED", help="model seeds of the test models")
    parser.add_argument("--max-epochs", type=int, help="override the profile's epoch budget")
    parser.add_argument("--threads", type=int, help="intra-op threads per job (default: the profile's)")
    parser.add_argument("--set", dest="settings", action="append", default=[], metavar="ALGO.FIELD=VALUE",
                        help="override an algorithm's config field, e.g. DiffMF.iterations=1 or "
                             "iDiffMF_2.fixed_point.solver=anderson (VALUE is JSON, else a string); repeatable")
    parser.add_argument("--grid", dest="grid", action="append", default=[], metavar="ALGO.PATH=V1,V2",
                        help="cross-validated profiles: replace or add a grid axis, e.g. "
                             "iDiffMF_2.fixed_point.backward=normal_cg or DiffMF.train.learning_rate=1e-3,1e-4 "
                             "(each value JSON, else a string); repeatable")
    for flag in _SIZE_FLAGS:
        parser.add_argument(f"--{flag.replace('_', '-')}", type=int, help=f"synthetic datasets: {flag}")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_ROOT,
                        help="downloaded data (`setbench data`); default: %(default)s")
    parser.add_argument("--results", type=Path, default=Path("results"), help="results folder (default: %(default)s)")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="setbench", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run a profile's sweep (resumes: finished jobs are skipped)")
    _sweep_arguments(run)
    run.add_argument("--force", action="store_true", help="rerun finished jobs")
    run.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True, help="progress bars")
    run.add_argument("--executor", choices=("local", "submitit"), default="local",
                     help="local: a pool of job processes on this machine (default); submitit: one Slurm job "
                          "per setbench job (or local subprocesses, see --submitit-cluster)")
    run.add_argument("--workers", type=int,
                     help="jobs at once (default: CPUs // threads locally; all at once on Slurm)")
    run.add_argument("--submitit-cluster", choices=("slurm", "local", "debug"),
                     help="submitit backend (default: slurm where srun exists, else local)")
    run.add_argument("--slurm-partition", help="Slurm partition (submitit)")
    run.add_argument("--timeout-min", type=int, default=24 * 60, help="time limit per job in minutes (submitit)")
    run.add_argument("--mem-gb", type=float, help="memory per job in GB (submitit on Slurm)")

    table = commands.add_parser("table", help="render Table 1 (Markdown and LaTeX) from the stored records")
    _sweep_arguments(table)
    table.add_argument("--any-code", action="store_true",
                       help="also use finished records of the same settings written by other code versions (edits "
                            "that leave the numbers alone); the table names the versions")

    plot = commands.add_parser("plot", help="draw a figure from the stored records")
    _sweep_arguments(plot)
    plot.add_argument("--figure", default="jaccard", choices=sorted(FIGURES), help="figure (default: %(default)s)")

    status = commands.add_parser("status", help="show which jobs of the sweep are finished, running or pending")
    _sweep_arguments(status)

    data = commands.add_parser("data", help="download, verify and report the real datasets",
                               description="Download what is missing, verify checksums (recorded at the first "
                                           "download), extract archives, and report what is present.")
    data.add_argument("sources", nargs="*", metavar="NAME",
                      help=f"sources to fetch: {', '.join(SOURCES)} or all; none: only report")
    data.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_ROOT, help="data folder (default: %(default)s)")
    data.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True, help="progress bars")

    verify_help = "scientific checks and an estimator comparison (writes RESULTS/verification.md; resumes)"
    verify = commands.add_parser("verify", help=verify_help, description=verify_help)
    verify.add_argument("--results", type=Path, default=Path("results"), help="results folder (default: %(default)s)")
    verify.add_argument("--force", action="store_true", help="rerun the comparison's finished jobs")
    verify.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True, help="progress bars")

    regress_help = "CI regression check: run the regress profile, compare its JC with the committed baseline"
    regress = commands.add_parser("regress", help=regress_help, description=regress_help + (
        "; exit status 1 when a cell's mean JC drops by more than max(1, 3 x its baseline seed std), a run has no "
        "valid score, or a cell has no baseline"))
    regress.add_argument("--update", action="store_true",
                         help="rewrite the baseline from this run (with its provenance) instead of checking it")
    regress.add_argument("--baseline", type=Path, default=BASELINE_PATH, help="baseline file (default: %(default)s)")
    regress.add_argument("--results", type=Path, default=RESULTS_PATH,
                         help="this check's records and report (default: %(default)s)")
    regress.add_argument("--workers", type=int, help="jobs at once (default: one per CPU)")
    regress.add_argument("--resume", action=argparse.BooleanOptionalAction, default=False,
                         help="reuse this code's finished records under RESULTS (default: rerun every job)")
    regress.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True, help="progress bars")
    return parser


def _parse_value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _parse_assignments(items: list[str], flag: str, example: str) -> list[tuple[str, str, str]]:
    """``["ALGO.PATH=TEXT", ...]`` → ``[(ALGO, PATH, TEXT), ...]``, checking the algorithm name."""
    parsed = []
    for item in items:
        target, sep, text = item.partition("=")
        algorithm, dot, path = target.partition(".")
        if not sep or not dot or not path:
            raise ValueError(f"{flag} {item!r}: expected ALGORITHM.FIELD=VALUE, e.g. {example}")
        if algorithm not in ALGORITHMS:
            raise UnknownNameError(f"{flag} {item!r}: unknown algorithm {algorithm!r}; "
                                   f"choose from {', '.join(ALGORITHMS)}")
        parsed.append((algorithm, path, text))
    return parsed


def _parse_settings(items: list[str]) -> dict[str, dict]:
    """``["DiffMF.iterations=1", ...]`` → ``{"DiffMF": {"iterations": 1}}`` (dots nest)."""
    overrides: dict[str, dict] = {}
    for algorithm, path, text in _parse_assignments(items, "--set", "DiffMF.iterations=1"):
        node = overrides.setdefault(algorithm, {})
        *parents, leaf = path.split(".")
        for parent in parents:
            node = node.setdefault(parent, {})
        node[leaf] = _parse_value(text)
    return overrides


def _parse_grid(items: list[str]) -> dict[str, dict[str, tuple]]:
    """``["DiffMF.train.learning_rate=1e-3,1e-4"]`` → ``{"DiffMF": {"train.learning_rate": (1e-3, 1e-4)}}``."""
    grid: dict[str, dict[str, tuple]] = {}
    for algorithm, path, text in _parse_assignments(items, "--grid", "DiffMF.train.learning_rate=1e-3,1e-4"):
        values = tuple(_parse_value(part) for part in text.split(",") if part)
        if not values:
            raise ValueError(f"--grid {algorithm}.{path}: give at least one value")
        grid.setdefault(algorithm, {})[path] = values
    return grid


def _plan(args) -> Sweep:
    profile = get_profile(args.profile)
    if args.threads is not None:
        if args.threads < 1:
            raise ValueError(f"--threads must be a positive integer, got {args.threads}")
        profile = dataclasses.replace(profile, threads=args.threads)
    if not args.datasets:
        present = set(available_optional(profile, args.data_dir.resolve()))
        absent = [name for name in profile.optional_datasets if name not in present
                  and not (args.amazon and (name == "amazon_apparel"
                                            or (name.startswith("amazon_") and Path(args.amazon).is_dir())))]
        if absent:
            print(f"setbench: not run, data absent under {args.data_dir}: {', '.join(absent)} "
                  f"(`python -m setbench.benchmarks data NAME` downloads it)", file=sys.stderr)
    sizes = {flag: getattr(args, flag) for flag in _SIZE_FLAGS if getattr(args, flag) is not None}
    train = {"max_epochs": args.max_epochs} if args.max_epochs is not None else {}
    return plan(profile, grid_overrides=_parse_grid(args.grid), amazon=args.amazon, algorithms=args.algorithms,
                datasets=args.datasets, seeds=args.seeds, train_overrides=train, size_overrides=sizes,
                algorithm_overrides=_parse_settings(args.settings), data_root=args.data_dir)


def _table_path(results: Path, profile: str, suffix: str = ".md") -> Path:
    return results / (f"table1{suffix}" if profile == "default" else f"table1-{profile}{suffix}")


def _amazon_note(args) -> tuple[str, ...]:
    """The default profile runs Amazon apparel only with a registry file: say so when none was given."""
    if args.profile != "default" or args.datasets or args.amazon:
        return ()
    return ("amazon_apparel not run: no Amazon data given (`make bench AMAZON=path/to/registries.csv`, or "
            "`--amazon PATH`: a registry file or the folder of Ou et al.'s extracted archive).",)


def _overrides_note(args) -> tuple[str, ...]:
    """One table note naming the command-line settings that depart from the profile's, if any."""
    departures = [f"--set {item}" for item in args.settings] + [f"--grid {item}" for item in args.grid]
    departures += [f"--{flag.replace('_', '-')} {getattr(args, flag)}"
                   for flag in ("max_epochs", "threads", *_SIZE_FLAGS) if getattr(args, flag, None) is not None]
    if not departures:
        return ()
    return ("Settings given on the command line over the profile's: " + "; ".join(f"`{d}`" for d in departures)
            + ".",)


def _command_line_notes(args) -> tuple[str, ...]:
    """The table notes that only the command line knows: data not given, settings over the profile's."""
    return _amazon_note(args) + _overrides_note(args)


def _write_outputs(results: Path, outcome: Outcome, notes: tuple[str, ...] = ()) -> list[Path]:
    """results.csv (every stored record), Table 1 in Markdown and LaTeX, and the CV grid's scores."""
    import pandas as pd

    store = RecordStore(results / "runs")
    write_results_csv(store.all(), results / "results.csv")
    profile = outcome.sweep.profile.name
    frame = pd.DataFrame(outcome.test_records())
    notes += ("amazon_* rows built from a registry file use co-occurrence (PPMI-SVD) item features from the "
             "training registries, not Ou et al.'s 768-d text embeddings: compare with the published row "
             "with care.",) if frame["dataset"].str.startswith("amazon_").any() else ()
    notes += tuple(DATASET_INFO[name].note for name in dict.fromkeys(frame["dataset"])
                   if name in DATASET_INFO and DATASET_INFO[name].note)
    versions = Counter(record.get("code_version", "unknown") for record in outcome.test_records())
    if set(versions) != {code_version()}:
        notes += ("Runs made by code versions other than this one (" + code_version() + "): "
                  + ", ".join(f"{version} ({count} runs)" for version, count in versions.items())
                  + "; a job's code version is the hash of every setbench source file "
                    "(`benchmarks/environment.py`).",)
    unfinished = [job.label for job in outcome.test_jobs if job.key not in outcome.records]
    if unfinished:
        notes += (f"Not finished, so not in the table ({len(unfinished)} of {len(outcome.test_jobs)} test jobs): "
                  f"{'; '.join(unfinished)}.",)
    labels = table_labels()
    ceilings = _ceilings(outcome)
    paths = [_table_path(results, profile), _table_path(results, profile, ".tex")]
    atomic_write_text(paths[0], render_table1(frame, title=f"Table 1 — profile `{profile}`", notes=notes,
                                              selections=outcome.selections, labels=labels,
                                              ceilings=ceilings, published_ceilings={
                                                  d: published_split_ceiling(d) for d in ceilings}))
    atomic_write_text(paths[1], render_table1_latex(frame, caption=f"Test Jaccard coefficient (%), setbench "
                                                                   f"profile {profile}",
                                                    label=f"tab:setbench-{profile}", labels=labels))
    if outcome.selections:
        paths.append(results / f"cv-{profile}.csv")
        atomic_write_text(paths[-1], selection_frame(outcome.selections).to_csv(index=False))
    return paths


def _ceilings(outcome: Outcome) -> dict[str, float]:
    """dataset → the generator's ceiling on the test sets of the sweep's runs (synthetic datasets only),
    averaged over the data seeds of those runs."""
    draws: dict[str, dict[str, float]] = {}
    for job in outcome.test_jobs:
        data = json.dumps([job.data_seed, job.data_options], sort_keys=True, default=str)
        if job.dataset in GENERATED and data not in draws.setdefault(job.dataset, {}):
            draws[job.dataset][data] = generator_ceiling(job.dataset, job.data_seed, job.data_options)
    return {dataset: sum(values.values()) / len(values) for dataset, values in draws.items() if values}


def _no_records(args) -> int:
    print(f"setbench: error: no finished test-model records of profile {args.profile!r} (with these arguments and "
          f"this code version) under {args.results / 'runs'}; run it first, or see `status`", file=sys.stderr)
    return 2


def _run(args) -> int:
    sweep = _plan(args)
    for note in _amazon_note(args):
        print(f"setbench: {note}", file=sys.stderr)
    jobs = [*sweep.cv_jobs(), *(job for cell in sweep.cells for job in cell.base_jobs)]
    validate_configs(jobs)
    validate_data(jobs)
    if args.executor == "local":
        executor = LocalExecutor(workers=args.workers)
    else:
        executor = SubmititExecutor(log_folder=args.results / "submitit" / "%j", cluster=args.submitit_cluster,
                                    max_parallel=args.workers, timeout_min=args.timeout_min, mem_gb=args.mem_gb,
                                    slurm_partition=args.slurm_partition)
    store = RecordStore(args.results / "runs")
    outcome = run_sweep(sweep, store, executor=executor, force=args.force, progress=args.progress)
    if outcome.test_records():
        written = _write_outputs(args.results, outcome, _command_line_notes(args))
        print("wrote " + ", ".join(map(str, written)) + f" and {args.results / 'results.csv'}")
    failed = [r for r in outcome.records.values() if r["status"] == "failed"]
    for record in failed:
        print(f"setbench: job failed: {record['algorithm']} / {record['dataset']} / seed {record['seed']}"
              f"{' (cross-validation)' if record.get('stage') == 'cv' else ''}: {record['message']}", file=sys.stderr)
    for selection in outcome.selections:
        if selection.best is None:
            print(f"setbench: no selection for {selection.algorithm} / {selection.dataset}: {selection.reason}",
                  file=sys.stderr)
    return 1 if failed else 0


def _table(args) -> int:
    outcome = collect(_plan(args), RecordStore(args.results / "runs"), any_code=args.any_code)
    if not outcome.test_records():
        return _no_records(args)
    print("wrote " + ", ".join(map(str, _write_outputs(args.results, outcome, _command_line_notes(args)))))
    return 0


def _plot(args) -> int:
    import pandas as pd

    outcome = collect(_plan(args), RecordStore(args.results / "runs"))
    if not outcome.test_records():
        return _no_records(args)
    figure = FIGURES[args.figure](pd.DataFrame(outcome.test_records()))
    suffix = "" if args.profile == "default" else f"-{args.profile}"
    paths = save_figure(figure, args.results / "figures" / f"{args.figure}{suffix}")
    print("wrote " + ", ".join(map(str, paths)))
    return 0


def _status(args) -> int:
    store = RecordStore(args.results / "runs")
    print(render_status(collect(_plan(args), store), store), end="")
    return 0


def _data(args) -> int:
    """``setbench data [NAME ...]``: fetch the named sources, then report every source's state."""
    from setbench.datasets import fetch, source_status

    unknown = [name for name in args.sources if name not in SOURCES and name != "all"]
    if unknown:
        raise UnknownNameError(f"unknown data source {unknown[0]!r}; choose from {', '.join(SOURCES)} or all")
    names = list(SOURCES) if "all" in args.sources else list(dict.fromkeys(args.sources))
    for name in names:
        print(f"{name}: fetching into {args.data_dir / name} …", flush=True)
        fetch(SOURCES[name], args.data_dir, progress=args.progress)
    for source in SOURCES.values():
        status = source_status(source, args.data_dir)
        state = "ready" if status.ready else f"absent ({len(status.missing)} expected files missing)"
        files = "; ".join(f"{file}: {what}" for file, what in status.files.items())
        print(f"{source.name:<10} {state:<40} {status.folder}  [{files}]  datasets: {', '.join(source.datasets)}")
    return 0


def _verify(args) -> int:
    from .verification_report import verify

    print(f"wrote {verify(args.results, force=args.force, progress=args.progress)}")
    return 0


def _regress(args) -> int:
    from .regression import run_regression

    findings, report = run_regression(baseline_path=args.baseline, results=args.results, update=args.update,
                                      executor=LocalExecutor(workers=args.workers), resume=args.resume,
                                      progress=args.progress)
    for finding in findings:
        if finding.kind != "pass":
            prefix = "regression" if finding.failed and not args.update else "note"
            print(f"setbench: {prefix}: {finding.message}", file=sys.stderr)
    if args.update:
        print(f"wrote {args.baseline} ({len(findings)} cells) and {report}")
        return 0
    failed = [finding for finding in findings if finding.failed]
    print(f"regression check {'FAILED' if failed else 'passed'}: {len(failed)} of {len(findings)} cells fail; "
          f"report: {report}")
    return 1 if failed else 0


#: verb → function(parsed arguments) → exit status.
VERBS = {"run": _run, "table": _table, "plot": _plot, "status": _status, "data": _data, "verify": _verify,
         "regress": _regress}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return VERBS[args.command](args)
    except (UnknownNameError, DataFileError, ValueError) as err:
        print(f"setbench: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("setbench: interrupted; finished jobs are kept: rerun the same command to resume", file=sys.stderr)
        return 130

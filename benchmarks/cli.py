"""Command line: ``python -m setbench.benchmarks {run,table,data}`` (``make bench`` calls ``run``).

Arguments become a profile's jobs; the runner does the work. Bad names, sizes or data files fail
before any job starts, with one line naming the problem and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from setbench.datasets import SOURCES, DataFileError

from .profiles import PROFILES, get_profile
from .registry import ALGORITHMS, DATASET_INFO, DATASETS, DEFAULT_DATA_ROOT, UnknownNameError
from .runner import available_optional, expand, run_jobs, validate_configs, validate_data
from .store import RecordStore, atomic_write_text, write_results_csv
from .tables import render_table1

__all__ = ["main"]

_SIZE_FLAGS = ("v_size", "s_size", "n_train", "n_valid", "n_test")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="setbench", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run a profile's jobs (resumes; finished jobs are skipped)")
    run.add_argument("--profile", default="default", choices=sorted(PROFILES),
                     help="named sweep (default: %(default)s)")
    run.add_argument("--amazon", metavar="PATH",
                     help="Amazon data: a registry file (one registry per line, 1-based ids) or the folder "
                          "of Ou et al.'s extracted archive; adds amazon_apparel")
    run.add_argument("--algorithms", nargs="+", choices=list(ALGORITHMS), metavar="NAME",
                     help=f"subset of algorithms ({', '.join(ALGORITHMS)})")
    run.add_argument("--datasets", nargs="+", choices=list(DATASETS), metavar="NAME",
                     help=f"subset of datasets ({', '.join(DATASETS)})")
    run.add_argument("--seeds", nargs="+", type=int, metavar="SEED", help="model seeds")
    run.add_argument("--max-epochs", type=int, help="override the profile's epoch budget")
    run.add_argument("--set", dest="settings", action="append", default=[], metavar="ALGO.FIELD=VALUE",
                     help="override an algorithm's config field, e.g. DiffMF.iterations=1 or "
                          "iDiffMF_2.fixed_point.solver=anderson (VALUE is JSON, else a string); repeatable")
    for flag in _SIZE_FLAGS:
        run.add_argument(f"--{flag.replace('_', '-')}", type=int, help=f"synthetic datasets: {flag}")
    run.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_ROOT,
                     help="downloaded data (`setbench data`); default: %(default)s")
    run.add_argument("--results", type=Path, default=Path("results"), help="results folder (default: %(default)s)")
    run.add_argument("--force", action="store_true", help="rerun finished jobs")
    run.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True, help="progress bars")

    table = commands.add_parser("table", help="render Table 1 from stored records")
    table.add_argument("--profile", default="default", choices=sorted(PROFILES))
    table.add_argument("--results", type=Path, default=Path("results"))
    _add_data_parser(commands)
    return parser


def _add_data_parser(commands) -> None:
    data = commands.add_parser("data", help="download, verify and report the real datasets",
                               description="Download what is missing, verify checksums (recorded at the first "
                                           "download), extract archives, and report what is present.")
    data.add_argument("sources", nargs="*", metavar="NAME",
                      help=f"sources to fetch: {', '.join(SOURCES)} or all; none: only report")
    data.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_ROOT, help="data folder (default: %(default)s)")
    data.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True, help="progress bars")


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


def _table_path(results: Path, profile: str) -> Path:
    return results / ("table1.md" if profile == "default" else f"table1-{profile}.md")


def _write_outputs(results: Path, profile: str, records: list[dict]) -> Path:
    store = RecordStore(results / "runs")
    write_results_csv(store.all(), results / "results.csv")
    import pandas as pd

    frame = pd.DataFrame(records)
    notes = ("amazon_* rows built from a registry file use co-occurrence (PPMI-SVD) item features from the "
             "training registries, not Ou et al.'s 768-d text embeddings: compare with the published row "
             "with care.",) if frame["dataset"].str.startswith("amazon_").any() else ()
    notes += tuple(DATASET_INFO[name].note for name in dict.fromkeys(frame["dataset"])
                   if name in DATASET_INFO and DATASET_INFO[name].note)
    path = _table_path(results, profile)
    labels = {name: f"{name} (not in the paper)" for name, info in DATASET_INFO.items() if not info.in_paper}
    atomic_write_text(path, render_table1(frame, title=f"Table 1 — profile `{profile}`", notes=notes, labels=labels))
    return path


def _parse_settings(items: list[str]) -> dict[str, dict]:
    """``["DiffMF.iterations=1", ...]`` → ``{"DiffMF": {"iterations": 1}}`` (dots nest)."""
    overrides: dict[str, dict] = {}
    for item in items:
        target, sep, text = item.partition("=")
        algorithm, dot, path = target.partition(".")
        if not sep or not dot or not path:
            raise ValueError(f"--set {item!r}: expected ALGORITHM.FIELD=VALUE, e.g. DiffMF.iterations=1")
        if algorithm not in ALGORITHMS:
            raise UnknownNameError(f"--set {item!r}: unknown algorithm {algorithm!r}; choose from {', '.join(ALGORITHMS)}")
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text
        node = overrides.setdefault(algorithm, {})
        *parents, leaf = path.split(".")
        for parent in parents:
            node = node.setdefault(parent, {})
        node[leaf] = value
    return overrides


def _run(args) -> int:
    profile = get_profile(args.profile)
    if not args.datasets:
        present = set(available_optional(profile, args.data_dir.resolve()))
        absent = [name for name in profile.optional_datasets if name not in present
                  and not (args.amazon and name.startswith("amazon_"))]
        if absent:
            print(f"setbench: not run, data absent under {args.data_dir}: {', '.join(absent)} "
                  f"(`python -m setbench.benchmarks data NAME` downloads it)", file=sys.stderr)
    sizes = {flag: getattr(args, flag) for flag in _SIZE_FLAGS if getattr(args, flag) is not None}
    train = {"max_epochs": args.max_epochs} if args.max_epochs is not None else {}
    jobs = expand(profile, amazon=args.amazon, algorithms=args.algorithms, datasets=args.datasets,
                  seeds=args.seeds, train_overrides=train, size_overrides=sizes,
                  algorithm_overrides=_parse_settings(args.settings), data_root=args.data_dir)
    validate_configs(jobs)
    validate_data(jobs)
    records = run_jobs(jobs, RecordStore(args.results / "runs"), force=args.force, progress=args.progress)
    path = _write_outputs(args.results, profile.name, records)
    print(f"wrote {path} and {args.results / 'results.csv'}")
    failed = [r for r in records if r["status"] == "failed"]
    for record in failed:
        print(f"setbench: job failed: {record['algorithm']} / {record['dataset']} / seed {record['seed']}: "
              f"{record['message']}", file=sys.stderr)
    return 1 if failed else 0


def _table(args) -> int:
    records = [r for r in RecordStore(args.results / "runs").all() if r.get("profile") == args.profile]
    if not records:
        print(f"setbench: error: no records for profile {args.profile!r} under {args.results / 'runs'}", file=sys.stderr)
        return 2
    print(f"wrote {_write_outputs(args.results, args.profile, records)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return {"run": _run, "table": _table, "data": _data}[args.command](args)
    except (UnknownNameError, DataFileError, ValueError) as err:
        print(f"setbench: error: {err}", file=sys.stderr)
        return 2

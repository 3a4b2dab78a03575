"""Command line: ``python -m setbench.benchmarks {run,table}`` (``make bench`` calls ``run``).

Arguments become a profile's jobs; the runner does the work. Bad names, sizes or data files fail
before any job starts, with one line naming the problem and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from setbench.datasets import DataFileError

from .profiles import PROFILES, get_profile
from .registry import ALGORITHMS, DATASETS, UnknownNameError
from .runner import expand, run_jobs, validate_configs, validate_data
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
    run.add_argument("--results", type=Path, default=Path("results"), help="results folder (default: %(default)s)")
    run.add_argument("--force", action="store_true", help="rerun finished jobs")
    run.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True, help="progress bars")

    table = commands.add_parser("table", help="render Table 1 from stored records")
    table.add_argument("--profile", default="default", choices=sorted(PROFILES))
    table.add_argument("--results", type=Path, default=Path("results"))
    return parser


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
    path = _table_path(results, profile)
    atomic_write_text(path, render_table1(frame, title=f"Table 1 — profile `{profile}`", notes=notes))
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
    sizes = {flag: getattr(args, flag) for flag in _SIZE_FLAGS if getattr(args, flag) is not None}
    train = {"max_epochs": args.max_epochs} if args.max_epochs is not None else {}
    jobs = expand(profile, amazon=args.amazon, algorithms=args.algorithms, datasets=args.datasets,
                  seeds=args.seeds, train_overrides=train, size_overrides=sizes,
                  algorithm_overrides=_parse_settings(args.settings))
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
        return _run(args) if args.command == "run" else _table(args)
    except (UnknownNameError, DataFileError, ValueError) as err:
        print(f"setbench: error: {err}", file=sys.stderr)
        return 2

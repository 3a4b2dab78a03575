"""Expand a profile into (algorithm × dataset × seed) jobs and run each in a fresh process.

A job is a cell keyed by a hash of its fully resolved settings and the code version. Its record —
scores, timings, memory, fixed-point diagnostics, versions and config — is written atomically
when the job ends, so an interrupted sweep resumes where it stopped: finished cells are skipped
unless ``force``; failed cells are retried.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import datetime
import hashlib
import json
import math
import multiprocessing
import os
import time
import traceback
from pathlib import Path
from typing import Any, Mapping, Sequence

from tqdm.auto import tqdm

from .environment import code_version, machine, package_versions
from .profiles import Profile
from .registry import ALGORITHMS, DATASET_INFO, DATASETS, DEFAULT_DATA_ROOT, UnknownNameError, load_dataset
from .store import RecordStore

__all__ = ["Job", "available_optional", "expand", "execute", "run_jobs", "validate_configs", "validate_data"]

#: Statuses of a finished cell; ``failed`` cells are retried on the next run.
FINISHED = ("ok", "nonfinite", "not_converged")


@dataclasses.dataclass(frozen=True)
class Job:
    """One cell of a sweep, as plain JSON-able values."""

    profile: str
    algorithm: str
    dataset: str
    seed: int
    data_seed: int
    data_options: Mapping[str, Any]
    algorithm_options: Mapping[str, Any]
    train: Mapping[str, Any]
    threads: int

    def settings(self) -> dict[str, Any]:
        """Everything that determines the result (the profile name does not)."""
        fields = dataclasses.asdict(self)
        fields.pop("profile")
        return fields

    @property
    def key(self) -> str:
        payload = json.dumps({"settings": self.settings(), "code": code_version()}, sort_keys=True, default=str)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    @property
    def label(self) -> str:
        return f"{self.algorithm} / {self.dataset} / seed {self.seed}"


def expand(profile: Profile, *, amazon: str | None = None, algorithms: Sequence[str] | None = None,
           datasets: Sequence[str] | None = None, seeds: Sequence[int] | None = None,
           train_overrides: Mapping[str, Any] | None = None,
           size_overrides: Mapping[str, int] | None = None,
           algorithm_overrides: Mapping[str, Mapping[str, Any]] | None = None,
           data_root: str | Path | None = None) -> list[Job]:
    """The profile's jobs, optionally narrowed or overridden.

    A dataset's training settings are the profile's, updated by the paper's per-dataset settings
    (``DATASET_INFO[name].train``, e.g. BindingDB's batch of 4 sets), updated by ``train_overrides``.

    Args:
        amazon: path of an Amazon registry file or archive folder; adds ``amazon_apparel`` (or keeps
            the ``amazon_*`` datasets named in ``datasets``). Without it, ``amazon_*`` datasets read
            the downloaded archive under ``data_root``.
        data_root: folder of downloaded data (default ``data/``); the profile's
            ``optional_datasets`` are added when their files are present there.
        algorithm_overrides: per-algorithm config options merged over the profile's, e.g.
            ``{"DiffMF": {"keep_unrolled_graph": False}}``.

    Raises:
        UnknownNameError: for unregistered algorithm or dataset names.
    """
    chosen_algorithms = tuple(algorithms or profile.algorithms)
    root = Path(data_root or DEFAULT_DATA_ROOT).resolve()
    chosen_datasets = list(datasets or profile.datasets)
    if amazon and not datasets:
        chosen_datasets.append("amazon_apparel")
    if not datasets:
        chosen_datasets += [name for name in available_optional(profile, root) if name not in chosen_datasets]
    for name in chosen_algorithms:
        if name not in ALGORITHMS:
            raise UnknownNameError(f"unknown algorithm {name!r}; choose from {', '.join(ALGORITHMS)}")
    for name in chosen_datasets:
        if name not in DATASETS:
            raise UnknownNameError(f"unknown dataset {name!r}; choose from {', '.join(DATASETS)}")
    sizes = {**profile.synthetic_sizes, **(size_overrides or {})}
    options = {name: _merged(profile.algorithm_options.get(name, {}), (algorithm_overrides or {}).get(name, {}))
               for name in chosen_algorithms}
    jobs = []
    # Seed-major order: an interrupted sweep has the first seeds of every cell, not all seeds of a few.
    for seed in seeds if seeds is not None else profile.seeds:
        for dataset in chosen_datasets:
            if dataset.startswith("amazon_"):
                data_options = {"path": str(Path(amazon).resolve()) if amazon else str(root / "amazon")}
            elif dataset in ("gaussian", "moons"):
                data_options = {"sizes": sizes}
            else:
                data_options = {**({"root": str(root)} if DATASET_INFO[dataset].source else {}),
                                **profile.dataset_options.get(dataset, {})}
            train = dataclasses.replace(profile.train, **{**DATASET_INFO[dataset].train, **(train_overrides or {})})
            for algorithm in chosen_algorithms:
                jobs.append(Job(
                    profile=profile.name, algorithm=algorithm, dataset=dataset, seed=int(seed),
                    data_seed=profile.data_seed, data_options=data_options,
                    algorithm_options=options[algorithm], train=dataclasses.asdict(train), threads=profile.threads,
                ))
    return jobs


def available_optional(profile: Profile, data_root: Path) -> list[str]:
    """The profile's optional datasets whose downloaded files are present under ``data_root``."""
    from setbench.datasets import SOURCES, source_status

    ready = {name: source_status(source, data_root).ready for name, source in SOURCES.items()}
    return [name for name in profile.optional_datasets if ready.get(DATASET_INFO[name].source, True)]


def _merged(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` updated by ``update``, recursively for nested dicts."""
    merged = dict(base)
    for key, value in update.items():
        merged[key] = _merged(merged[key], value) if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping) else value
    return merged


def validate_configs(jobs: Sequence[Job]) -> None:
    """Construct every job's algorithm (cheap: constructors only store a validated config), so that
    bad options fail before any job runs."""
    from setbench.protocol import TrainConfig

    from .registry import make_algorithm

    for job in jobs:
        make_algorithm(job.algorithm, TrainConfig(**job.train), job.algorithm_options)


def validate_data(jobs: Sequence[Job]) -> None:
    """Load every dataset the jobs need once, so that bad input fails before any job runs."""
    seen = set()
    for job in jobs:
        token = json.dumps([job.dataset, job.data_seed, job.data_options], sort_keys=True)
        if token not in seen:
            seen.add(token)
            load_dataset(job.dataset, job.data_seed, job.data_options)


def _limit_threads(threads: int) -> None:
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # honest device-memory readings


def execute(job: Job, progress: bool = True) -> dict[str, Any]:
    """Run one job (in the calling process) and return its record. Never raises for a job failure."""
    _limit_threads(job.threads)
    from setbench.protocol import TrainConfig, mean_jaccard

    from .memory import NvmlSampler, gpu_visible, peak_rss_bytes
    from .registry import make_algorithm

    started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    record: dict[str, Any] = {
        "key": job.key, "profile": job.profile, "algorithm": job.algorithm, "dataset": job.dataset,
        "seed": job.seed, "started_at": started, "code_version": code_version(),
        "settings": job.settings(), "versions": package_versions(), "machine": machine(),
    }
    try:
        import torch

        torch.set_num_threads(job.threads)
        data = load_dataset(job.dataset, job.data_seed, job.data_options)
        algorithm = make_algorithm(job.algorithm, TrainConfig(**job.train), job.algorithm_options)
        record["config"] = json.loads(json.dumps(dataclasses.asdict(algorithm.config), default=str))
        sampler = NvmlSampler() if gpu_visible() else None
        start = time.perf_counter()
        if sampler is not None:
            with sampler:
                algorithm.fit(data.train, data.valid, seed=job.seed, progress=progress)
        else:
            algorithm.fit(data.train, data.valid, seed=job.seed, progress=progress)
        diagnostics = dict(algorithm.diagnostics())
        test_jc = math.nan
        if diagnostics["status"] == "ok":
            test_start = time.perf_counter()
            test_jc = mean_jaccard(algorithm.predict(data.test), data.test.optimal)
            diagnostics = dict(algorithm.diagnostics())  # fixed-point figures of the test pass
            record["test_seconds"] = time.perf_counter() - test_start
        record["wall_seconds"] = time.perf_counter() - start
        record.update({k: v for k, v in diagnostics.items() if k != "valid_jc"})
        record["valid_jc"] = diagnostics["valid_jc"]
        record["test_jc"] = test_jc
        if sampler is not None:
            reading = sampler.reading()
            record.update(memory_measure=reading.measure, memory_peak_bytes=reading.max_bytes,
                          memory_mean_bytes=reading.mean_bytes, memory_min_bytes=reading.min_bytes)
        else:
            record.update(memory_measure="process_peak_rss", memory_peak_bytes=float(peak_rss_bytes()),
                          memory_mean_bytes=math.nan, memory_min_bytes=math.nan)
    except Exception as err:  # a failed job is recorded, not lost; the sweep goes on
        record.update(status="failed", message=f"{type(err).__name__}: {err}",
                      traceback=traceback.format_exc(limit=20), test_jc=math.nan)
    record["finished_at"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    return record


def _failed(job: Job, message: str) -> dict[str, Any]:
    return {"key": job.key, "profile": job.profile, "algorithm": job.algorithm, "dataset": job.dataset,
            "seed": job.seed, "status": "failed", "message": message, "test_jc": math.nan,
            "code_version": code_version(), "settings": job.settings()}


def run_jobs(jobs: Sequence[Job], store: RecordStore, *, force: bool = False, progress: bool = True) -> list[dict]:
    """Run the jobs one by one, each in a fresh process, storing each record as it finishes.

    Returns:
        The records of all ``jobs`` (reused or new), in job order.
    """
    records = []
    context = multiprocessing.get_context("spawn")
    bar = tqdm(jobs, desc="jobs", unit="job", disable=not progress)
    for job in bar:
        existing = store.get(job.key)
        if existing is not None and existing.get("status") in FINISHED and not force:
            bar.write(f"skip   {job.label}: done ({existing['status']}, test JC {existing.get('test_jc')})")
            records.append(existing)
            continue
        bar.set_postfix_str(job.label)
        with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
            try:
                record = pool.submit(execute, job, progress).result()
            except concurrent.futures.process.BrokenProcessPool:
                record = _failed(job, "the job's process died (killed, out of memory or crashed)")
        store.put(record)
        records.append(record)
        jc = record.get("test_jc")
        shown = f"{jc:.2f}" if isinstance(jc, float) and math.isfinite(jc) else "—"
        bar.write(f"{record['status']:<6} {job.label}: test JC {shown}"
                  + (f" ({record['message']})" if record["status"] == "failed" else ""))
    bar.close()
    return records

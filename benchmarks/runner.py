"""Expand a profile into (algorithm × dataset × seed) jobs; the job function that runs one of them.

A job is a cell keyed by a hash of its fully resolved settings and the code version. Its record —
scores, timings, memory, fixed-point diagnostics, versions and config — is written atomically
when the job ends, so an interrupted sweep resumes where it stopped: finished cells are skipped
unless ``force``; failed cells are retried.

:func:`run_job` is *the* job function: every executor (:mod:`.executors`) runs it, in a fresh
process, on this machine or a cluster node. It holds the job's lock while it runs, re-checks the
store under the lock, and appends ``start`` / ``finish`` events to the store's journal, so a job
that finished is never run again (without ``force``), however sweeps are killed and restarted.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import math
import os
import time
import traceback
from pathlib import Path
from typing import Any, Mapping, Sequence

from tqdm.auto import tqdm

from .environment import code_version, machine, package_versions
from .profiles import Profile
from .registry import ALGORITHMS, DATASET_INFO, DATASETS, DEFAULT_DATA_ROOT, UnknownNameError, load_dataset
from .selection import point_label
from .store import FINISHED, RecordStore

__all__ = ["Job", "available_optional", "estimator_of", "expand", "execute", "run_job", "run_jobs",
           "validate_configs", "validate_data"]


@dataclasses.dataclass(frozen=True)
class Job:
    """One cell of a sweep, as plain JSON-able values.

    Attributes:
        cv: ``None`` trains on the dataset's train split, early-stops on its valid split and scores
            the test split; ``{"folds": k, "fold": i, "seed": s}`` trains on fold ``i`` of k-fold
            cross-validation over train ∪ valid (:func:`setbench.datasets.cross_validation_fold`),
            early-stops and scores on its held-out block, and never touches the test split.
        hyper: the grid point this job's settings came from (option path → value); a label, already
            applied to ``train`` and ``algorithm_options``.
    """

    profile: str
    algorithm: str
    dataset: str
    seed: int
    data_seed: int
    data_options: Mapping[str, Any]
    algorithm_options: Mapping[str, Any]
    train: Mapping[str, Any]
    threads: int
    cv: Mapping[str, int] | None = None
    hyper: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def settings(self) -> dict[str, Any]:
        """Everything that determines the result (the profile name and the grid label do not)."""
        fields = dataclasses.asdict(self)
        fields.pop("profile")
        fields.pop("hyper")
        return fields

    @property
    def stage(self) -> str:
        """``"cv"`` for a cross-validation fit, ``"test"`` for a model scored on the test split."""
        return "test" if self.cv is None else "cv"

    @property
    def key(self) -> str:
        payload = json.dumps({"settings": self.settings(), "code": code_version()}, sort_keys=True, default=str)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    @property
    def label(self) -> str:
        parts = [self.algorithm, self.dataset]
        if self.hyper:
            parts.append(point_label(self.hyper))
        if self.cv is not None:
            parts.append(f"fold {self.cv['fold'] + 1}/{self.cv['folds']}")
        return " / ".join(parts + [f"seed {self.seed}"])


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
            the ``amazon_*`` datasets named in ``datasets``). A registry file holds one category, so
            it feeds only those datasets; a folder feeds every ``amazon_*`` dataset. The others read
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
    # A registry file holds one category: it feeds amazon_apparel, or the amazon_* datasets named in
    # `datasets`; the other categories read the downloaded archive. An archive folder feeds them all.
    amazon_path = Path(amazon).resolve() if amazon else None
    amazon_targets = {name for name in (datasets or ("amazon_apparel",)) if name.startswith("amazon_")}
    jobs = []
    # Seed-major order: an interrupted sweep has the first seeds of every cell, not all seeds of a few.
    for seed in seeds if seeds is not None else profile.seeds:
        for dataset in chosen_datasets:
            if dataset.startswith("amazon_"):
                given = amazon_path is not None and (amazon_path.is_dir() or dataset in amazon_targets)
                data_options = {"path": str(amazon_path if given else root / "amazon")}
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
    # Idle OpenMP threads sleep instead of spinning: on a shared CPU a spinning thread takes the core
    # its partner needs, and the mean-field step's many short parallel regions then stall (2-3x).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # honest device-memory readings


def execute(job: Job, progress: bool = True) -> dict[str, Any]:
    """Run one job (in the calling process) and return its record. Never raises for a job failure."""
    _limit_threads(job.threads)
    from setbench.protocol import TrainConfig, mean_jaccard

    from .memory import NvmlSampler, gpu_visible, peak_rss_bytes
    from .registry import make_algorithm

    started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    record: dict[str, Any] = {
        **_identity(job), "started_at": started, "versions": package_versions(), "machine": machine(),
    }
    try:
        import torch

        torch.set_num_threads(job.threads)
        record["execution"] = _execution(torch.get_num_threads())
        data = load_dataset(job.dataset, job.data_seed, job.data_options)
        train, valid = data.train, data.valid
        if job.cv is not None:
            from setbench.datasets import cross_validation_fold

            train, valid = cross_validation_fold(data, job.cv["folds"], job.cv["fold"], seed=job.cv["seed"])
        algorithm = make_algorithm(job.algorithm, TrainConfig(**job.train), job.algorithm_options)
        record["config"] = json.loads(json.dumps(dataclasses.asdict(algorithm.config), default=str))
        record["estimator"] = estimator_of(algorithm.config)
        sampler = NvmlSampler() if gpu_visible() else None
        start = time.perf_counter()
        if sampler is not None:
            with sampler:
                algorithm.fit(train, valid, seed=job.seed, progress=progress)
        else:
            algorithm.fit(train, valid, seed=job.seed, progress=progress)
        diagnostics = dict(algorithm.diagnostics())
        test_jc = math.nan
        if diagnostics["status"] == "ok" and job.cv is None:  # cross-validation fits never see the test split
            test_start = time.perf_counter()
            test_jc = mean_jaccard(algorithm.predict(data.test), data.test.optimal)
            diagnostics = dict(algorithm.diagnostics())  # fixed-point figures and status of the test pass
            if diagnostics["status"] == "nonfinite":
                test_jc = math.nan  # top-|S*| of a non-finite ψ is no prediction
            record["test_seconds"] = time.perf_counter() - test_start
        record["wall_seconds"] = time.perf_counter() - start
        record["device"] = str(getattr(algorithm, "device_", ""))
        record.update({k: v for k, v in diagnostics.items() if k != "valid_jc"})
        record["valid_jc"] = diagnostics["valid_jc"]
        record["test_jc"] = test_jc
        if sampler is not None and not record["device"].startswith(("cuda", "gpu")):
            sampler = None  # a GPU is visible but this job ran on the CPU: its NVML series says nothing
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


def _execution(torch_threads: int) -> dict[str, Any]:
    """How the job's process was confined: its thread limits and the CPUs it may run on."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    return {"torch_threads": torch_threads, "cpus": cpus, "pid": os.getpid(),
            **{name: os.environ.get(name, "") for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")}}


def estimator_of(config) -> str:
    """The ``∇_ψ F̃`` estimator of an algorithm config (``mean_field.estimator``), or ``""`` if it has none."""
    return getattr(getattr(config, "mean_field", None), "estimator", "")


def _identity(job: Job) -> dict[str, Any]:
    return {"key": job.key, "profile": job.profile, "algorithm": job.algorithm, "dataset": job.dataset,
            "seed": job.seed, "stage": job.stage, "cv": job.cv, "hyper": dict(job.hyper),
            "code_version": code_version(), "settings": job.settings()}


def failed_record(job: Job, message: str) -> dict[str, Any]:
    """The record of a job whose process died before writing one (killed, out of memory, crashed)."""
    return {**_identity(job), "status": "failed", "message": message, "test_jc": math.nan,
            "finished_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}


def run_job(job: Job, folder: str | Path, *, key: str | None = None, force: bool = False,
            progress: bool = False) -> dict[str, Any]:
    """The job function every executor runs: execute ``job`` once and store its record in ``folder``.

    Holds the job's lock (:meth:`RecordStore.claim`) from the check to the write: a second process
    given the same job waits for the first, then finds its record and returns it. A finished
    record is returned as is unless ``force``.

    Args:
        key: the key the sweep process computed for ``job``. Keys include the code version, so a
            job process whose code differs (the sources were edited after the sweep started) stores
            a ``failed`` record under ``key`` instead of running other code than was planned.
    """
    store = RecordStore(folder)
    if key is not None and key != job.key:
        with store.claim(key):
            record = {**failed_record(job, f"this process computes key {job.key} for the job, not the planned "
                                           f"{key}: the code changed after the sweep was planned (code version "
                                           f"here {code_version()}); rerun the sweep"), "key": key}
            store.put(record)
        return record
    with store.claim(job.key):
        existing = store.get(job.key)
        if existing is not None and existing.get("status") in FINISHED and not force:
            return existing
        store.log("start", job.key, label=job.label)
        record = execute(job, progress)
        store.put(record)
        store.log("finish", job.key, label=job.label, status=record["status"])
    return record


def run_jobs(jobs: Sequence[Job], store: RecordStore, *, executor=None, force: bool = False,
             progress: bool = True, description: str = "jobs") -> list[dict]:
    """Run the jobs that have no finished record (all with ``force``) on ``executor``.

    Args:
        executor: a :mod:`.executors` executor; default a :class:`~.executors.LocalExecutor`.

    Returns:
        The records of all ``jobs`` (reused or new), in job order. A job whose process died
        gets a ``failed`` record (retried by the next run).
    """
    from .executors import LocalExecutor

    executor = LocalExecutor() if executor is None else executor
    records: dict[str, dict] = {}
    todo: dict[str, Job] = {}
    for job in jobs:
        existing = store.get(job.key)
        if existing is not None and existing.get("status") in FINISHED and not force:
            records[job.key] = existing
        else:
            todo.setdefault(job.key, job)
    unique = len({job.key for job in jobs})
    bar = tqdm(total=unique, initial=unique - len(todo), desc=description, unit="job", disable=not progress)
    if records:
        bar.write(f"{description}: {len(records)} of {unique} jobs already finished (reused; --force reruns them)")
    for job, record, problem in executor.map(list(todo.values()), store.folder, force=force, progress=progress):
        if record is None:
            existing = store.get(job.key)
            if existing is not None and existing.get("status") in FINISHED:
                record = existing
            else:
                record = failed_record(job, problem)
                store.put(record)
        records[job.key] = record
        bar.update()
        jc = record.get("test_jc" if job.cv is None else "valid_jc")
        shown = f"{jc:.2f}" if isinstance(jc, float) and math.isfinite(jc) else "—"
        bar.write(f"{record['status']:<9} {job.label}: {'test' if job.cv is None else 'valid'} JC {shown}"
                  + (f" ({record['message']})" if record["status"] == "failed" else ""))
    bar.close()
    return [records[job.key] for job in jobs]

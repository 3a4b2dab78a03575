"""Where jobs run: a local process pool (default) or a cluster through submitit (Slurm).

Both run the same job function, :func:`~.runner.run_job`, each job in its own fresh process, and
report back through the record it stores. An executor's ``map(jobs, folder, force=, progress=)``
yields ``(job, record, problem)`` as jobs end, in completion order: ``record`` is the stored
record, or ``None`` with ``problem`` saying why the job's process left none (the runner then
records the job as ``failed``, to be retried by the next run).

* :class:`LocalExecutor` — up to ``workers`` job processes at once
  (``python -m setbench.benchmarks.worker``). Each gets its thread limit before it imports
  anything (``OMP/MKL/OPENBLAS_NUM_THREADS``; ``torch.set_num_threads`` in the job) and, when the
  workers' threads fit the CPUs, a disjoint CPU set (``sched_setaffinity``), which also bounds
  XLA's thread pool. Workers exit when the sweep process dies.
* :class:`SubmititExecutor` — one submitit job per setbench job, on Slurm (``cluster="slurm"``),
  as local subprocesses (``"local"``: what CI runs) or in-process (``"debug"``). Records go to the
  results folder, which must be on a filesystem the nodes share; a job killed by the cluster
  (time limit, pre-emption, out of memory) comes back as ``failed``.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator, Sequence

__all__ = ["LocalExecutor", "SubmititExecutor", "EXECUTORS", "available_cpus"]

#: Environment variables that cap the thread pools of OpenMP, MKL and OpenBLAS in a job process.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def available_cpus() -> list[int]:
    """The CPUs this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


@dataclasses.dataclass(frozen=True, kw_only=True)
class LocalExecutor:
    """A pool of fresh job processes on this machine.

    Attributes:
        workers: jobs run at once; ``None``: as many as the CPUs hold at the jobs' thread count.
        pin_cpus: give each worker a disjoint CPU set when ``workers × threads`` fits the CPUs.
        poll_seconds: how often the pool looks for ended jobs.
    """

    workers: int | None = None
    pin_cpus: bool = True
    poll_seconds: float = 0.1

    def __post_init__(self):
        if self.workers is not None and (not isinstance(self.workers, int) or self.workers < 1):
            raise ValueError(f"LocalExecutor.workers must be a positive integer, got {self.workers!r}")

    def worker_count(self, threads: int) -> int:
        return self.workers or max(1, len(available_cpus()) // max(1, threads))

    def map(self, jobs: Sequence, folder: Path, *, force: bool = False,
            progress: bool = False) -> Iterator[tuple]:
        if not jobs:
            return
        threads = max(job.threads for job in jobs)
        workers = self.worker_count(threads)
        cpus = available_cpus()
        pin = self.pin_cpus and workers > 1 and workers * threads <= len(cpus)
        queue = collections.deque(jobs)
        free = list(range(workers))
        running: dict[subprocess.Popen, tuple] = {}
        try:
            while queue or running:
                while queue and free:
                    job, slot = queue.popleft(), free.pop(0)
                    cpu_set = cpus[slot * threads:(slot + 1) * threads] if pin else None
                    running[self._start(job, folder, force, progress and workers == 1, cpu_set)] = (job, slot)
                ended = [process for process in running if process.poll() is not None]
                if not ended:
                    time.sleep(self.poll_seconds)
                    continue
                for process in ended:
                    job, slot = running.pop(process)
                    free.append(slot)
                    yield job, *_outcome(job, folder, process.returncode)
        finally:
            for process in running:  # the sweep is being abandoned: its jobs go with it
                process.kill()
                process.wait()

    @staticmethod
    def _start(job, folder: Path, force: bool, progress: bool, cpu_set: list[int] | None) -> subprocess.Popen:
        env = dict(os.environ)
        env.update({name: str(job.threads) for name in THREAD_VARIABLES})
        env.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # honest device-memory readings
        request = {"job": dataclasses.asdict(job), "key": job.key, "folder": str(Path(folder).resolve()),
                   "force": force, "progress": progress, "cpus": cpu_set, "parent": os.getpid()}
        process = subprocess.Popen([sys.executable, "-m", "setbench.benchmarks.worker"], stdin=subprocess.PIPE,
                                   env=env)
        process.stdin.write(json.dumps(request).encode("utf-8"))
        process.stdin.close()
        return process


def _outcome(job, folder: Path, returncode: int) -> tuple[dict | None, str]:
    """The stored record of a job whose process ended, or ``None`` and why there is none."""
    from .store import RecordStore

    record = RecordStore(folder).get(job.key) if returncode == 0 else None
    if record is not None:
        return record, ""
    if returncode == 0:
        return None, "the job's process ended without storing a record"
    cause = f"killed by signal {-returncode}" if returncode < 0 else f"exit status {returncode}"
    return None, f"the job's process died ({cause}: killed, out of memory or crashed)"


@dataclasses.dataclass(frozen=True, kw_only=True)
class SubmititExecutor:
    """One submitit job per setbench job.

    Attributes:
        log_folder: where submitit keeps pickles and logs (``%j`` becomes the job id); on Slurm, a
            folder the nodes share.
        cluster: ``"slurm"``, ``"local"``, ``"debug"``, or ``None``: Slurm where ``srun`` exists, else local.
        max_parallel: jobs submitted and not yet ended at any time; ``None``: all at once on
            Slurm, as many as the CPUs hold at the jobs' thread count elsewhere.
        timeout_min: time limit per job, minutes.
        mem_gb: memory per job (Slurm), ``None`` for the partition's default.
        slurm_partition: Slurm partition, ``None`` for the default.
        poll_seconds: how often ended jobs are looked for.
    """

    log_folder: Path
    cluster: str | None = None
    max_parallel: int | None = None
    timeout_min: int = 24 * 60
    mem_gb: float | None = None
    slurm_partition: str | None = None
    poll_seconds: float = 1.0

    def __post_init__(self):
        if self.cluster not in (None, "slurm", "local", "debug"):
            raise ValueError(f"SubmititExecutor.cluster must be slurm, local, debug or None, got {self.cluster!r}")
        if self.max_parallel is not None and (not isinstance(self.max_parallel, int) or self.max_parallel < 1):
            raise ValueError(f"SubmititExecutor.max_parallel must be a positive integer, got {self.max_parallel!r}")
        if not (isinstance(self.timeout_min, int) and self.timeout_min > 0):
            raise ValueError(f"SubmititExecutor.timeout_min must be a positive integer, got {self.timeout_min!r}")

    def map(self, jobs: Sequence, folder: Path, *, force: bool = False,
            progress: bool = False) -> Iterator[tuple]:
        if not jobs:
            return
        import submitit

        from .runner import run_job

        del progress  # job output goes to submitit's log files
        threads = max(job.threads for job in jobs)
        executor = submitit.AutoExecutor(folder=str(self.log_folder), cluster=self.cluster)
        parameters = {"name": "setbench", "timeout_min": self.timeout_min, "cpus_per_task": threads}
        if self.mem_gb is not None:
            parameters["mem_gb"] = self.mem_gb
        if self.slurm_partition is not None:
            parameters["slurm_partition"] = self.slurm_partition
        executor.update_parameters(**parameters)
        limit = self.max_parallel or (len(jobs) if executor.cluster == "slurm"
                                      else max(1, len(available_cpus()) // max(1, threads)))
        folder = str(Path(folder).resolve())
        queue = collections.deque(jobs)
        running: list[tuple] = []
        try:
            while queue or running:
                while queue and len(running) < limit:
                    job = queue.popleft()
                    running.append((job, executor.submit(run_job, job, folder, key=job.key, force=force)))
                ended = [(job, handle) for job, handle in running if handle.done()]
                if not ended:
                    time.sleep(self.poll_seconds)
                    continue
                for job, handle in ended:
                    running.remove((job, handle))
                    try:
                        yield job, handle.result(), ""
                    except Exception as err:  # the cluster's word for a job that left no result
                        yield job, None, f"submitit job {handle.job_id} failed: {type(err).__name__}: " + \
                            (str(err).strip().splitlines() or [""])[-1]
        finally:
            for _, handle in running:
                handle.cancel(check=False)


#: name → executor class, for the command line.
EXECUTORS = {"local": LocalExecutor, "submitit": SubmititExecutor}

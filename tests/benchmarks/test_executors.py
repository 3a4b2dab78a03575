"""Executors run the job function in fresh processes, confined to their thread and CPU limits."""

import dataclasses
import os
import signal
import threading
import time

import pytest

from setbench.benchmarks import LocalExecutor, RecordStore, SubmititExecutor, expand, get_profile, run_jobs
from setbench.benchmarks.executors import available_cpus


def _failing_jobs(threads: int, n: int):
    """Jobs that fail fast (|V| = 0 is rejected when the dataset loads), after the process is set up."""
    profile = dataclasses.replace(get_profile("smoke"), threads=threads)
    return expand(profile, algorithms=["DiffMF"], datasets=["gaussian"], seeds=list(range(n)),
                  size_overrides={"v_size": 0})


def test_local_pool_runs_each_job_in_its_own_confined_process(tmp_path):
    jobs = _failing_jobs(threads=1, n=2)
    store = RecordStore(tmp_path)
    records = run_jobs(jobs, store, executor=LocalExecutor(workers=2), progress=False)
    assert [r["key"] for r in records] == [j.key for j in jobs]
    for record in records:
        assert record["status"] == "failed" and "SyntheticConfig.v_size must be a positive integer" in record["message"]
        execution = record["execution"]
        assert execution["torch_threads"] == 1
        assert execution["pid"] != os.getpid()
    assert records[0]["execution"]["pid"] != records[1]["execution"]["pid"]
    if len(available_cpus()) >= 2:  # two workers of one thread each: disjoint single CPUs
        cpus = [tuple(r["execution"]["cpus"]) for r in records]
        assert all(len(c) == 1 for c in cpus) and cpus[0] != cpus[1]
    assert [store.get(j.key)["status"] for j in jobs] == ["failed", "failed"]


def test_no_pinning_when_the_workers_do_not_fit(tmp_path):
    jobs = _failing_jobs(threads=len(available_cpus()), n=1)
    (record,) = run_jobs(jobs, RecordStore(tmp_path), executor=LocalExecutor(workers=2), progress=False)
    assert record["execution"]["cpus"] == available_cpus()


@pytest.mark.parametrize("kwargs, message", [
    ({"workers": 0}, "LocalExecutor.workers must be a positive integer, got 0"),
])
def test_local_executor_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LocalExecutor(**kwargs)


@pytest.mark.parametrize("kwargs, message", [
    ({"cluster": "pbs"}, "SubmititExecutor.cluster must be slurm, local, debug or None, got 'pbs'"),
    ({"max_parallel": 0}, "SubmititExecutor.max_parallel must be a positive integer, got 0"),
    ({"timeout_min": 0}, "SubmititExecutor.timeout_min must be a positive integer, got 0"),
])
def test_submitit_executor_validation(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        SubmititExecutor(log_folder=tmp_path, **kwargs)


@pytest.mark.slow
def test_a_killed_job_process_is_recorded_failed_and_retried(tmp_path):
    (job,) = expand(get_profile("smoke"), algorithms=["DiffMF"], datasets=["gaussian"])
    store = RecordStore(tmp_path)
    result = {}
    sweep = threading.Thread(target=lambda: result.update(records=run_jobs([job], store, progress=False)))
    sweep.start()
    deadline = time.monotonic() + 300
    while not store.journal() and time.monotonic() < deadline:
        time.sleep(0.05)
    (start,) = store.journal()
    os.kill(start["pid"], signal.SIGKILL)
    sweep.join(timeout=300)
    (record,) = result["records"]
    assert record["status"] == "failed" and "killed by signal 9" in record["message"]
    assert store.get(job.key)["status"] == "failed"
    (retried,) = run_jobs([job], store, progress=False)  # failed jobs are retried
    assert retried["status"] == "ok" and [e["event"] for e in store.journal()] == ["start", "start", "finish"]


@pytest.mark.slow
def test_job_processes_exit_when_the_sweep_process_is_killed(tmp_path):
    import subprocess
    import sys

    command = [sys.executable, "-m", "setbench.benchmarks", "run", "--profile", "smoke", "--algorithms", "DiffMF",
               "--datasets", "gaussian", "--max-epochs", "100", "--results", str(tmp_path), "--no-progress"]
    sweep = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    store = RecordStore(tmp_path / "runs")
    deadline = time.monotonic() + 300
    while not store.journal() and time.monotonic() < deadline and sweep.poll() is None:
        time.sleep(0.05)
    (start,) = store.journal()
    os.kill(sweep.pid, signal.SIGKILL)  # the sweep process only, not its process group
    sweep.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(start["pid"], 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        os.kill(start["pid"], signal.SIGKILL)
        pytest.fail("the job process outlived its sweep by 10 s")
    assert store.get(start["key"]) is None and not store.is_running(start["key"])

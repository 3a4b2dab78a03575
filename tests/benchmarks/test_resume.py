"""Held test: a cross-validated sweep killed 5 times (SIGKILL) and rerun ends as an uninterrupted one.

The sweep is the paper's protocol in miniature (``smoke-cv``: 2-fold cross-validation of a 2 × 2
grid, then 2 seeds) for DiffMF on Gaussian: 8 + 2 jobs on 2 local workers. Kills land at seeded
random points spread over both stages (after a random number of finished jobs, once a job is
running, plus a short random delay), alternately on the sweep process alone (its workers must follow it) and on its whole
process group. Then

* the final Table 1 (LaTeX, and Markdown above the timing section) equals the uninterrupted run's,
  and so does every job's score;
* no job started again after it finished (the journal), none failed, and every record parses;
* submitit, in its local mode, runs the same 2 × 2 grid to the same table.
"""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from setbench.benchmarks import FINISHED, RecordStore
from setbench.benchmarks.cli import main

pytestmark = pytest.mark.slow

SWEEP = ["--profile", "smoke-cv", "--algorithms", "DiffMF", "--datasets", "gaussian", "--no-progress",
         "--workers", "2"]
JOBS = 2 * 2 * 2 + 2  # grid points × folds + seeds


def _tables(results):
    markdown = (results / "table1-smoke-cv.md").read_text()
    return (results / "table1-smoke-cv.tex").read_text(), markdown.split("\n## Runs\n")[0]


def _scores(results):
    return {r["key"]: (r["status"], r.get("valid_jc"), r.get("test_jc")) for r in RecordStore(results / "runs").all()}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    results = tmp_path_factory.mktemp("uninterrupted")
    assert main(["run", *SWEEP, "--results", str(results)]) == 0
    assert len(_scores(results)) == JOBS
    return results


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _wait_gone(pids, seconds=20.0):
    deadline = time.monotonic() + seconds
    while any(map(_alive, pids)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return [pid for pid in pids if _alive(pid)]


def _in_flight(events, before):
    """Jobs started by the current sweep process's workers (journal events after ``before``), unfinished."""
    finished = {e["key"] for e in events if e["event"] == "finish"}
    return {e["key"]: e["pid"] for e in events[before:] if e["event"] == "start" and e["key"] not in finished}


def test_sigkilled_sweep_resumes_to_the_uninterrupted_table(reference, tmp_path):
    store = RecordStore(tmp_path / "runs")
    rng = np.random.default_rng(2025)
    command = [sys.executable, "-m", "setbench.benchmarks", "run", *SWEEP, "--results", str(tmp_path)]
    # Kill points spread over the whole sweep: after a random number of finished jobs (5 distinct
    # counts out of 0..JOBS-2, so both stages are hit), while a job runs.
    targets = sorted(int(t) for t in rng.choice(JOBS - 1, size=5, replace=False))
    kills = []
    for target in targets:
        before = len(store.journal())
        process = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 900
        while (sum(e["event"] == "finish" for e in store.journal()) < target and process.poll() is None
               and time.monotonic() < deadline):
            time.sleep(0.05)
        # Then wait until one of this sweep's jobs is running, and kill it mid-job after a short
        # random delay (the jobs take about a second: a longer wait would mostly land between jobs).
        while not _in_flight(store.journal(), before) and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(float(rng.uniform(0.0, 0.3)))
        assert process.poll() is None, f"the sweep ended by itself before kill {len(kills) + 1}"
        events = store.journal()
        finished = {e["key"] for e in events if e["event"] == "finish"}
        in_flight = _in_flight(events, before)
        whole_group = len(kills) % 2 == 1
        if whole_group:
            os.killpg(process.pid, signal.SIGKILL)
        else:
            os.kill(process.pid, signal.SIGKILL)  # the sweep process alone: its workers must exit too
        process.wait()
        assert _wait_gone(list(in_flight.values())) == [], "a job process outlived its killed sweep"
        kills.append({"group": whole_group, "finished": len(finished), "in_flight": len(in_flight)})
    print("kills:", kills)

    assert main(["run", *SWEEP, "--results", str(tmp_path)]) == 0  # resume to the end

    assert _tables(tmp_path) == _tables(reference)
    assert _scores(tmp_path) == _scores(reference)

    events = store.journal()
    first_finish = {}
    for index, event in enumerate(events):
        if event["event"] == "finish":
            first_finish.setdefault(event["key"], index)
    restarted_after_finish = [e["key"] for i, e in enumerate(events)
                              if e["event"] == "start" and first_finish.get(e["key"], len(events)) < i]
    assert restarted_after_finish == [], "a finished job ran again"
    assert len(first_finish) == JOBS
    assert any(k["in_flight"] for k in kills), f"no kill interrupted a running job: {kills}"

    files = sorted((tmp_path / "runs").glob("*.json"))
    assert len(files) == JOBS
    for path in files:
        record = json.loads(path.read_text())  # every record parses
        assert record["key"] == path.stem and record["status"] in FINISHED and record["status"] != "failed"


def test_submitit_local_mode_runs_the_2x2_grid(reference, tmp_path):
    assert main(["run", *SWEEP, "--results", str(tmp_path), "--executor", "submitit",
                 "--submitit-cluster", "local"]) == 0
    assert _tables(tmp_path) == _tables(reference)
    assert _scores(tmp_path) == _scores(reference)
    records = RecordStore(tmp_path / "runs").all()
    cv = [r for r in records if r["stage"] == "cv"]
    assert len(cv) == 8 and {tuple(sorted(r["hyper"].items())) for r in cv} == {
        (("model.num_layers", n), ("train.learning_rate", lr)) for n in (1, 2) for lr in (1e-3, 3e-3)}
    job_folders = [p for p in (tmp_path / "submitit").iterdir() if p.name.isdigit()]  # "%j": submission files
    assert len(job_folders) == JOBS  # one submitit job (and log folder) per job

"""Job locks, the journal, and the job function's promise: a finished job never runs again."""

import json
import subprocess
import sys
import textwrap

from setbench.benchmarks import RecordStore, expand, get_profile, run_job


def _holder(folder, key, record=None, seconds=1.5):
    """A separate process that holds ``key``'s lock for ``seconds``, then stores ``record``."""
    script = textwrap.dedent(f"""
        import json, sys, time
        from setbench.benchmarks import RecordStore
        store = RecordStore({str(folder)!r})
        with store.claim({key!r}):
            print("held", flush=True)
            time.sleep({seconds})
            record = json.loads({json.dumps(json.dumps(record))})
            if record:
                store.put(record)
    """)
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "held"
    return process


def test_lock_is_seen_as_running_and_released_when_the_holder_exits(tmp_path):
    store = RecordStore(tmp_path)
    assert not store.is_running("k1")
    holder = _holder(tmp_path, "k1")
    assert store.is_running("k1")
    holder.wait(timeout=60)
    assert not store.is_running("k1")


def test_lock_of_a_killed_holder_is_released(tmp_path):
    store = RecordStore(tmp_path)
    holder = _holder(tmp_path, "k2", seconds=60)
    holder.kill()
    holder.wait(timeout=60)
    assert not store.is_running("k2")
    with store.claim("k2"):  # does not block
        pass


def test_journal_round_trip_skips_a_line_cut_by_a_killed_writer(tmp_path):
    store = RecordStore(tmp_path)
    store.log("start", "abc", label="x")
    with open(store.journal_path, "a") as handle:
        handle.write('{"event": "fin')  # a writer killed mid-line
    store.log("finish", "abc", status="ok")
    assert [(e["event"], e["key"]) for e in store.journal()] == [("start", "abc"), ("finish", "abc")]


def test_run_job_returns_a_finished_record_without_running(tmp_path):
    job = expand(get_profile("smoke"), algorithms=["DiffMF"], datasets=["gaussian"])[0]
    store = RecordStore(tmp_path)
    store.put({"key": job.key, "status": "ok", "test_jc": 88.0})
    assert run_job(job, tmp_path) == {"key": job.key, "status": "ok", "test_jc": 88.0}
    assert store.journal() == []  # never started


def test_run_job_with_force_reruns_a_finished_job(tmp_path):
    job = expand(get_profile("smoke"), algorithms=["DiffMF"], datasets=["gaussian"])[0]
    store = RecordStore(tmp_path)
    store.put({"key": job.key, "status": "ok", "test_jc": 88.0})
    record = run_job(job, tmp_path, force=True)
    assert record["key"] == job.key and record["status"] == "ok" and record["test_jc"] != 88.0
    assert store.get(job.key)["test_jc"] == record["test_jc"]  # the rerun replaced the stored record
    assert [e["event"] for e in store.journal()] == ["start", "finish"]


def test_run_job_waits_for_a_concurrent_run_and_reuses_its_record(tmp_path):
    job = expand(get_profile("smoke"), algorithms=["DiffMF"], datasets=["moons"])[0]
    holder = _holder(tmp_path, job.key, record={"key": job.key, "status": "ok", "test_jc": 77.0})
    record = run_job(job, tmp_path)  # blocks until the holder stored its record and exited
    holder.wait(timeout=60)
    assert record["test_jc"] == 77.0 and RecordStore(tmp_path).journal() == []


def test_run_job_refuses_code_other_than_the_sweep_planned(tmp_path):
    job = expand(get_profile("smoke"), algorithms=["DiffMF"], datasets=["gaussian"])[0]
    planned = "0123456789abcdef"  # the key a sweep computed before the sources were edited
    record = run_job(job, tmp_path, key=planned)
    assert record["key"] == planned and record["status"] == "failed"
    assert "the code changed after the sweep was planned" in record["message"]
    store = RecordStore(tmp_path)
    assert store.get(planned)["status"] == "failed" and store.get(job.key) is None and store.journal() == []


def test_any_code_view_prefers_this_code_then_the_newest_finished_record(tmp_path):
    from types import SimpleNamespace

    from setbench.benchmarks.store import AnyCodeView

    store = RecordStore(tmp_path)
    settings = {"algorithm": "DiffMF", "dataset": "gaussian", "seed": 0, "sizes": (1, 2)}
    job = SimpleNamespace(key="current0000000000", settings=lambda: settings)
    for key, finished, status in (("old1", "2026-01-01T00:00", "ok"), ("old2", "2026-02-01T00:00", "ok"),
                                  ("old3", "2026-03-01T00:00", "failed")):
        store.put({"key": key, "settings": settings, "finished_at": finished, "status": status})
    view = AnyCodeView(store)
    assert view.get(job.key) is None  # not made known: nothing is guessed
    view.know([job])
    assert view.get(job.key)["key"] == "old2"  # the newest finished one; the failed one is never used
    store.put({"key": job.key, "settings": settings, "finished_at": "2025-01-01T00:00", "status": "ok"})
    assert view.get(job.key)["key"] == job.key  # this code's own record comes first
    other = SimpleNamespace(key="other000000000000", settings=lambda: {**settings, "seed": 1})
    view.know([other])
    assert view.get(other.key) is None

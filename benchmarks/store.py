"""Atomic, resumable storage of job records: one JSON file per job, keyed by the job's hash.

A record is written to a temporary file in the same folder and renamed into place, so a reader
sees either no record or a whole one — a killed sweep loses at most the jobs in flight. Aggregate
files (the results CSV, tables, figures) are rewritten the same way.

Beside the records (``<key>.json``), the folder holds

* ``locks/<key>.lock`` — an exclusive ``flock`` held by the process running the job. The kernel
  drops it when that process dies, so a lock is never stale; a second process given the same job
  waits for it (:meth:`RecordStore.claim`), and ``status`` reads it as "running".
* ``journal.jsonl`` — one JSON line per job start and finish (key, host, pid, time), appended with
  ``O_APPEND``: the sweep's history, and the evidence that no finished job ran again.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
import math
import os
import platform
from pathlib import Path
from typing import Any, Iterable, Iterator

import pandas as pd

from setbench.datasets.files import atomic_output

__all__ = ["FINISHED", "AnyCodeView", "RecordStore", "atomic_write_bytes", "atomic_write_text", "write_results_csv"]

#: Statuses of a finished job; ``failed`` jobs are retried on the next run.
FINISHED = ("ok", "nonfinite", "not_converged")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` all at once (:func:`~setbench.datasets.files.atomic_output`)."""
    with atomic_output(path) as handle:
        handle.write(data)


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically (see :func:`atomic_write_bytes`)."""
    atomic_write_bytes(path, text.encode("utf-8"))


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


class RecordStore:
    """Folder of ``<key>.json`` job records, their locks and the journal."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    @property
    def journal_path(self) -> Path:
        return self.folder / "journal.jsonl"

    def _lock_path(self, key: str) -> Path:
        return self.folder / "locks" / f"{key}.lock"

    @contextlib.contextmanager
    def claim(self, key: str) -> Iterator[None]:
        """Hold the job's exclusive lock, waiting while another process holds it."""
        path = self._lock_path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

    def is_running(self, key: str) -> bool:
        """True while some process holds the job's lock."""
        try:
            fd = os.open(self._lock_path(key), os.O_RDWR)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        return False

    def log(self, event: str, key: str, **fields: Any) -> None:
        """Append one event line to the journal (a single ``O_APPEND`` write, on a fresh line)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        line = json.dumps({"event": event, "key": key, "host": platform.node(), "pid": os.getpid(),
                           "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds"),
                           **fields}, sort_keys=True) + "\n"
        fd = os.open(self.journal_path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":  # a line cut short by a killed writer
                line = "\n" + line
            os.write(fd, line.encode("utf-8"))
        finally:
            os.close(fd)

    def journal(self) -> list[dict]:
        """The journal's events in order; a line cut short by a killed writer is skipped."""
        if not self.journal_path.exists():
            return []
        events = []
        for line in self.journal_path.read_text(encoding="utf-8").splitlines():
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return events

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.json"

    def get(self, key: str) -> dict | None:
        path = self.path(key)
        if not path.exists():
            return None
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            return None  # cannot happen with atomic writes; treat as absent so the job reruns

    def put(self, record: dict) -> None:
        atomic_write_text(self.path(record["key"]), json.dumps(_jsonable(record), indent=1, sort_keys=True))

    def all(self) -> list[dict]:
        if not self.folder.is_dir():
            return []
        records = (self.get(p.stem) for p in sorted(self.folder.glob("*.json")))
        return [r for r in records if r is not None]


def _settings_id(settings: Any) -> str:
    return json.dumps(_jsonable(settings), sort_keys=True, default=str)


class AnyCodeView:
    """Read-only view of a :class:`RecordStore` that finds a job's record by its settings alone.

    A job's key includes the code version (any edit to the code makes every job new, so a sweep
    never reuses a result of different code). For a table of runs made across edits that do not
    touch the numbers (documentation, tables), this view answers ``get(key)`` with the record of the
    current code when there is one, else the newest finished record of the same settings written by
    any code; the records keep their ``code_version``, and the tables name them. Jobs must be made
    known (:meth:`know`) before their keys can be looked up.
    """

    def __init__(self, store: RecordStore):
        self._store = store
        self._keys: dict[str, str] = {}
        self._by_settings: dict[str, dict] = {}
        for record in store.all():
            if record.get("status") in FINISHED and isinstance(record.get("settings"), dict):
                known = self._by_settings.setdefault(_settings_id(record["settings"]), record)
                if str(record.get("finished_at", "")) > str(known.get("finished_at", "")):
                    self._by_settings[_settings_id(record["settings"])] = record

    def know(self, jobs: Iterable[Any]) -> None:
        """Register jobs (anything with ``key`` and ``settings()``) whose records may be asked for."""
        for job in jobs:
            self._keys[job.key] = _settings_id(job.settings())

    def get(self, key: str) -> dict | None:
        record = self._store.get(key)
        if record is not None or key not in self._keys:
            return record
        return self._by_settings.get(self._keys[key])


def write_results_csv(records: Iterable[dict], path: Path) -> pd.DataFrame:
    """One row per record (nested config flattened to JSON), written atomically; returns the frame."""
    rows = []
    for record in records:
        row = {k: v for k, v in record.items() if not isinstance(v, dict)}
        row.update({k: json.dumps(v, sort_keys=True) for k, v in record.items() if isinstance(v, dict)})
        rows.append(row)
    frame = pd.DataFrame(rows)
    if not frame.empty:
        frame = frame.sort_values(["profile", "dataset", "algorithm", "seed"], kind="stable")
    atomic_write_text(path, frame.to_csv(index=False))
    return frame

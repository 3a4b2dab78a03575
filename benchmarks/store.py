"""Atomic, resumable storage of job records: one JSON file per job, keyed by the job's hash.

A record is written to a temporary file in the same folder and renamed into place, so a reader
sees either no record or a whole one — a killed sweep loses at most the job in flight. Aggregate
files (the results CSV, tables) are rewritten the same way.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

__all__ = ["RecordStore", "atomic_write_text", "write_results_csv"]


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file and ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


class RecordStore:
    """Folder of ``<key>.json`` job records."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)

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

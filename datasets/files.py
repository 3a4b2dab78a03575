"""Finding a dataset's files inside the folder a user or :func:`~setbench.datasets.fetch` filled."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import IO, Iterator

__all__ = ["atomic_output", "find_visible"]

# The process's umask, read once (``os.umask`` can only be read by setting it).
_UMASK = os.umask(0o022)
os.umask(_UMASK)


def find_visible(root: Path, pattern: str) -> list[Path]:
    """Paths under ``root`` matching ``pattern``, sorted, outside hidden (dot-named) folders.

    Extraction works in a hidden temporary folder (``.extract-<archive>.*``); one left behind by a
    killed process holds partly written files that must never be read as data.
    """
    root = Path(root)
    return sorted(p for p in root.rglob(pattern)
                  if not any(part.startswith(".") for part in p.relative_to(root).parts[:-1]))


@contextlib.contextmanager
def atomic_output(path: Path, mode: str = "wb", *, encoding: str | None = None) -> Iterator[IO]:
    """Write ``path`` all at once: yield a hidden temporary file beside it, then rename it over ``path``.

    On any error the temporary file is removed and ``path`` is left as it was; on success the file
    is flushed to disk and gets the permissions a plain ``open`` would give it (``0o666`` less the
    umask; ``tempfile.mkstemp`` alone would leave ``0o600``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(handle, mode, encoding=encoding) as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
            os.fchmod(out.fileno(), 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

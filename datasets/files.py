"""Finding a dataset's files inside the folder a user or :func:`~setbench.datasets.fetch` filled."""

from __future__ import annotations

from pathlib import Path

__all__ = ["find_visible"]


def find_visible(root: Path, pattern: str) -> list[Path]:
    """Paths under ``root`` matching ``pattern``, sorted, outside hidden (dot-named) folders.

    Extraction works in a hidden temporary folder (``.extract-<archive>.*``); one left behind by a
    killed process holds partly written files that must never be read as data.
    """
    root = Path(root)
    return sorted(p for p in root.rglob(pattern)
                  if not any(part.startswith(".") for part in p.relative_to(root).parts[:-1]))

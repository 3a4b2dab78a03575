"""Facts about the software and machine a job ran on, recorded in every results row."""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import os
import platform
import sys
from pathlib import Path

__all__ = ["code_version", "package_versions", "machine"]

_PACKAGES = ("numpy", "torch", "jax", "jaxlib", "flax", "optax", "jaxopt", "scikit-learn", "pandas")
_SOURCES = ("datasets", "protocol", "baselines", "idiffmf", "benchmarks")


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


@functools.cache
def code_version() -> str:
    """sha256 (12 hex digits) of every ``.py`` file of the setbench packages, in path order.

    Any edit to the code changes it, so a finished job is never reused by different code. Computed
    once per process (job keys need it often): a process sees the code it imported.
    """
    import setbench.datasets as anchor

    root = Path(anchor.__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for folder in _SOURCES:
        for path in sorted((root / folder).rglob("*.py")):
            digest.update(str(path.relative_to(root)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def machine() -> dict[str, str | int]:
    return {
        "host": platform.node(),
        "platform": platform.platform(),
        "processor": platform.machine(),
        "cpus": os.cpu_count() or 0,
        "python_executable": sys.executable,
    }

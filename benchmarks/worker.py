"""One local job process: ``python -m setbench.benchmarks.worker`` reads a request on stdin and runs it.

The request (JSON, written by :class:`~.executors.LocalExecutor`) holds the job, its key as the
sweep computed it, the records folder, ``force``, ``progress``, an optional CPU set and the sweep
process's pid. The worker pins itself to the CPU set before any framework is imported, exits if
the sweep process dies, and runs :func:`~.runner.run_job` — the same job function as every other
executor.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time

__all__ = ["main"]


def _exit_with(parent: int, interval: float = 0.5) -> None:
    """Exit this process (status 137) once ``parent`` is no longer its parent."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        os._exit(137)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def main() -> int:
    request = json.loads(sys.stdin.read())
    if request.get("cpus") and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, request["cpus"])
    _exit_with(request["parent"])
    from .runner import Job, run_job

    run_job(Job(**request["job"]), request["folder"], key=request["key"], force=request["force"],
            progress=request["progress"])
    return 0


if __name__ == "__main__":
    sys.exit(main())

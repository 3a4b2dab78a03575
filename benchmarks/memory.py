"""Memory measures for a job: NVML-sampled device memory on a GPU, process peak RSS elsewhere.

* :class:`NvmlSampler` reads the device's used memory (NVML v2 query) from a background thread
  every ``interval`` seconds and reports min / mean / max over the job, minus the reading taken
  when it started. This is what the paper's Figure 1 plots (they sampled ``nvidia-smi`` every 5 s).
* :func:`peak_rss_bytes` is the process's peak resident set size (``getrusage``). Each job runs in
  a fresh process, so it is that job's peak, imports and data included. On a CPU it is the
  documented measure; it is not comparable with device memory.
"""

from __future__ import annotations

import math
import resource
import sys
import threading
from typing import NamedTuple

__all__ = ["MemoryReading", "NvmlSampler", "gpu_visible", "peak_rss_bytes"]


class MemoryReading(NamedTuple):
    """Bytes over a job; ``measure`` names what was read. NaN where nothing was sampled."""

    measure: str
    min_bytes: float
    mean_bytes: float
    max_bytes: float
    samples: int


def peak_rss_bytes() -> int:
    """Peak resident set size of this process, in bytes."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)  # Linux reports KiB


def gpu_visible() -> bool:
    """True if NVML loads and reports at least one device."""
    try:
        import pynvml

        pynvml.nvmlInit()
        try:
            return pynvml.nvmlDeviceGetCount() > 0
        finally:
            pynvml.nvmlShutdown()
    except Exception:  # no driver, no library, no device: all mean "no GPU"
        return False


class NvmlSampler:
    """Background sampling of one device's used memory (NVML v2), relative to the start.

    Use as a context manager; :meth:`reading` is valid after exit. A job that ends before the
    first sample still gets one reading: a sample is taken at start and at stop.
    """

    def __init__(self, device_index: int = 0, interval: float = 0.1):
        if not interval > 0:
            raise ValueError(f"NvmlSampler.interval must be > 0 seconds, got {interval!r}")
        self.device_index = device_index
        self.interval = interval
        self._samples: list[int] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _used(self) -> int:
        import pynvml

        info = pynvml.nvmlDeviceGetMemoryInfo(self._handle, version=pynvml.nvmlMemory_v2)
        return int(info.used)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._samples.append(self._used() - self._baseline)

    def __enter__(self) -> "NvmlSampler":
        import pynvml

        pynvml.nvmlInit()
        self._handle = pynvml.nvmlDeviceGetHandleByIndex(self.device_index)
        self._baseline = self._used()
        self._samples = [0]
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="nvml-sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        import pynvml

        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._samples.append(self._used() - self._baseline)
        pynvml.nvmlShutdown()

    def reading(self) -> MemoryReading:
        if not self._samples:
            return MemoryReading("nvml_device_used", math.nan, math.nan, math.nan, 0)
        values = self._samples
        return MemoryReading("nvml_device_used", float(min(values)), float(sum(values) / len(values)),
                             float(max(values)), len(values))

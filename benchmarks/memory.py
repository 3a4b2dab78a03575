"""Memory measures: sampled device memory (NVML) or process RSS, framework peaks, and exact measures.

Sampled (what the paper's Figure 1 shows; they read ``nvidia-smi`` every 5 s):

* :class:`MemorySampler` reads a quantity from a background thread every ``interval`` seconds and
  reports min / mean / max over a job, minus the reading taken when it started. Readers:
  :func:`nvml_used_reader` (device memory in use, NVML v2 query) and :func:`rss_reader` (this
  process's resident set size).
* :func:`peak_rss_bytes`: the process's peak RSS (``getrusage``). Jobs run in fresh processes, so it
  is that job's peak, imports and data included.

Framework peaks, NaN where the framework has no device statistics (CPU):
:func:`torch_cuda_peak_bytes` (``max_memory_allocated`` since :func:`reset_torch_cuda_peak`) and
:func:`jax_peak_bytes` (``memory_stats()["peak_bytes_in_use"]``; it cannot be reset, hence one process
per measurement).

Exact and repeatable, on any device: :func:`saved_tensor_bytes` (bytes of the distinct tensors PyTorch
saves for the backward pass while a function runs) and :func:`xla_buffer_bytes` (XLA's compiled memory
analysis: temporary + argument + output buffers of a jitted function).
"""

from __future__ import annotations

import math
import os
import resource
import sys
import threading
from typing import Any, Callable, NamedTuple

__all__ = [
    "MemoryReading",
    "MemorySampler",
    "NvmlSampler",
    "gpu_visible",
    "jax_peak_bytes",
    "nvml_used_reader",
    "peak_rss_bytes",
    "reset_torch_cuda_peak",
    "rss_reader",
    "saved_tensor_bytes",
    "torch_cuda_peak_bytes",
    "xla_buffer_bytes",
]


class MemoryReading(NamedTuple):
    """Bytes over a job relative to its start; ``measure`` names what was read. NaN where nothing was read."""

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


class _Reader(NamedTuple):
    measure: str
    open: Callable[[], Callable[[], int]]  # returns the read function; raises if unavailable
    close: Callable[[], None]


def rss_reader() -> _Reader:
    """Current resident set size of this process (Linux ``/proc/self/statm``)."""
    page = os.sysconf("SC_PAGE_SIZE")

    def open_() -> Callable[[], int]:
        def read() -> int:
            with open("/proc/self/statm", encoding="ascii") as handle:
                return int(handle.read().split()[1]) * page

        read()  # raises where /proc is absent
        return read

    return _Reader("process_rss", open_, lambda: None)


def _nvml_handle(pynvml, device_index: int | None):
    """The NVML handle of CUDA's device ``device_index`` (default: the first one this process sees).

    NVML numbers every GPU of the machine and ignores ``CUDA_VISIBLE_DEVICES``, which may name
    devices by index or by UUID: the frameworks' device 0 is the first entry there.
    """
    visible = [entry.strip() for entry in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if entry.strip()]
    if not visible:
        return pynvml.nvmlDeviceGetHandleByIndex(device_index or 0)
    entry = visible[device_index or 0]
    return (pynvml.nvmlDeviceGetHandleByIndex(int(entry)) if entry.isdigit()
            else pynvml.nvmlDeviceGetHandleByUUID(entry))


def nvml_used_reader(device_index: int | None = None) -> _Reader:
    """Device memory in use on one GPU (NVML v2 memory query); ``device_index`` counts the devices
    this process sees (``CUDA_VISIBLE_DEVICES``), default the first."""

    def open_() -> Callable[[], int]:
        import pynvml

        pynvml.nvmlInit()
        handle = _nvml_handle(pynvml, device_index)
        return lambda: int(pynvml.nvmlDeviceGetMemoryInfo(handle, version=pynvml.nvmlMemory_v2).used)

    def close() -> None:
        import pynvml

        pynvml.nvmlShutdown()

    return _Reader("nvml_device_used", open_, close)


class MemorySampler:
    """Background sampling of a memory quantity, relative to its value at start.

    Use as a context manager; :meth:`reading` is valid after exit. Readings are relative to the
    value at start; a sample is also taken at stop, so a job that ends before the first interval
    still has a reading. If the reader
    cannot be opened (no GPU, no driver), the sampler does nothing and the reading is all NaN.

    Args:
        reader: :func:`rss_reader` or :func:`nvml_used_reader`.
        interval: seconds between samples (default 0.1; the paper used 5).
    """

    def __init__(self, reader: _Reader, interval: float = 0.1):
        if not interval > 0:
            raise ValueError(f"MemorySampler.interval must be > 0 seconds, got {interval!r}")
        self.reader = reader
        self.interval = interval
        self._samples: list[int] = []
        self._read: Callable[[], int] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._samples.append(self._read() - self._baseline)

    def __enter__(self) -> "MemorySampler":
        self._samples = []
        try:
            self._read = self.reader.open()
        except Exception:  # unavailable reader: NaN readings, never zeros
            self._read = None
            return self
        self._baseline = self._read()  # the start itself is no sample: min/mean/max are of the job's run
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"{self.reader.measure}-sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._read is None:
            return
        self._stop.set()
        self._thread.join()
        self._samples.append(self._read() - self._baseline)
        self.reader.close()

    def reading(self) -> MemoryReading:
        values = self._samples
        if not values:
            return MemoryReading(self.reader.measure, math.nan, math.nan, math.nan, 0)
        return MemoryReading(self.reader.measure, float(min(values)), float(sum(values) / len(values)),
                             float(max(values)), len(values))


def NvmlSampler(device_index: int | None = None, interval: float = 0.1) -> MemorySampler:  # noqa: N802 - a factory
    """:class:`MemorySampler` of device memory in use (NVML v2)."""
    return MemorySampler(nvml_used_reader(device_index), interval)


def reset_torch_cuda_peak() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()


def torch_cuda_peak_bytes() -> float:
    """``torch.cuda.max_memory_allocated()``; NaN without CUDA."""
    import torch

    return float(torch.cuda.max_memory_allocated()) if torch.cuda.is_available() else math.nan


def jax_peak_bytes() -> float:
    """Peak bytes in use on JAX's default device; NaN where the backend keeps no statistics (CPU)."""
    import jax

    stats = jax.devices()[0].memory_stats()
    return float(stats["peak_bytes_in_use"]) if stats and "peak_bytes_in_use" in stats else math.nan


def saved_tensor_bytes(fn: Callable[[], Any]) -> tuple[Any, int]:
    """Run ``fn`` and count the bytes of distinct tensor storages autograd saves for backward.

    Every tensor that an autograd node saves passes through ``saved_tensors_hooks``'s pack hook; a
    storage saved by several nodes counts once. Parameters saved by a layer count too. Tensors saved
    while a backward pass runs (a custom backward that recomputes blocks under ``enable_grad``) are
    transient and freed block by block, so they are not counted.

    Returns:
        ``(fn(), bytes)``.
    """
    import torch

    seen: dict[tuple[int, str], int] = {}

    def pack(tensor):
        if torch._C._current_graph_task_id() != -1:  # inside a backward pass
            return tensor
        storage = tensor.untyped_storage()
        seen[(storage.data_ptr(), str(tensor.device))] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        result = fn()
    return result, int(sum(seen.values()))


def xla_buffer_bytes(compiled) -> dict[str, float]:
    """XLA's memory analysis of a compiled (``jax.jit(...).lower(...).compile()``) function.

    Returns:
        ``temp``, ``argument``, ``output`` and ``total`` (their sum) in bytes; NaN if unavailable.
    """
    analysis = compiled.memory_analysis()
    if analysis is None:
        return {key: math.nan for key in ("temp", "argument", "output", "total")}
    parts = {
        "temp": float(analysis.temp_size_in_bytes),
        "argument": float(analysis.argument_size_in_bytes),
        "output": float(analysis.output_size_in_bytes),
    }
    return {**parts, "total": sum(parts.values())}

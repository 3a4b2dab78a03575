"""Figure 1: memory of a training step against the number of fixed-point iterations K.

For each dataset and K ∈ {1, 2, 5, 10, 20, 50, 100}, three methods take a few real training steps,
each cell in a fresh process:

* ``DiffMF (graph kept)`` — K unrolled steps with every step kept in the autograd graph, as the
  published code does through ``torch.bernoulli``;
* ``DiffMF (ψ detached)`` — the same K steps with ψ detached between them: with hard samples the
  parameter gradient is identical (``tests/baselines/test_mean_field.py`` asserts it to the bit);
* ``iDiffMF`` — exactly K forward iterations (tolerance 0), implicit differentiation (iDiffMF_2).

Per cell it records two *exact* measures — the bytes of tensors PyTorch saves for the backward pass
of one step (``saved_tensors_hooks``) and XLA's buffer analysis of the compiled iDiffMF step
(temporary + argument + output) — and the memory *sampled* during the steps (NVML device memory on a
GPU, process RSS on a CPU: mean, min, max relative to the start), plus framework peaks (NaN on CPU).

On a CPU the top row plots the exact measures; on a GPU it plots the NVML series as the paper does.
The bottom row plots the other kind. Batch size is reduced (default 4 sets) so that K = 100 fits on
a laptop; every measure is linear in the batch size.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import math
import multiprocessing
import os
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from .store import atomic_write_text

__all__ = ["Figure1Config", "METHODS", "cells", "measure_cell", "run_figure1", "plot_figure1", "main"]

#: method key → legend label
METHODS = {
    "diffmf_kept": "DiffMF (graph kept, as published)",
    "diffmf_detached": "DiffMF (ψ detached between steps)",
    "idiffmf": "iDiffMF_2 (implicit)",
}
_COLORS = {"diffmf_kept": "tab:blue", "diffmf_detached": "tab:green", "idiffmf": "tab:orange"}


@dataclasses.dataclass(frozen=True, kw_only=True)
class Figure1Config:
    """What the figure measures.

    Attributes:
        iterations: the K values (x axis).
        datasets: registry names; ``amazon_*`` needs ``amazon``.
        batch_size: ground sets per training step.
        steps: sampled training steps per cell (after one measured warm-up step).
        interval: sampling interval in seconds.
        amazon: Amazon registry file or archive folder.
        threads: intra-op threads per cell.
    """

    iterations: tuple[int, ...] = (1, 2, 5, 10, 20, 50, 100)
    datasets: tuple[str, ...] = ("gaussian", "moons", "amazon_apparel")
    batch_size: int = 4
    steps: int = 2
    interval: float = 0.1
    amazon: str | None = None
    threads: int = 2

    def __post_init__(self):
        if not self.iterations or any(not isinstance(k, int) or k <= 0 for k in self.iterations):
            raise ValueError(f"Figure1Config.iterations must be positive integers, got {self.iterations!r}")
        for field in ("batch_size", "steps", "threads"):
            value = getattr(self, field)
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"Figure1Config.{field} must be a positive integer, got {value!r}")
        if not self.interval > 0:
            raise ValueError(f"Figure1Config.interval must be > 0 seconds, got {self.interval!r}")


@dataclasses.dataclass(frozen=True)
class Cell:
    dataset: str
    method: str
    iterations: int
    batch_size: int
    steps: int
    interval: float
    data_options: dict
    threads: int


def cells(config: Figure1Config) -> list[Cell]:
    jobs = []
    for dataset in config.datasets:
        if dataset.startswith("amazon_"):
            if not config.amazon:
                raise ValueError(f"dataset {dataset} needs an Amazon data path (--amazon PATH)")
            options = {"path": str(Path(config.amazon).resolve())}
        else:
            sets = config.batch_size * (config.steps + 1)
            options = {"sizes": {"n_train": sets, "n_valid": 1, "n_test": 1}}
        for method in METHODS:
            for k in config.iterations:
                jobs.append(Cell(dataset, method, k, config.batch_size, config.steps, config.interval, options,
                                 config.threads))
    return jobs


def _algorithm(cell: Cell):
    from setbench.protocol import TrainConfig

    from .registry import make_algorithm

    train = TrainConfig(batch_size=cell.batch_size, eval_batch_size=cell.batch_size)
    if cell.method == "idiffmf":
        return make_algorithm("iDiffMF_2", train, {"fixed_point": {"tol": 0.0, "max_iter": cell.iterations}})
    keep = cell.method == "diffmf_kept"
    return make_algorithm("DiffMF", train, {"iterations": cell.iterations, "keep_unrolled_graph": keep})


def measure_cell(cell: Cell) -> dict[str, Any]:
    """One cell, in the calling process (the sweep runs each in a fresh one)."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(cell.threads)
    os.environ["XLA_PYTHON_CLIENT_PREALLOCATE"] = "false"  # before jax is imported: honest NVML readings
    import torch

    from . import memory
    from .registry import load_dataset

    torch.set_num_threads(cell.threads)
    start = time.perf_counter()
    data = load_dataset(cell.dataset, 0, cell.data_options)
    train = data.train
    warm, sampled = train.subset(np.arange(cell.batch_size)), train.subset(
        np.arange(cell.batch_size, cell.batch_size * (cell.steps + 1)))
    algorithm = _algorithm(cell)
    record = dataclasses.asdict(cell) | {"label": METHODS[cell.method], "v_size": train.v_size}
    if cell.method == "idiffmf":
        algorithm.partial_fit(warm, seed=0)  # compiles, then one step
        exact = memory.xla_buffer_bytes(algorithm.compiled_train_step_)
        record.update(exact_bytes=exact["total"], exact_measure="xla_temp_argument_output",
                      xla_temp_bytes=exact["temp"])
    else:
        _, saved = memory.saved_tensor_bytes(lambda: algorithm.partial_fit(warm, seed=0))
        record.update(exact_bytes=float(saved), exact_measure="torch_saved_for_backward", xla_temp_bytes=math.nan)
    reader = memory.nvml_used_reader() if memory.gpu_visible() else memory.rss_reader()
    memory.reset_torch_cuda_peak()
    with memory.MemorySampler(reader, cell.interval) as sampler:
        algorithm.partial_fit(sampled, seed=0)
    reading = sampler.reading()
    framework_peak = memory.jax_peak_bytes() if cell.method == "idiffmf" else memory.torch_cuda_peak_bytes()
    record.update(
        sampled_measure=reading.measure, sampled_min_bytes=reading.min_bytes, sampled_mean_bytes=reading.mean_bytes,
        sampled_max_bytes=reading.max_bytes, samples=reading.samples, framework_peak_bytes=framework_peak,
        peak_rss_bytes=float(memory.peak_rss_bytes()), loss=algorithm.last_epoch_loss_,
        seconds=time.perf_counter() - start,
    )
    return record


def run_figure1(config: Figure1Config, *, progress: bool = True) -> pd.DataFrame:
    """Measure every cell, each in a fresh spawned process; returns one row per cell."""
    rows = []
    context = multiprocessing.get_context("spawn")
    todo = cells(config)
    for cell in tqdm(todo, desc="figure 1 cells", disable=not progress):
        with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
            rows.append(pool.submit(measure_cell, cell).result())
    return pd.DataFrame(rows)


def _gigabytes(values) -> np.ndarray:
    return np.asarray(values, dtype=float) / 1e9


def plot_figure1(frame: pd.DataFrame, path_stem: Path) -> list[Path]:
    """Paper-style panels, one per dataset; writes ``<stem>.png`` and ``<stem>.pdf``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = list(dict.fromkeys(frame["dataset"]))
    on_gpu = (frame["sampled_measure"] == "nvml_device_used").any()
    rows = ("sampled", "exact") if on_gpu else ("exact", "sampled")
    sampled_label = "device memory in use, NVML (GB)" if on_gpu else "process RSS during training steps (GB)"
    labels = {"exact": "bytes kept for backward (GB)\nPyTorch saved tensors / XLA buffers",
              "sampled": sampled_label}
    fig, axes = plt.subplots(2, len(datasets), figsize=(4.2 * len(datasets), 6.4), squeeze=False, sharex=True)
    for col, dataset in enumerate(datasets):
        for row, kind in enumerate(rows):
            ax = axes[row][col]
            for method, label in METHODS.items():
                part = frame[(frame["dataset"] == dataset) & (frame["method"] == method)].sort_values("iterations")
                if part.empty:
                    continue
                k = part["iterations"].to_numpy()
                if kind == "exact":
                    ax.plot(k, _gigabytes(part["exact_bytes"]), "o-", color=_COLORS[method], label=label, ms=4)
                else:
                    ax.plot(k, _gigabytes(part["sampled_mean_bytes"]), "o-", color=_COLORS[method], label=label, ms=4)
                    ax.fill_between(k, _gigabytes(part["sampled_min_bytes"]), _gigabytes(part["sampled_max_bytes"]),
                                    color=_COLORS[method], alpha=0.2, linewidth=0)
            if row == 0:
                batch = int(frame[frame["dataset"] == dataset]["batch_size"].iloc[0])
                v_size = int(frame[frame["dataset"] == dataset]["v_size"].iloc[0])
                ax.set_title(f"{dataset} (|V| = {v_size}, batch {batch})")
            if col == 0:
                ax.set_ylabel(labels[kind])
            if row == 1:
                ax.set_xlabel("fixed-point iterations K")
            ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    paths = [path_stem.with_suffix(".png"), path_stem.with_suffix(".pdf")]
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp{path.suffix}")
        fig.savefig(tmp, dpi=150)
        os.replace(tmp, path)
    plt.close(fig)
    return paths


def growth_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Per dataset × method: exact bytes at the smallest and largest K and the fitted bytes per iteration."""
    rows = []
    for (dataset, method), part in frame.groupby(["dataset", "method"], sort=False):
        part = part.sort_values("iterations")
        k, exact = part["iterations"].to_numpy(float), part["exact_bytes"].to_numpy(float)
        slope, intercept = np.polyfit(k, exact, 1) if len(k) > 1 else (math.nan, math.nan)
        fitted = slope * k + intercept
        total = np.sum((exact - exact.mean()) ** 2)
        r2 = 1 - np.sum((exact - fitted) ** 2) / total if total > 0 else math.nan
        rows.append({"dataset": dataset, "method": method, "k_min": int(k[0]), "exact_at_k_min": exact[0],
                     "k_max": int(k[-1]), "exact_at_k_max": exact[-1], "bytes_per_iteration": slope, "r2": r2,
                     "sampled_peak_at_k_max": float(part["sampled_max_bytes"].iloc[-1])})
    return pd.DataFrame(rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="setbench-figure1", description="Figure 1: memory vs K")
    parser.add_argument("--iterations", nargs="+", type=int, default=list(Figure1Config.iterations))
    parser.add_argument("--datasets", nargs="+", default=None, help="default: gaussian moons (+ amazon_apparel)")
    parser.add_argument("--amazon", metavar="PATH", help="Amazon registry file or archive folder")
    parser.add_argument("--batch-size", type=int, default=Figure1Config.batch_size)
    parser.add_argument("--steps", type=int, default=Figure1Config.steps)
    parser.add_argument("--interval", type=float, default=Figure1Config.interval)
    parser.add_argument("--out", type=Path, default=Path("results/figure1"), help="output stem (.png/.pdf/.csv)")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args(argv)
    datasets = args.datasets or ["gaussian", "moons"] + (["amazon_apparel"] if args.amazon else [])
    try:
        config = Figure1Config(iterations=tuple(args.iterations), datasets=tuple(datasets), batch_size=args.batch_size,
                               steps=args.steps, interval=args.interval, amazon=args.amazon)
        cells(config)  # validates dataset paths before any work
    except ValueError as err:
        print(f"setbench-figure1: error: {err}", file=sys.stderr)
        return 2
    frame = run_figure1(config, progress=args.progress)
    atomic_write_text(args.out.with_suffix(".csv"), frame.to_csv(index=False))
    paths = plot_figure1(frame, args.out)
    summary = growth_summary(frame)
    print(summary.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print("wrote", args.out.with_suffix(".csv"), *paths)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Figure 1: memory of a training step against the number of fixed-point iterations K.

For each dataset, estimator of ∂F̃/∂ψ and K ∈ {1, 2, 5, 10, 20, 50, 100}, the methods below take a
few real training steps, each cell in a fresh process:

* ``DiffMF (graph kept)`` — K unrolled steps with every step kept in the autograd graph, as the
  published code does through ``torch.bernoulli``;
* ``DiffMF (ψ detached)`` — the same K steps with ψ detached between them: with hard samples the
  parameter gradient is identical (``tests/baselines/test_mean_field.py`` asserts it to the bit);
* ``iDiffMF`` — exactly K forward iterations (tolerance 0), implicit differentiation (iDiffMF_2).

Under the ``hard`` estimator (as published) the unrolled graph carries no gradient; under a
differentiable one (``relaxed`` by default, or ``score``) it does, so unrolling really needs the
memory it keeps. ``DiffMF (ψ detached)`` is drawn for ``hard`` only: under a differentiable
estimator detaching would change the gradient, and DiffMF keeps the graph whatever the option says.

Per cell it records two *exact* measures — the bytes of tensors PyTorch saves for the backward pass
of one step (``saved_tensors_hooks``) and XLA's buffer analysis of the compiled iDiffMF step
(temporary + argument + output) — and the memory *sampled* during the steps (NVML device memory on a
GPU the cell computes on, process RSS otherwise: mean, min, max relative to the reading taken
before the model is built), plus framework peaks (NaN for a cell that computes on the CPU).

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

from .plots import save_figure
from .store import atomic_write_text

__all__ = ["Figure1Config", "METHODS", "cells", "measure_cell", "run_figure1", "plot_figure1", "main"]

#: method key → legend label
METHODS = {
    "diffmf_kept": "DiffMF (graph kept, as published)",
    "diffmf_detached": "DiffMF (ψ detached between steps)",
    "idiffmf": "iDiffMF_2 (implicit)",
}
_COLORS = {"diffmf_kept": "tab:blue", "diffmf_detached": "tab:green", "idiffmf": "tab:orange"}
_LINESTYLES = ("-", "--", ":", "-.")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Figure1Config:
    """What the figure measures.

    Attributes:
        iterations: the K values (x axis).
        datasets: registry names; ``amazon_*`` needs ``amazon``.
        estimators: estimators of ∂F̃/∂ψ (:data:`~setbench.protocol.ESTIMATORS`), one curve style each.
        batch_size: ground sets per training step.
        steps: sampled training steps per cell (after one measured warm-up step).
        interval: sampling interval in seconds.
        amazon: Amazon registry file or archive folder.
        data_dir: folder of downloaded data (``setbench data``), read by ``celeba``.
        threads: intra-op threads per cell.
        workers: cells measured at once, each in its own process (``None``: one on a GPU, whose NVML
            reading is device-wide; otherwise ``os.cpu_count() // threads``).
    """

    iterations: tuple[int, ...] = (1, 2, 5, 10, 20, 50, 100)
    datasets: tuple[str, ...] = ("gaussian", "moons", "amazon_apparel")
    estimators: tuple[str, ...] = ("hard", "relaxed")
    batch_size: int = 4
    steps: int = 2
    interval: float = 0.1
    amazon: str | None = None
    data_dir: str = "data"
    threads: int = 1
    workers: int | None = None

    def __post_init__(self):
        from setbench.protocol import ESTIMATORS

        unknown = [name for name in self.estimators if name not in ESTIMATORS]
        if not self.estimators or unknown:
            raise ValueError(f"Figure1Config.estimators must be among {', '.join(ESTIMATORS)}, got {self.estimators!r}")
        if self.workers is not None and (not isinstance(self.workers, int) or self.workers <= 0):
            raise ValueError(f"Figure1Config.workers must be a positive integer or None, got {self.workers!r}")
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
    estimator: str
    method: str
    iterations: int
    batch_size: int
    steps: int
    interval: float
    data_options: dict
    threads: int


def default_datasets(amazon: str | None, data_dir: str | Path) -> list[str]:
    """The paper's panels that can be drawn here: Gaussian, Moons, Amazon apparel with a data path,
    CelebA when downloaded under ``data_dir``."""
    from setbench.datasets import SOURCES, source_status

    return (["gaussian", "moons"] + (["amazon_apparel"] if amazon else [])
            + (["celeba"] if source_status(SOURCES["celeba"], Path(data_dir)).ready else []))


def cells(config: Figure1Config) -> list[Cell]:
    from .registry import DATASET_INFO

    jobs = []
    for dataset in config.datasets:
        if dataset.startswith("amazon_"):
            if not config.amazon:
                raise ValueError(f"dataset {dataset} needs an Amazon data path (--amazon PATH)")
            options = {"path": str(Path(config.amazon).resolve())}
        else:
            sets = config.batch_size * (config.steps + 1)
            options = {"sizes": {"n_train": sets, "n_valid": 1, "n_test": 1}}
            if DATASET_INFO[dataset].source is not None:  # downloaded data (CelebA)
                options["root"] = str(Path(config.data_dir).resolve())
        for estimator in config.estimators:
            for method in METHODS:
                if method == "diffmf_detached" and estimator != "hard":
                    continue
                for k in config.iterations:
                    jobs.append(Cell(dataset, estimator, method, k, config.batch_size, config.steps, config.interval,
                                     options, config.threads))
    return jobs


def _algorithm(cell: Cell):
    from setbench.protocol import TrainConfig

    from .registry import make_algorithm

    train = TrainConfig(batch_size=cell.batch_size, eval_batch_size=cell.batch_size)
    estimator = {"mean_field": {"estimator": cell.estimator}}
    if cell.method == "idiffmf":
        return make_algorithm("iDiffMF_2", train, {"fixed_point": {"tol": 0.0, "max_iter": cell.iterations}, **estimator})
    keep = cell.method == "diffmf_kept"
    return make_algorithm("DiffMF", train, {"iterations": cell.iterations, "keep_unrolled_graph": keep, **estimator})


def _runs_on_gpu(cell: Cell) -> bool:
    """Whether the cell's framework computes on a GPU (not merely whether one is visible)."""
    if cell.method == "idiffmf":
        import jax

        return jax.default_backend() == "gpu"
    from setbench.baselines.training import torch_device

    return torch_device().type == "cuda"


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
    record = dataclasses.asdict(cell) | {"label": METHODS[cell.method], "v_size": train.v_size}
    on_gpu = _runs_on_gpu(cell)
    reader = memory.nvml_used_reader() if on_gpu else memory.rss_reader()
    memory.reset_torch_cuda_peak()
    # The sampler's baseline is read before the model exists: allocator caches filled by the warm-up
    # step (PyTorch's, XLA's) would otherwise hide the training steps' memory from NVML.
    with memory.MemorySampler(reader, cell.interval) as sampler:
        algorithm = _algorithm(cell)
        if cell.method == "idiffmf":
            algorithm.partial_fit(warm, seed=0)  # compiles, then one step
            exact = memory.xla_buffer_bytes(algorithm.compiled_train_step_)
            record.update(exact_bytes=exact["total"], exact_measure="xla_temp_argument_output",
                          xla_temp_bytes=exact["temp"])
        else:
            _, saved = memory.saved_tensor_bytes(lambda: algorithm.partial_fit(warm, seed=0))
            record.update(exact_bytes=float(saved), exact_measure="torch_saved_for_backward",
                          xla_temp_bytes=math.nan)
        algorithm.partial_fit(sampled, seed=0)
    reading = sampler.reading()
    if not on_gpu:
        framework_peak = math.nan
    else:
        framework_peak = memory.jax_peak_bytes() if cell.method == "idiffmf" else memory.torch_cuda_peak_bytes()
    record.update(device=str(algorithm.device_), 
        sampled_measure=reading.measure, sampled_min_bytes=reading.min_bytes, sampled_mean_bytes=reading.mean_bytes,
        sampled_max_bytes=reading.max_bytes, samples=reading.samples, framework_peak_bytes=framework_peak,
        peak_rss_bytes=float(memory.peak_rss_bytes()), loss=algorithm.last_epoch_loss_,
        seconds=time.perf_counter() - start,
    )
    return record


def _workers(config: Figure1Config) -> int:
    if config.workers is not None:
        return config.workers
    from .memory import gpu_visible

    return 1 if gpu_visible() else max(1, (os.cpu_count() or 1) // config.threads)


def run_figure1(config: Figure1Config, *, progress: bool = True) -> pd.DataFrame:
    """Measure every cell, each in a fresh spawned process; returns one row per cell, in cell order.

    Every measure is per process (saved tensors, XLA buffers, RSS) except NVML's, which is device-wide:
    on a GPU the cells therefore run one at a time.
    """
    todo = cells(config)
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(_workers(config), mp_context=context, max_tasks_per_child=1) as pool:
        futures = [pool.submit(measure_cell, cell) for cell in todo]
        for _ in tqdm(concurrent.futures.as_completed(futures), total=len(futures), desc="figure 1 cells",
                      disable=not progress):
            pass
        rows = [future.result() for future in futures]
    return pd.DataFrame(rows)


def _gigabytes(values) -> np.ndarray:
    return np.asarray(values, dtype=float) / 1e9


def plot_figure1(frame: pd.DataFrame, path_stem: Path) -> list[Path]:
    """Paper-style panels, one per dataset; writes ``<stem>.png`` and ``<stem>.pdf``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = list(dict.fromkeys(frame["dataset"]))
    measures = set(frame["sampled_measure"])
    on_gpu = "nvml_device_used" in measures
    rows = ("sampled", "exact") if on_gpu else ("exact", "sampled")
    sampled_label = ("process RSS during training steps (GB)" if not on_gpu else
                     "device memory in use, NVML (GB)" if measures == {"nvml_device_used"} else
                     "NVML on GPU cells, RSS on CPU cells (GB)")
    labels = {"exact": "bytes kept for backward (GB)\nPyTorch saved tensors / XLA buffers",
              "sampled": sampled_label}
    estimators = list(dict.fromkeys(frame["estimator"]))
    fig, axes = plt.subplots(2, len(datasets), figsize=(4.4 * len(datasets), 6.8), squeeze=False, sharex=True)
    for col, dataset in enumerate(datasets):
        for row, kind in enumerate(rows):
            ax = axes[row][col]
            for estimator, style in zip(estimators, _LINESTYLES):
                for method, label in METHODS.items():
                    part = frame[(frame["dataset"] == dataset) & (frame["method"] == method)
                                 & (frame["estimator"] == estimator)].sort_values("iterations")
                    if part.empty:
                        continue
                    k, color, label = part["iterations"].to_numpy(), _COLORS[method], f"{label}, {estimator}"
                    if kind == "exact":
                        ax.plot(k, _gigabytes(part["exact_bytes"]), marker="o", ls=style, color=color, label=label,
                                ms=4)
                    else:
                        ax.plot(k, _gigabytes(part["sampled_mean_bytes"]), marker="o", ls=style, color=color,
                                label=label, ms=4)
                        ax.fill_between(k, _gigabytes(part["sampled_min_bytes"]),
                                        _gigabytes(part["sampled_max_bytes"]), color=color, alpha=0.15, linewidth=0)
            if row == 0:
                batch = int(frame[frame["dataset"] == dataset]["batch_size"].iloc[0])
                v_size = int(frame[frame["dataset"] == dataset]["v_size"].iloc[0])
                ax.set_title(f"{dataset} (|V| = {v_size}, batch {batch})")
            if col == 0:
                ax.set_ylabel(labels[kind])
            if row == 1:
                ax.set_xlabel("fixed-point iterations K")
            ax.grid(alpha=0.3)
    handles, labels_ = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels_, loc="lower center", ncol=min(3, len(handles)), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.04 + 0.035 * math.ceil(len(handles) / 3), 1, 1))
    paths = save_figure(fig, path_stem)
    plt.close(fig)
    return paths


def growth_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Per dataset × estimator × method: exact bytes at the smallest and largest K, the fitted bytes per
    iteration and the fit's R²."""
    rows = []
    for (dataset, estimator, method), part in frame.groupby(["dataset", "estimator", "method"], sort=False):
        part = part.sort_values("iterations")
        k, exact = part["iterations"].to_numpy(float), part["exact_bytes"].to_numpy(float)
        slope, intercept = np.polyfit(k, exact, 1) if len(k) > 1 else (math.nan, math.nan)
        fitted = slope * k + intercept
        total = np.sum((exact - exact.mean()) ** 2)
        r2 = 1 - np.sum((exact - fitted) ** 2) / total if total > 0 else math.nan
        rows.append({"dataset": dataset, "estimator": estimator, "method": method, "k_min": int(k[0]), "exact_at_k_min": exact[0],
                     "k_max": int(k[-1]), "exact_at_k_max": exact[-1], "bytes_per_iteration": slope, "r2": r2,
                     "sampled_peak_at_k_max": float(part["sampled_max_bytes"].iloc[-1])})
    return pd.DataFrame(rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="setbench-figure1", description="Figure 1: memory vs K")
    parser.add_argument("--iterations", nargs="+", type=int, default=list(Figure1Config.iterations))
    parser.add_argument("--datasets", nargs="+", default=None, help="default: gaussian moons (+ amazon_apparel, + celeba when downloaded)")
    parser.add_argument("--amazon", metavar="PATH", help="Amazon registry file or archive folder")
    parser.add_argument("--data-dir", type=Path, default=Path(Figure1Config.data_dir),
                        help="downloaded data; CelebA joins the default datasets when present there")
    parser.add_argument("--estimators", nargs="+", default=list(Figure1Config.estimators),
                        help="estimators of dF~/dpsi (hard, score, relaxed, exact)")
    parser.add_argument("--batch-size", type=int, default=Figure1Config.batch_size)
    parser.add_argument("--steps", type=int, default=Figure1Config.steps)
    parser.add_argument("--interval", type=float, default=Figure1Config.interval)
    parser.add_argument("--workers", type=int, default=None, help="cells at once (default: 1 on a GPU, else CPUs)")
    parser.add_argument("--out", type=Path, default=Path("results/figure1"), help="output stem (.png/.pdf/.csv)")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args(argv)
    datasets = args.datasets or default_datasets(args.amazon, args.data_dir)
    try:
        config = Figure1Config(iterations=tuple(args.iterations), datasets=tuple(datasets),
                               estimators=tuple(args.estimators), batch_size=args.batch_size, steps=args.steps,
                               interval=args.interval, amazon=args.amazon, data_dir=str(args.data_dir),
                               workers=args.workers)
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

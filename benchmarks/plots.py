"""Figures drawn from the stored records: one function per figure, registered in :data:`FIGURES`.

A figure function takes the frame of a sweep's test-stage records (one row per run, as for
:func:`~.tables.render_table1`) and returns a Matplotlib :class:`~matplotlib.figure.Figure`. It
uses the object API (no ``pyplot``, no global backend), so drawing changes no process state.

* ``jaccard`` — test JC per dataset × algorithm: our mean ± sample std over ``ok`` seeds (error
  bars, the seeds as dots), the published mean ± std beside it (hollow markers).
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np
import pandas as pd

from .store import atomic_write_bytes
from .tables import SOURCES, load_published

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["FIGURES", "jaccard_figure", "save_figure"]

_PUBLISHED_MARKERS = {"Ozcan2025": "D", "Ou2022": "s"}


def jaccard_figure(frame: pd.DataFrame, published: pd.DataFrame | None = None) -> Figure:
    """One panel per dataset; per algorithm, our test JC (×100) and the published one.

    Args:
        frame: test-stage records with ``dataset``, ``algorithm``, ``seed``, ``status``, ``test_jc``.
        published: the published figures (default: :func:`~.tables.load_published`).
    """
    from matplotlib.figure import Figure

    published = load_published() if published is None else published
    datasets = list(dict.fromkeys(frame["dataset"]))
    algorithms = list(dict.fromkeys(frame["algorithm"]))
    ok = frame[frame["status"] == "ok"]
    figure = Figure(figsize=(max(4.0, 1.1 * len(algorithms) + 1.5) * len(datasets), 3.6), layout="constrained")
    axes = np.atleast_1d(figure.subplots(1, len(datasets), squeeze=False)[0])
    positions = np.arange(len(algorithms), dtype=float)
    for ax, dataset in zip(axes, datasets):
        rows = ok[ok["dataset"] == dataset]
        means, stds = [], []
        for i, algorithm in enumerate(algorithms):
            scores = rows.loc[rows["algorithm"] == algorithm, "test_jc"].astype(float).to_numpy()
            means.append(scores.mean() if len(scores) else math.nan)
            stds.append(scores.std(ddof=1) if len(scores) > 1 else 0.0)
            ax.plot(np.full(len(scores), positions[i] - 0.12), scores, ".", color="0.55", markersize=3, zorder=2)
        ax.errorbar(positions - 0.12, means, yerr=stds, fmt="o", color="C0", capsize=4, label="setbench", zorder=3)
        for k, (source, (label, _)) in enumerate(SOURCES.items()):
            paper = published[(published["dataset"] == dataset) & (published["source"] == source)]
            paper = paper.set_index("algorithm")
            present = [i for i, a in enumerate(algorithms) if a in paper.index]
            if present:
                ax.errorbar(positions[present] + 0.12 * (k + 1), [paper.at[algorithms[i], "jc_mean"] for i in present],
                            yerr=[paper.at[algorithms[i], "jc_std"] for i in present], fmt=_PUBLISHED_MARKERS[source],
                            mfc="none", color=f"C{k + 1}", capsize=3, label=label, zorder=3)
        ax.set_title(dataset)
        ax.set_xticks(positions, algorithms, rotation=30, ha="right")
        ax.set_ylabel("test Jaccard coefficient (%)")
        ax.grid(axis="y", alpha=0.3)
    legend = {}
    for ax in axes:  # one legend for all panels: a source may appear in some panels only
        for handle, label in zip(*ax.get_legend_handles_labels()):
            legend.setdefault(label, handle)
    figure.legend(legend.values(), legend.keys(), loc="outside upper center", ncols=len(legend), fontsize="small")
    return figure


#: name → figure function(frame) → Figure, for ``python -m setbench.benchmarks plot --figure NAME``.
FIGURES: dict[str, Callable[[pd.DataFrame], Figure]] = {"jaccard": jaccard_figure}


def save_figure(figure: Figure, stem: Path, formats: tuple[str, ...] = ("png", "pdf")) -> list[Path]:
    """Write ``figure`` as ``stem.<format>`` for each format, each atomically; returns the paths."""
    paths = []
    for fmt in formats:
        buffer = io.BytesIO()
        figure.savefig(buffer, format=fmt, dpi=150)
        path = Path(f"{stem}.{fmt}")
        atomic_write_bytes(path, buffer.getvalue())
        paths.append(path)
    return paths

"""Table 1 as Markdown: our test Jaccard per dataset × algorithm beside the published numbers.

Only ``ok`` runs are averaged. Runs that diverged (``nonfinite``), did not converge or failed are
counted and listed, never averaged in.
"""

from __future__ import annotations

import math
from importlib import resources

import numpy as np
import pandas as pd

__all__ = ["load_published", "summarize", "render_table1", "SOURCES"]

#: Published sources, in the order their rows are shown.
SOURCES = {"Ozcan2025": "Özcan et al. 2025 (Table 1)", "Ou2022": "Ou et al. 2022 (reported)"}


def load_published() -> pd.DataFrame:
    """The project's copy of the published figures (``benchmarks/published.csv``)."""
    with resources.files("setbench.benchmarks").joinpath("published.csv").open(encoding="utf-8") as handle:
        return pd.read_csv(handle, comment="#")


def summarize(frame: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, algorithm): mean ± std of ``ok`` test JC, counts, and mean timings/diagnostics."""
    rows = []
    for (dataset, algorithm), group in frame.groupby(["dataset", "algorithm"], sort=False):
        ok = group[group["status"] == "ok"]
        jc = ok["test_jc"].astype(float).to_numpy()
        excluded = group[group["status"] != "ok"]
        rows.append({
            "dataset": dataset,
            "algorithm": algorithm,
            "n_ok": len(ok),
            "excluded": ", ".join(f"{s} ×{n}" for s, n in excluded["status"].value_counts().items()),
            "jc_mean": float(jc.mean()) if len(jc) else math.nan,
            "jc_std": float(jc.std(ddof=1)) if len(jc) > 1 else math.nan,
            **{col: _mean(ok, col) for col in (
                "epochs", "epoch_seconds", "valid_seconds", "compile_seconds", "fit_seconds",
                "fp_iterations_mean", "fp_converged_fraction", "memory_peak_bytes")},
            "memory_measure": ok["memory_measure"].iloc[0] if len(ok) and "memory_measure" in ok else "",
        })
    return pd.DataFrame(rows)


def _mean(frame: pd.DataFrame, column: str) -> float:
    if column not in frame or frame.empty:
        return math.nan
    values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
    return float(np.nanmean(values)) if np.isfinite(values).any() else math.nan


def _cell(mean: float, std: float, n: int | None = None) -> str:
    if not math.isfinite(mean):
        return "—"
    text = f"{mean:.2f}" + (f" ± {std:.2f}" if math.isfinite(std) else "")
    return text + (f" (n={n})" if n is not None and n != 5 else "")


def _fmt(value: float, digits: int = 1, scale: float = 1.0) -> str:
    return f"{value / scale:.{digits}f}" if math.isfinite(value) else "—"


def render_table1(frame: pd.DataFrame, published: pd.DataFrame | None = None, *, title: str = "",
                  notes: tuple[str, ...] = (), labels: dict[str, str] | None = None) -> str:
    """Markdown: a score table (ours and published rows per dataset) and a per-run detail table.

    ``labels`` maps a dataset name to the text shown for it (e.g. ``"digits (not in the paper)"``).
    """
    labels = labels or {}
    published = load_published() if published is None else published
    summary = summarize(frame)
    algorithms = list(dict.fromkeys(frame["algorithm"]))
    lines = [f"# {title or 'Table 1: test Jaccard coefficient (%)'}", ""]
    lines.append("Mean ± sample std over seeds of runs with status `ok`; `(n=…)` marks fewer than the "
                 "paper's 5 models. Published rows are the papers' own figures, for comparison.")
    lines += ["", "| dataset | source | " + " | ".join(algorithms) + " |",
              "|---|---|" + "---|" * len(algorithms)]
    for dataset in dict.fromkeys(frame["dataset"]):
        ours = summary[summary["dataset"] == dataset].set_index("algorithm")
        cells = [_cell(ours.at[a, "jc_mean"], ours.at[a, "jc_std"], int(ours.at[a, "n_ok"])) if a in ours.index
                 else "not run" for a in algorithms]
        lines.append(f"| {labels.get(dataset, dataset)} | setbench | " + " | ".join(cells) + " |")
        for source, label in SOURCES.items():
            rows = published[(published["dataset"] == dataset) & (published["source"] == source)]
            if rows.empty:
                continue
            by_algorithm = rows.set_index("algorithm")
            cells = [_cell(by_algorithm.at[a, "jc_mean"], by_algorithm.at[a, "jc_std"]) if a in by_algorithm.index
                     else "—" for a in algorithms]
            lines.append(f"| | {label} | " + " | ".join(cells) + " |")
    lines += ["", "## Runs", "",
              "| dataset | algorithm | ok runs | excluded | epochs | train s/epoch | valid s/epoch | compile s "
              "| fit s | fixed-point iterations | sets converged | peak memory (GB) | memory measure |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in summary.itertuples():
        lines.append(
            f"| {labels.get(row.dataset, row.dataset)} | {row.algorithm} | {row.n_ok} | {row.excluded or '—'} | {_fmt(row.epochs)} "
            f"| {_fmt(row.epoch_seconds)} | {_fmt(row.valid_seconds)} | {_fmt(row.compile_seconds)} "
            f"| {_fmt(row.fit_seconds, 0)} | {_fmt(row.fp_iterations_mean)} "
            f"| {_fmt(100 * row.fp_converged_fraction, 0)} % | {_fmt(row.memory_peak_bytes, 2, 1e9)} "
            f"| {row.memory_measure or '—'} |"
        )
    if notes:
        lines += ["", "## Notes", ""] + [f"- {note}" for note in notes]
    return "\n".join(lines) + "\n"

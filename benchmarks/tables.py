"""Table 1 in Markdown and LaTeX: our test Jaccard per dataset × algorithm beside the published numbers.

Per dataset (row), our cells are the mean ± sample std over seeds of the runs with status ``ok``;
the best mean is **bold**, the second underlined (ranked at the two decimals shown, ties share a
rank), and a dagger marks an algorithm whose difference from the row's best is not significant in
a paired test across seeds (:mod:`.significance`). The papers' own figures follow in their own
rows. Runs that diverged (``nonfinite``), did not converge or failed are listed, never averaged in.
Runs with an estimator of ``∇_ψ F̃`` other than the published ``hard`` one (the records' ``estimator``)
form their own column, ``ALGORITHM [estimator]``, with no published figures beside it.
"""

from __future__ import annotations

import dataclasses
import math
import re
from importlib import resources
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from .selection import Selection, point_label
from .significance import ALPHA, Comparison, paired_comparisons

__all__ = ["SOURCES", "load_published", "summarize", "render_table1", "render_table1_latex",
           "latex_escape", "latex_name"]

#: Published sources, in the order their rows are shown: Markdown and LaTeX labels.
SOURCES = {"Ozcan2025": ("Özcan et al. 2025 (Table 1)", r"\"{O}zcan et al.\ 2025"),
           "Ou2022": ("Ou et al. 2022 (reported)", r"Ou et al.\ 2022")}
_PAPER_MODELS = 5  # models per cell in the paper; fewer are flagged


def load_published() -> pd.DataFrame:
    """The project's copy of the published figures (``benchmarks/published.csv``)."""
    with resources.files("setbench.benchmarks").joinpath("published.csv").open(encoding="utf-8") as handle:
        return pd.read_csv(handle, comment="#")


def _label_estimators(frame: pd.DataFrame) -> pd.DataFrame:
    """``algorithm`` becomes ``ALGORITHM [estimator]`` where ``estimator`` is set and not ``hard``; the
    ``estimator`` column is consumed (a second call changes nothing)."""
    if "estimator" not in frame:
        return frame
    estimator = frame["estimator"].fillna("").astype(str)
    other = ~estimator.isin(["", "hard"])
    labelled = frame["algorithm"].where(~other, frame["algorithm"] + " [" + estimator + "]")
    return frame.assign(algorithm=labelled).drop(columns="estimator")


def summarize(frame: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, algorithm [estimator]): mean ± std of ``ok`` test JC, counts, and mean timings/diagnostics."""
    frame = _label_estimators(frame)
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


@dataclasses.dataclass(frozen=True)
class _Score:
    mean: float
    std: float
    n: int
    rank: int | None = None          # 1 best, 2 second, else None
    not_significant: bool = False    # tested against the row's best and p >= ALPHA


def _scores(frame: pd.DataFrame, comparisons: Sequence[Comparison]) -> dict[str, dict[str, _Score]]:
    """dataset → algorithm → score, ranked per dataset at the displayed precision."""
    summary = summarize(frame)
    close = {(c.dataset, c.other) for c in comparisons if c.tested and not c.significant}
    table: dict[str, dict[str, _Score]] = {}
    for dataset, rows in summary.groupby("dataset", sort=False):
        values = sorted({round(v, 2) for v in rows["jc_mean"] if math.isfinite(v)}, reverse=True)
        table[dataset] = {}
        for row in rows.itertuples():
            shown = round(row.jc_mean, 2) if math.isfinite(row.jc_mean) else None
            rank = values.index(shown) + 1 if shown is not None and values.index(shown) < 2 else None
            table[dataset][row.algorithm] = _Score(row.jc_mean, row.jc_std, int(row.n_ok), rank,
                                                   (dataset, row.algorithm) in close)
    return table


def _number(mean: float, std: float, pm: str) -> str:
    return f"{mean:.2f}" + (f" {pm} {std:.2f}" if math.isfinite(std) else "")


def _published(published: pd.DataFrame, dataset: str, source: str) -> pd.DataFrame | None:
    rows = published[(published["dataset"] == dataset) & (published["source"] == source)]
    return None if rows.empty else rows.set_index("algorithm")


def _inferred(paper: pd.DataFrame | None) -> bool:
    """Whether a published row holds figures re-assembled from a garbled copy of the table (‡)."""
    return paper is not None and "legibility" in paper.columns and bool((paper["legibility"] == "inferred").any())


def _any_inferred(published: pd.DataFrame, datasets: Sequence[str]) -> bool:
    return any(_inferred(_published(published, d, source)) for d in datasets for source in SOURCES)


_INFERRED_NOTE = ("‡ marks published figures re-assembled from a garbled copy of the paper's table by value ranges "
                  "(benchmarks/published.csv): check them against the paper before citing")
_UNPUBLISHED_NOTE = "— marks a figure the source does not publish"


# -- Markdown --------------------------------------------------------------------------------------
def _md_cell(score: _Score | None, unselected: bool = False) -> str:
    if score is None:
        return "no selection" if unselected else "not run"
    if not math.isfinite(score.mean):
        return "—"
    text = _number(score.mean, score.std, "±")
    text = {1: f"**{text}**", 2: f"<ins>{text}</ins>"}.get(score.rank, text)
    return text + (" †" if score.not_significant else "") + (f" (n={score.n})" if score.n != _PAPER_MODELS else "")


def _md_row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def render_table1(frame: pd.DataFrame, published: pd.DataFrame | None = None, *, title: str = "",
                  notes: Sequence[str] = (), selections: Sequence[Selection] = (),
                  labels: Mapping[str, str] | None = None, ceilings: Mapping[str, float] | None = None,
                  published_ceilings: Mapping[str, float] | None = None) -> str:
    """Markdown: scores (ours and published), paired tests, selection, excluded runs, per-run figures.

    Args:
        frame: one row per test-stage record (``dataset``, ``algorithm``, ``seed``, ``status``,
            ``test_jc``, ``message`` and the timing columns of the records).
        selections: the cross-validation outcome per cell, shown when given; a cell without a
            selection reads "no selection".
        labels: text shown for a dataset name (e.g. ``"digits (not in the paper)"``).
        ceilings: dataset → test JC of the rule that knows the data generator (:mod:`.ceiling`),
            shown beside our best; datasets without one are left out.
        published_ceilings: dataset → the same rule's test JC on the published code's test split
            (:func:`.ceiling.published_split_ceiling`), shown beside the best published figure.

    Everything above the final "Runs" section is a function of the scores alone (timings vary
    between runs and machines).
    """
    labels = dict(labels or {})
    published = load_published() if published is None else published
    frame = _label_estimators(frame)
    comparisons = paired_comparisons(frame)
    scores = _scores(frame, comparisons)
    algorithms = list(dict.fromkeys([*frame["algorithm"], *(s.algorithm for s in selections)]))
    unselected = {(s.dataset, s.algorithm) for s in selections if s.best is None}
    lines = [f"# {title or 'Table 1: test Jaccard coefficient (%)'}", "",
             f"Test Jaccard coefficient (%): mean ± sample std over seeds of runs with status `ok`. Per dataset, "
             f"**bold** is our best and <ins>underlined</ins> our second; † marks a difference from our best that "
             f"is not significant (paired t-test over common seeds, p ≥ {ALPHA}); (n=…) marks other than the "
             f"paper's {_PAPER_MODELS} models. Published rows are the papers' own figures, for comparison "
             f"({_UNPUBLISHED_NOTE}).", "",
             _md_row(["dataset", "source", *algorithms]), "|---|---|" + "---|" * len(algorithms)]
    for dataset, row in scores.items():
        lines.append(_md_row([labels.get(dataset, dataset), "setbench",
                              *(_md_cell(row.get(a), (dataset, a) in unselected) for a in algorithms)]))
        for source, (label, _) in SOURCES.items():
            paper = _published(published, dataset, source)
            if paper is not None:
                lines.append(_md_row(["", label + (" ‡" if _inferred(paper) else ""),
                                      *(_number(paper.at[a, "jc_mean"], paper.at[a, "jc_std"], "±")
                                        if a in paper.index else "—" for a in algorithms)]))
    if _any_inferred(published, list(scores)):
        lines += ["", _INFERRED_NOTE + "."]
    ceilings = {d: c for d, c in (ceilings or {}).items() if d in scores}
    if ceilings:
        lines += ["", "## Ceiling of the synthetic tasks", "",
                  "The rule that knows the data generator (each set's normal component by maximum likelihood, "
                  "then the top-|S*| items by likelihood ratio; `benchmarks/ceiling.py`), scored on the same test "
                  "sets. No learned set function is expected to exceed it by more than the noise of one test "
                  "split. The published figures were scored on another split, the one the published code draws "
                  "(`datasets/published_splits.py`); the same rule on that split is their ceiling, and each "
                  "source is best compared through its distance to its own split's ceiling.", "",
                  _md_row(["dataset", "rule on our test split", "our best", "our best − rule",
                           "rule on the published test split", "published best", "published best − rule"]),
                  "|---|---|---|---|---|---|---|"]
        for dataset, ceiling in ceilings.items():
            best = max((score.mean for score in scores[dataset].values() if math.isfinite(score.mean)),
                       default=math.nan)
            theirs = (published_ceilings or {}).get(dataset, math.nan)
            paper = _published(published, dataset, "Ozcan2025")
            paper_best = math.nan if paper is None else float(paper["jc_mean"].max())
            lines.append(_md_row([labels.get(dataset, dataset), f"{ceiling:.2f}", _fmt(best, 2),
                                  _fmt(best - ceiling, 2), _fmt(theirs, 2), _fmt(paper_best, 2),
                                  _fmt(paper_best - theirs, 2)]))
    lines += ["", "## Paired tests", ""]
    if comparisons:
        lines += [_md_row(["dataset", "best", "other", "common seeds", "mean difference", "p-value", "verdict"]),
                  "|---|---|---|---|---|---|---|"]
        for c in comparisons:
            verdict = ("not tested (fewer than 2 common seeds)" if not c.tested else
                       f"significant at {ALPHA}" if c.significant else "not significant †")
            lines.append(_md_row([c.dataset, c.best, c.other, str(len(c.seeds)), _fmt(c.mean_difference, 2),
                                  _fmt(c.p_value, 3), verdict]))
    else:
        lines.append("No dataset has two algorithms with `ok` runs.")
    if selections:
        lines += ["", "## Hyper-parameter selection", "",
                  "Cross-validation over train ∪ valid; the grid point with the best mean validation JC over the "
                  "folds (ties: the first in grid order) trains the test models. A point that diverged or failed "
                  "to converge in any fold is not eligible.", "",
                  _md_row(["dataset", "algorithm", "selected", "CV valid JC (mean ± std over folds)",
                           "eligible points"]), "|---|---|---|---|---|"]
        for s in selections:
            eligible = sum(c.eligible for c in s.candidates)
            chosen = (point_label(s.best.point), _number(s.best.mean, s.best.std, "±")) if s.best else \
                (f"none: {s.reason}", "—")
            lines.append(_md_row([s.dataset, s.algorithm, chosen[0], chosen[1], f"{eligible} of {len(s.candidates)}"]))
    excluded = frame[frame["status"] != "ok"]
    lines += ["", "## Excluded runs", ""]
    if excluded.empty:
        lines.append("None: every run finished with status `ok`.")
    else:
        lines += ["Not averaged into the table above.", "",
                  _md_row(["dataset", "algorithm", "seed", "status", "message"]), "|---|---|---|---|---|"]
        for row in excluded.itertuples():
            message = getattr(row, "message", "")
            lines.append(_md_row([row.dataset, row.algorithm, str(row.seed), row.status,
                                  message if isinstance(message, str) else ""]))
    if notes:
        lines += ["", "## Notes", ""] + [f"- {note}" for note in notes]
    lines += ["", "## Runs", "",
              "| dataset | algorithm | ok runs | excluded | epochs | train s/epoch | valid s/epoch | compile s "
              "| fit s | fixed-point iterations | sets converged | peak memory (GB) | memory measure |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in summarize(frame).itertuples():
        lines.append(
            f"| {labels.get(row.dataset, row.dataset)} | {row.algorithm} | {row.n_ok} | {row.excluded or '—'} | {_fmt(row.epochs)} "
            f"| {_fmt(row.epoch_seconds)} | {_fmt(row.valid_seconds)} | {_fmt(row.compile_seconds)} "
            f"| {_fmt(row.fit_seconds, 0)} | {_fmt(row.fp_iterations_mean)} "
            f"| {_fmt(100 * row.fp_converged_fraction, 0)} % | {_fmt(row.memory_peak_bytes, 2, 1e9)} "
            f"| {row.memory_measure or '—'} |"
        )
    lines += ["", "Sets converged: the share of test sets whose last step moved ψ by at most 1e-6 "
                  "(‖T(ψ) − ψ‖₂). DiffMF and EquiVSet run a fixed number K of steps, so a low share there "
                  "says that K steps stop short of the fixed point, not that the run failed; iDiffMF "
                  "iterates to that tolerance."]
    return "\n".join(lines) + "\n"


def _fmt(value: float, digits: int = 1, scale: float = 1.0) -> str:
    return f"{value / scale:.{digits}f}" if math.isfinite(value) else "—"


# -- LaTeX -----------------------------------------------------------------------------------------
_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                  "Ö": r"\"{O}", "ö": r"\"{o}", "ü": r"\"{u}", "é": r"\'{e}", "±": r"$\pm$", "—": "---",
                  "×": r"$\times$", "≥": r"$\geq$", "∪": r"$\cup$", "†": r"$^{\dagger}$",
                  "‡": r"$^{\ddagger}$"}


def latex_escape(text: str) -> str:
    """``text`` as LaTeX text: special characters escaped, a few non-ASCII symbols spelled out."""
    return "".join(_LATEX_SPECIAL.get(char, char) for char in str(text))


def latex_name(name: str) -> str:
    """An algorithm name as the paper sets it: ``iDiffMF_*`` → ``iDiffMF$_{*}$``,
    ``EquiVSet_ind`` → ``EquiVSet$_{\\mathrm{ind}}$``; other names are escaped."""
    match = re.fullmatch(r"([A-Za-z][A-Za-z0-9-]*)_([A-Za-z0-9]+|\*)", name)
    if match is None:
        return latex_escape(name)
    base, sub = match.groups()
    sub = sub if len(sub) == 1 else r"\mathrm{" + sub + "}"
    return f"{base}$_{{{sub}}}$"


def _tex_cell(score: _Score | None) -> str:
    if score is None or not math.isfinite(score.mean):
        return "--"
    text = _number(score.mean, score.std, r"$\pm$")
    text = {1: rf"\textbf{{{text}}}", 2: rf"\underline{{{text}}}"}.get(score.rank, text)
    return text + (r"$^{\dagger}$" if score.not_significant else "") + \
        (rf" {{\scriptsize (n={score.n})}}" if score.n != _PAPER_MODELS else "")


def render_table1_latex(frame: pd.DataFrame, published: pd.DataFrame | None = None, *,
                        caption: str = "", label: str = "tab:setbench-table1",
                        labels: Mapping[str, str] | None = None) -> str:
    """LaTeX (``table`` + ``tabular`` with booktabs rules) of the score table of :func:`render_table1`.

    Needs ``\\usepackage{booktabs}`` in the preamble; ``caption`` and dataset ``labels`` are escaped.
    """
    labels = dict(labels or {})
    published = load_published() if published is None else published
    frame = _label_estimators(frame)
    scores = _scores(frame, paired_comparisons(frame))
    algorithms = list(dict.fromkeys(frame["algorithm"]))
    text = (caption or "Test Jaccard coefficient (%)") + (
        f": mean ± std over seeds. Per dataset, our best is in bold and our second underlined; "
        f"† marks a difference from our best that is not significant (paired t-test over seeds, p ≥ {ALPHA}); "
        f"-- marks a figure the source does not publish.") + (
        f" {_INFERRED_NOTE}." if _any_inferred(published, list(scores)) else "")
    lines = ["% Generated by setbench (python -m setbench.benchmarks table). Needs \\usepackage{booktabs}.",
             r"\begin{table}[t]", r"  \centering", rf"  \caption{{{latex_escape(text)}}}",
             rf"  \label{{{latex_escape(label)}}}", rf"  \begin{{tabular}}{{ll{'c' * len(algorithms)}}}",
             r"    \toprule", "    " + " & ".join(["Dataset", "Source", *map(latex_name, algorithms)]) + r" \\"]
    for dataset, row in scores.items():
        lines.append(r"    \midrule")
        lines.append("    " + " & ".join([latex_escape(labels.get(dataset, dataset)), "setbench",
                                          *(_tex_cell(row.get(a)) for a in algorithms)]) + r" \\")
        for source, (_, tex_label) in SOURCES.items():
            paper = _published(published, dataset, source)
            if paper is not None:
                lines.append("    " + " & ".join(["", tex_label + (latex_escape("‡") if _inferred(paper) else ""), *(
                    _number(paper.at[a, "jc_mean"], paper.at[a, "jc_std"], r"$\pm$") if a in paper.index else "--"
                    for a in algorithms)]) + r" \\")
    lines += [r"    \bottomrule", r"  \end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"

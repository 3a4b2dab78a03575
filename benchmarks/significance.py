"""Paired tests across seeds: is a row's best algorithm really better than each of the others?

For one dataset, the best algorithm (highest mean test JC over its ``ok`` runs) is compared with
every other algorithm on the seeds where **both** have an ``ok`` run, by a two-sided paired
t-test on the per-seed differences (model seed ``s`` of both algorithms saw the same data). With
fewer than two common seeds there is no test (``p_value`` is NaN). With 5 seeds a Wilcoxon
signed-rank test could never reach p < 0.05, hence the t-test.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd

__all__ = ["ALPHA", "Comparison", "paired_comparisons"]

#: Significance level of the paired tests.
ALPHA = 0.05


@dataclasses.dataclass(frozen=True)
class Comparison:
    """The best algorithm of a dataset against one other.

    Attributes:
        seeds: the common seeds with an ``ok`` run of both algorithms.
        mean_difference: mean over ``seeds`` of best − other (JC points).
        p_value: two-sided paired t-test; NaN when fewer than 2 seeds are common.
    """

    dataset: str
    best: str
    other: str
    seeds: tuple[int, ...]
    mean_difference: float
    p_value: float

    @property
    def tested(self) -> bool:
        return math.isfinite(self.p_value)

    @property
    def significant(self) -> bool:
        return self.tested and self.p_value < ALPHA


def _paired_p_value(differences: np.ndarray) -> float:
    if len(differences) < 2:
        return math.nan
    if np.all(differences == differences[0]):  # zero variance: t is 0 (all equal 0) or infinite
        return 1.0 if differences[0] == 0 else 0.0
    from scipy import stats

    return float(stats.ttest_1samp(differences, 0.0).pvalue)


def paired_comparisons(frame: pd.DataFrame) -> list[Comparison]:
    """Comparisons per dataset (in order of appearance) of its best algorithm with each other one.

    Args:
        frame: one row per test-stage run, with ``dataset``, ``algorithm``, ``seed``, ``status``
            and ``test_jc``; only ``ok`` rows are used.
    """
    ok = frame[frame["status"] == "ok"]
    comparisons = []
    for dataset in dict.fromkeys(frame["dataset"]):
        rows = ok[ok["dataset"] == dataset]
        if rows.empty:
            continue
        by_algorithm = {name: group.set_index("seed")["test_jc"].astype(float)
                        for name, group in rows.groupby("algorithm", sort=False)}
        means = {name: scores.mean() for name, scores in by_algorithm.items()}
        best = max(means, key=means.get)
        for other, scores in by_algorithm.items():
            if other == best:
                continue
            seeds = sorted(set(by_algorithm[best].index) & set(scores.index))
            differences = (by_algorithm[best].loc[seeds] - scores.loc[seeds]).to_numpy(dtype=float)
            comparisons.append(Comparison(dataset, best, other, tuple(int(s) for s in seeds),
                                          float(differences.mean()) if seeds else math.nan,
                                          _paired_p_value(differences)))
    return comparisons

"""The ceiling of a synthetic task: the test JC of the rule that knows the data generator.

Gaussian and Moons are drawn from known densities, so the likelihood-ratio rule of
``setbench.datasets.likelihood_ratio_scores`` needs no training: it shows how far a learned set
function could still go on the very test sets of a run. Other datasets have no known generator and
no ceiling.

The same rule scored on the test split that the published code draws
(:mod:`setbench.datasets.published_splits`) is the ceiling of the published figures: one split of
1,000 Gaussian sets moves the rule's JC by about ± 0.3, so published and our figures compare through
their distances to their own split's ceiling, not directly.
"""

from __future__ import annotations

import functools
from typing import Any, Mapping

import numpy as np

from setbench.datasets import likelihood_ratio_scores
from setbench.datasets.published_splits import generator_coordinates, published_split
from setbench.protocol import mean_jaccard, top_k_subsets

from .registry import load_dataset

__all__ = ["GENERATED", "generator_ceiling", "published_split_ceiling"]

#: Datasets whose generator (and so a ceiling) is known.
GENERATED = ("gaussian", "moons")


def generator_ceiling(dataset: str, data_seed: int, data_options: Mapping[str, Any] | None = None) -> float | None:
    """Test JC (%) of the top-|S*| items by the generator's likelihood ratio, or ``None`` without a generator.

    Args:
        dataset: a registry name; data_seed, data_options: as the runs' ``settings`` (same test sets).
    """
    if dataset not in GENERATED:
        return None
    test = load_dataset(dataset, data_seed, data_options).test
    scores = likelihood_ratio_scores(dataset, test.set_features(np.arange(test.n_sets)))
    return mean_jaccard(top_k_subsets(scores, test.subset_sizes, test.mask), test.optimal)


@functools.lru_cache(maxsize=None)
def published_split_ceiling(dataset: str) -> float | None:
    """Test JC (%) of the same rule on the published code's test split (paper sizes), or ``None``.

    Points are mapped back to the generator's coordinates (``generator_coordinates``) before scoring. Cached: drawing the split takes seconds.
    """
    if dataset not in GENERATED:
        return None
    test = published_split(dataset, "test")
    points = generator_coordinates(dataset, test.set_features(np.arange(test.n_sets)))
    scores = likelihood_ratio_scores(dataset, points)
    return mean_jaccard(top_k_subsets(scores, test.subset_sizes, test.mask), test.optimal)

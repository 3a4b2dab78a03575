"""The ceiling of a synthetic task: the test JC of the rule that knows the data generator.

Gaussian and Moons are drawn from known densities, so the likelihood-ratio rule of
``setbench.datasets.likelihood_ratio_scores`` needs no training: it shows how far a learned set
function could still go on the very test sets of a run. Other datasets have no known generator and
no ceiling.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from setbench.datasets import likelihood_ratio_scores
from setbench.protocol import mean_jaccard, top_k_subsets

from .registry import load_dataset

__all__ = ["GENERATED", "generator_ceiling"]

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

"""Named benchmark profiles: which datasets, algorithms, seeds and settings a sweep runs.

* ``default`` — what ``make bench`` runs: Gaussian and Moons at the paper's sizes, the offline
  digits task (not in the paper), and Amazon when a data path is given; every algorithm, one seed
  and one epoch, so that the whole sweep fits in half an hour on a 2-core laptop CPU.
* ``paper`` — the paper's settings (Sec. 5.1, REPRODUCTION_NOTES): up to 100 epochs with patience 6,
  5 seeds, DiffMF with K = 5 and its unrolled graph kept as published; the real datasets of Table 1
  (12 Amazon categories, CelebA, BindingDB, PDBBind) join whenever their files are downloaded.
* ``smoke`` — seconds-long runs on tiny sets and a narrow model, for tests and CI.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

from setbench.protocol import TrainConfig

from .registry import ALGORITHMS, AMAZON_CATEGORIES, UnknownNameError

__all__ = ["Profile", "PROFILES", "get_profile"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class Profile:
    """A sweep definition; ``(algorithm × dataset × seed)`` jobs are its cross product.

    Attributes:
        datasets: always-run datasets; ``amazon`` datasets are added when a data path is given.
        optional_datasets: added when their downloaded files are present (``setbench data``); the
            command line reports the absent ones.
        dataset_options: per-dataset loader options, e.g. ``{"digits": {"sizes": {"n_train": 64}}}``.
        data_seed: seed of the dataset generators (fixed, so that all algorithms and seeds see the
            same sets); ``seeds`` are the model seeds.
        synthetic_sizes: overrides of ``SyntheticConfig`` for ``gaussian`` and ``moons``.
        algorithm_options: per-algorithm overrides of its config (nested dicts allowed).
        threads: intra-op threads per job.
    """

    name: str
    description: str
    datasets: tuple[str, ...]
    optional_datasets: tuple[str, ...] = ()
    dataset_options: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)
    algorithms: tuple[str, ...]
    seeds: tuple[int, ...]
    train: TrainConfig
    data_seed: int = 0
    synthetic_sizes: Mapping[str, int] = dataclasses.field(default_factory=dict)
    algorithm_options: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)
    threads: int = 2


_ALL = tuple(ALGORITHMS)

PROFILES: dict[str, Profile] = {
    "default": Profile(
        name="default",
        description="Gaussian + Moons at paper sizes, digits (+ Amazon if given); all algorithms; 1 seed; 1 epoch",
        datasets=("gaussian", "moons", "digits"),
        algorithms=_ALL,
        seeds=(0,),
        train=TrainConfig(max_epochs=1),
        # Same parameters as the published graph (ψ enters later steps only through hard samples,
        # whose derivative is zero) at half the backward cost; `paper` keeps the published graph.
        algorithm_options={"DiffMF": {"keep_unrolled_graph": False}},
    ),
    "paper": Profile(
        name="paper",
        description="the paper's protocol: <=100 epochs, patience 6, 5 seeds, DiffMF K=5 with its graph; "
                    "every Table 1 dataset whose files are present",
        datasets=("gaussian", "moons", "digits"),
        optional_datasets=(*(f"amazon_{c}" for c in AMAZON_CATEGORIES), "celeba", "bindingdb", "pdbbind"),
        algorithms=_ALL,
        seeds=(0, 1, 2, 3, 4),
        train=TrainConfig(),
    ),
    "smoke": Profile(
        name="smoke",
        description="tiny sets and a narrow model: a seconds-long end-to-end check",
        datasets=("gaussian", "moons", "digits"),
        dataset_options={"digits": {"sizes": {"v_size": 6, "n_train": 64, "n_valid": 32, "n_test": 32}}},
        algorithms=_ALL,
        seeds=(0,),
        train=TrainConfig(max_epochs=2, batch_size=16, eval_batch_size=32, learning_rate=1e-3),
        synthetic_sizes={"v_size": 12, "s_size": 3, "n_train": 64, "n_valid": 32, "n_test": 32},
        algorithm_options={
            name: {"model": {"embed_dim": 16, "hidden_dim": 32}, "mean_field": {"samples": 2}} for name in _ALL
        },
    ),
}


def get_profile(name: str) -> Profile:
    if name not in PROFILES:
        raise UnknownNameError(f"unknown profile {name!r}; choose from {', '.join(PROFILES)}")
    return PROFILES[name]

"""Named benchmark profiles: which datasets, algorithms, seeds and settings a sweep runs.

* ``default`` — what ``make bench`` runs: Gaussian and Moons at the paper's sizes, the offline
  digits task (not in the paper), and Amazon when a data path is given; every algorithm, one seed
  and one epoch, so that the whole sweep fits in half an hour on a 2-core laptop CPU.
* ``paper`` — the paper's protocol (Sec. 5.1, REPRODUCTION_NOTES): per dataset × algorithm, 5-fold
  cross-validation over train ∪ valid of a hyper-parameter grid, the best point by mean validation
  JC, then 5 final models (seeds 0–4) on the original split, scored on the test split; up to 100
  epochs with patience 6, DiffMF with K = 5 and its unrolled graph kept as published. The real
  datasets of Table 1 (12 Amazon categories, CelebA, BindingDB, PDBBind) join whenever their files
  are downloaded.
* ``paper-fixed`` — ``paper`` without the cross-validated selection: every cell trains its five
  seeds at the paper's default hyper-parameters (REPRODUCTION_NOTES): 60 jobs on Gaussian and Moons
  where ``paper`` runs 1,900; the run to start with on a single machine.
* ``smoke`` — seconds-long runs on tiny sets and a narrow model, for tests and CI.
* ``smoke-cv`` — the paper's protocol in miniature (2 folds, a 2 × 2 grid, 2 seeds) on ``smoke``'s
  sets and model: a minute-long end-to-end check of selection, resumption and executors.
* ``regress`` — the CI regression check (:mod:`.regression`, ``make regress``): every registered
  algorithm on Gaussian and Moons at reduced size, 3 fixed seeds, 1 thread per job (bit-reproducible
  on one machine), compared with ``results/regression_baseline.json``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

from setbench.protocol import TrainConfig

from .registry import ALGORITHMS, AMAZON_CATEGORIES, UnknownNameError
from .selection import CrossValidation

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
        selection: ``None`` runs ``(algorithm × dataset × seed)`` with the settings above on the
            datasets' own splits; a :class:`CrossValidation` first selects each cell's
            hyper-parameters by cross-validation over train ∪ valid, then runs the seeds with them.
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
    selection: CrossValidation | None = None


_ALL = tuple(ALGORITHMS)

# The paper's grid (Sec. 5.1; REPRODUCTION_NOTES): learning rate and depth of ρ for every algorithm,
# forward and backward solvers where an algorithm has them, and c for iDiffMF_c. App. I.7 (the
# paper's ranges) is not available: the c values are ours, log-spaced around the default c = 1.
_COMMON_AXES = {"train.learning_rate": (1e-2, 1e-3, 1e-4, 1e-5), "model.num_layers": (2, 3)}
_SOLVER_AXES = {"fixed_point.solver": ("fixed_point", "anderson"), "fixed_point.backward": ("normal_cg", "gmres")}
_EXTRA_AXES = {"iDiffMF_c": {**_SOLVER_AXES, "c": (0.1, 1.0, 10.0)}, "iDiffMF_2": _SOLVER_AXES,
               "iDiffMF_*": _SOLVER_AXES}
_SMOKE_TRAIN = TrainConfig(max_epochs=2, batch_size=16, eval_batch_size=32, learning_rate=1e-3)
_SMOKE_SIZES = {"v_size": 12, "s_size": 3, "n_train": 64, "n_valid": 32, "n_test": 32}
# `regress`: large enough that every algorithm learns far above chance (random selection scores
# ~10 JC at |V| = 24, |S*| = 4), small enough that its 36 jobs, JAX compilation included, take
# ~7 minutes on a 2-core CPU. Every epoch runs (patience = max_epochs); the best one is restored.
_REGRESS_TRAIN = TrainConfig(max_epochs=4, patience=4, batch_size=32, eval_batch_size=64, learning_rate=1e-3)
_REGRESS_SIZES = {"v_size": 24, "s_size": 4, "n_train": 256, "n_valid": 128, "n_test": 128}
# With hard samples T is piecewise constant and an occasional set cycles between two pieces until the
# 20-iteration cap (1.6 % of a run's test sets, once in 18 iDiffMF runs): tolerated up to 5 %, so the
# check flags a solver that stops converging, not one cycling set. Cells fail on any other status.
_REGRESS_MODEL = {name: {"model": {"embed_dim": 64, "hidden_dim": 128},
                         **({"fixed_point": {"max_unconverged_fraction": 0.05}} if name in _EXTRA_AXES else {})}
                  for name in _ALL}
_SMOKE_MODEL = {name: {"model": {"embed_dim": 16, "hidden_dim": 32}, "mean_field": {"samples": 2}} for name in _ALL}

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
        # One thread per job, so the local pool runs one job per CPU: measured 2026-12-04 from a clean
        # clone on a 2-core machine, the 24 jobs (Amazon apparel included) took 15.0 min.
        threads=1,
    ),
    "paper": Profile(
        name="paper",
        description="the paper's protocol: 5-fold CV grid selection, then 5 seeds; <=100 epochs, patience 6, "
                    "DiffMF K=5; every Table 1 dataset whose files are present",
        datasets=("gaussian", "moons"),
        optional_datasets=(*(f"amazon_{c}" for c in AMAZON_CATEGORIES), "celeba", "bindingdb", "pdbbind"),
        algorithms=_ALL,
        seeds=(0, 1, 2, 3, 4),
        train=TrainConfig(),
        selection=CrossValidation(grid={name: {**_COMMON_AXES, **_EXTRA_AXES.get(name, {})} for name in _ALL},
                                  folds=5),
    ),
    "paper-fixed": Profile(
        name="paper-fixed",
        description="the paper's settings without selection: its default hyper-parameters (lr 1e-4, 2 layers), "
                    "5 seeds; <=100 epochs, patience 6, DiffMF K=5; the same datasets as paper",
        datasets=("gaussian", "moons"),
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
        train=_SMOKE_TRAIN,
        synthetic_sizes=_SMOKE_SIZES,
        algorithm_options=_SMOKE_MODEL,
    ),
    "smoke-cv": Profile(
        name="smoke-cv",
        description="the paper's protocol in miniature: 2-fold CV of a 2 x 2 grid, then 2 seeds, on smoke's sets",
        datasets=("gaussian", "moons"),
        algorithms=_ALL,
        seeds=(0, 1),
        train=_SMOKE_TRAIN,
        synthetic_sizes=_SMOKE_SIZES,
        algorithm_options=_SMOKE_MODEL,
        selection=CrossValidation(
            grid={name: {"train.learning_rate": (1e-3, 3e-3), "model.num_layers": (1, 2)} for name in _ALL}, folds=2),
        # Tiny models: one thread each, so that the local pool runs one job per CPU (on a busy
        # 2-core machine a smoke job with 2 threads trains ~30x slower per epoch).
        threads=1,
    ),
    "regress": Profile(
        name="regress",
        description="CI regression check (make regress): Gaussian + Moons at |V| = 24, all algorithms, seeds 0-2, "
                    "4 epochs, 1 thread per job",
        datasets=("gaussian", "moons"),
        algorithms=_ALL,
        seeds=(0, 1, 2),
        train=_REGRESS_TRAIN,
        synthetic_sizes=_REGRESS_SIZES,
        algorithm_options={**_REGRESS_MODEL, "DiffMF": {**_REGRESS_MODEL["DiffMF"], "keep_unrolled_graph": False}},
        # One thread per job: single-threaded kernels sum in a fixed order, so a rerun on the same
        # machine reproduces every score to the bit (the local pool pins each job to its own CPU).
        threads=1,
    ),
}


def get_profile(name: str) -> Profile:
    if name not in PROFILES:
        raise UnknownNameError(f"unknown profile {name!r}; choose from {', '.join(PROFILES)}")
    return PROFILES[name]

"""The one place that knows every algorithm and dataset, by name.

Frameworks are imported lazily, inside the factories: listing and scheduling jobs imports neither
PyTorch nor JAX. Constructing an algorithm (which only validates and stores its config) imports its
framework; training happens in each job's own fresh process.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable, Mapping

from setbench.datasets import AMAZON_CATEGORIES, AmazonConfig, SetData, SyntheticConfig
from setbench.protocol import SetAlgorithm, TrainConfig

__all__ = ["ALGORITHMS", "DATASETS", "build_config", "make_algorithm", "load_dataset", "UnknownNameError"]


class UnknownNameError(ValueError):
    """An algorithm, dataset or profile name that is not registered; the message lists valid names."""


def build_config(cls, options: Mapping[str, Any], **fixed):
    """``cls(**fixed, **options)``, where a dict option updates the nested config it names.

    Raises:
        ValueError: naming an option that ``cls`` does not have, and the valid ones.
    """
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(options) - set(names))
    if unknown:
        raise ValueError(f"{cls.__name__} has no option {', '.join(map(repr, unknown))}; valid: {', '.join(names)}")
    default = cls(**fixed)
    kwargs = dict(fixed)
    for name, value in options.items():
        current = getattr(default, name)
        if dataclasses.is_dataclass(current) and isinstance(value, Mapping):
            keep = {f.name: getattr(current, f.name) for f in dataclasses.fields(current) if f.name not in value}
            value = build_config(type(current), value, **keep)
        kwargs[name] = value
    return cls(**kwargs)


def _diffmf(train: TrainConfig, options: Mapping[str, Any]) -> SetAlgorithm:
    from setbench.baselines import DiffMF, DiffMFConfig

    return DiffMF(build_config(DiffMFConfig, options, train=train))


def _idiffmf(normalization: str) -> Callable[[TrainConfig, Mapping[str, Any]], SetAlgorithm]:
    def make(train: TrainConfig, options: Mapping[str, Any]) -> SetAlgorithm:
        from setbench.idiffmf import IDiffMF, IDiffMFConfig

        return IDiffMF(build_config(IDiffMFConfig, options, train=train, normalization=normalization))

    return make


#: name → factory(train_config, options) → algorithm
ALGORITHMS: dict[str, Callable[[TrainConfig, Mapping[str, Any]], SetAlgorithm]] = {
    "DiffMF": _diffmf,
    "iDiffMF_c": _idiffmf("c"),
    "iDiffMF_2": _idiffmf("fro"),
    "iDiffMF_*": _idiffmf("nuclear"),
}


def make_algorithm(name: str, train: TrainConfig, options: Mapping[str, Any] | None = None) -> SetAlgorithm:
    if name not in ALGORITHMS:
        raise UnknownNameError(f"unknown algorithm {name!r}; choose from {', '.join(ALGORITHMS)}")
    return ALGORITHMS[name](train, dict(options or {}))


def _synthetic(kind: str):
    def load(seed: int, options: Mapping[str, Any]) -> SetData:
        from setbench import datasets

        return getattr(datasets, kind)(build_config(SyntheticConfig, options.get("sizes", {})), seed=seed)

    return load


def _amazon(category: str):
    def load(seed: int, options: Mapping[str, Any]) -> SetData:
        from setbench import datasets

        path = options.get("path")
        if not path:
            raise ValueError(
                f"dataset amazon_{category} needs a data path: a registry file (one registry per line of "
                f"1-based item ids) or the folder of Ou et al.'s extracted archive (make bench AMAZON=PATH)"
            )
        path = Path(path)
        config = AmazonConfig()
        if path.is_dir():
            return datasets.load_amazon_archive(path, category, config, seed=seed)
        return datasets.load_amazon_registry_file(path, config, seed=seed, name=f"amazon_{category}")

    return load


#: name → loader(data_seed, options) → SetData
DATASETS: dict[str, Callable[[int, Mapping[str, Any]], SetData]] = {
    "gaussian": _synthetic("gaussian"),
    "moons": _synthetic("moons"),
    **{f"amazon_{category}": _amazon(category) for category in AMAZON_CATEGORIES},
}


def load_dataset(name: str, seed: int, options: Mapping[str, Any] | None = None) -> SetData:
    if name not in DATASETS:
        raise UnknownNameError(f"unknown dataset {name!r}; choose from {', '.join(DATASETS)}")
    return DATASETS[name](seed, dict(options or {}))

"""The one place that knows every algorithm and dataset, by name.

Frameworks are imported lazily, inside the factories: listing and scheduling jobs imports neither
PyTorch nor JAX. Constructing an algorithm (which only validates and stores its config) imports its
framework; training happens in each job's own fresh process.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable, Mapping

from setbench.datasets import (
    AMAZON_CATEGORIES,
    SOURCES,
    AmazonConfig,
    BindingDBConfig,
    CelebAConfig,
    DataFileError,
    DigitsConfig,
    PDBBindConfig,
    SetData,
    SyntheticConfig,
)
from setbench.protocol import SetAlgorithm, TrainConfig

__all__ = ["ALGORITHMS", "AMAZON_CATEGORIES", "DATASETS", "DATASET_INFO", "DatasetInfo", "DEFAULT_DATA_ROOT", "build_config",
           "make_algorithm", "load_dataset", "table_labels", "UnknownNameError"]

#: Where downloaded data lives unless ``--data-dir`` says otherwise (git-ignored).
DEFAULT_DATA_ROOT = Path("data")


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


def _equivset(sampler: str) -> Callable[[TrainConfig, Mapping[str, Any]], SetAlgorithm]:
    def make(train: TrainConfig, options: Mapping[str, Any]) -> SetAlgorithm:
        from setbench.baselines import EquiVSet, EquiVSetConfig

        return EquiVSet(build_config(EquiVSetConfig, options, train=train, sampler=sampler))

    return make


def _idiffmf(normalization: str) -> Callable[[TrainConfig, Mapping[str, Any]], SetAlgorithm]:
    def make(train: TrainConfig, options: Mapping[str, Any]) -> SetAlgorithm:
        from setbench.idiffmf import IDiffMF, IDiffMFConfig

        return IDiffMF(build_config(IDiffMFConfig, options, train=train, normalization=normalization))

    return make


#: name → factory(train_config, options) → algorithm
ALGORITHMS: dict[str, Callable[[TrainConfig, Mapping[str, Any]], SetAlgorithm]] = {
    "DiffMF": _diffmf,
    "EquiVSet_ind": _equivset("independent"),
    "EquiVSet_copula": _equivset("copula"),
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


def _absent(dataset: str, source: str, folder: Path) -> DataFileError:
    return DataFileError(
        f"dataset {dataset} needs {SOURCES[source].title}, not found under {folder}; download it with "
        f"`python -m setbench.benchmarks data {source}` (or `make data NAME={source}`), or place the files there by hand"
    )


def _amazon(category: str):
    def load(seed: int, options: Mapping[str, Any]) -> SetData:
        from setbench import datasets

        path = Path(options.get("path") or DEFAULT_DATA_ROOT / "amazon")
        config = AmazonConfig()
        if path.is_dir():
            if not any(path.rglob(f"{category}.csv")):
                raise _absent(f"amazon_{category}", "amazon", path)
            return datasets.load_amazon_archive(path, category, config, seed=seed)
        if not path.exists() and path.suffix == "":
            raise _absent(f"amazon_{category}", "amazon", path)
        return datasets.load_amazon_registry_file(path, config, seed=seed, name=f"amazon_{category}")

    return load


def _downloaded(name: str, source: str, loader: str, config_cls, **fixed):
    """A dataset read from ``<data root>/<source>``; ``options["sizes"]`` overrides its config."""

    def load(seed: int, options: Mapping[str, Any]) -> SetData:
        from setbench import datasets

        folder = Path(options.get("root") or DEFAULT_DATA_ROOT) / source
        if not datasets.source_status(SOURCES[source], folder.parent).ready:
            raise _absent(name, source, folder)
        config = build_config(config_cls, options.get("sizes", {}), **fixed)
        return getattr(datasets, loader)(folder, config, seed=seed, name=name)

    return load


def _digits(seed: int, options: Mapping[str, Any]) -> SetData:
    from setbench import datasets

    return datasets.digits(build_config(DigitsConfig, options.get("sizes", {})), seed=seed)


#: name → loader(data_seed, options) → SetData
DATASETS: dict[str, Callable[[int, Mapping[str, Any]], SetData]] = {
    "gaussian": _synthetic("gaussian"),
    "moons": _synthetic("moons"),
    "digits": _digits,
    **{f"amazon_{category}": _amazon(category) for category in AMAZON_CATEGORIES},
    "celeba": _downloaded("celeba", "celeba", "load_celeba", CelebAConfig),
    "bindingdb": _downloaded("bindingdb", "bindingdb", "load_bindingdb", BindingDBConfig, oracle="published"),
    "bindingdb_pkd": _downloaded("bindingdb_pkd", "bindingdb", "load_bindingdb", BindingDBConfig, oracle="potency"),
    "bindingdb_diverse": _downloaded("bindingdb_diverse", "bindingdb", "load_bindingdb", BindingDBConfig,
                                     oracle="published", diversity=True),
    "pdbbind": _downloaded("pdbbind", "pdbbind", "load_pdbbind", PDBBindConfig),
    "pdbbind_diverse": _downloaded("pdbbind_diverse", "pdbbind", "load_pdbbind", PDBBindConfig, diversity=True),
}


@dataclasses.dataclass(frozen=True, kw_only=True)
class DatasetInfo:
    """What the runner and the tables need to know about a dataset besides its loader.

    Attributes:
        source: the download source it is read from (``setbench.datasets.SOURCES``), or ``None``.
        in_paper: whether it is a row of the paper's Table 1.
        note: shown under the results table when the dataset has rows.
        label: the row's name in the tables (Markdown and LaTeX), where the bare name does not say
            enough (which compound oracle; not in the paper); default: the name.
        train: the paper's per-dataset training settings (``TrainConfig`` fields), applied over the
            profile's and under command-line overrides.
    """

    source: str | None = None
    in_paper: bool = True
    note: str = ""
    label: str = ""
    train: Mapping[str, Any] = dataclasses.field(default_factory=dict)


_COMPOUND_NOTE = ("{name}: S* = {oracle}. Kd is a dissociation constant (smaller binds tighter); the published "
                  "oracle takes the largest Kd.")

DATASET_INFO: dict[str, DatasetInfo] = {
    "gaussian": DatasetInfo(),
    "moons": DatasetInfo(),
    "digits": DatasetInfo(in_paper=False, note=(
        "digits is **not in the paper**: scikit-learn's bundled 8x8 digit images (upscaled to 32x32), sets of one "
        "digit with 2-3 other digits as S*; an offline task that exercises the image encoder.")),
    **{f"amazon_{category}": DatasetInfo(source="amazon") for category in AMAZON_CATEGORIES},
    "celeba": DatasetInfo(source="celeba"),
    "bindingdb": DatasetInfo(source="bindingdb", label="bindingdb (S* = largest Kd, as published)",
                             train={"batch_size": 4, "eval_batch_size": 8}, note=(
        _COMPOUND_NOTE.format(name="bindingdb", oracle="the 15 pairs with the largest Kd, as the published code "
                                                       "(Table 1 of Özcan et al. 2025)"))),
    "bindingdb_pkd": DatasetInfo(source="bindingdb", in_paper=False,
                                 label="bindingdb_pkd (S* = smallest Kd; not in the paper)",
                                 train={"batch_size": 4, "eval_batch_size": 8},
                                 note=_COMPOUND_NOTE.format(name="bindingdb_pkd", oracle=(
                                     "the 15 pairs with the smallest Kd (largest pKd): potency-correct, not in "
                                     "the paper"))),
    "bindingdb_diverse": DatasetInfo(source="bindingdb", label="bindingdb_diverse (S* = affinity + diversity)",
                                     train={"batch_size": 4, "eval_batch_size": 8},
                                     note=_COMPOUND_NOTE.format(name="bindingdb_diverse", oracle=(
                                         "affinity-propagation exemplars of the 100 largest-Kd pairs "
                                         "(after Ou et al. 2022's affinity-plus-diversity oracle)"))),
    "pdbbind": DatasetInfo(source="pdbbind", label="pdbbind (S* = tightest by -logKd/Ki)",
                           train={"batch_size": 32, "eval_batch_size": 32}),
    "pdbbind_diverse": DatasetInfo(source="pdbbind", label="pdbbind_diverse (S* = affinity + diversity)",
                                   train={"batch_size": 32, "eval_batch_size": 32}, note=(
        "pdbbind_diverse: S* = affinity-propagation exemplars of the 10 tightest complexes (Ou et al. 2022).")),
}


def table_labels() -> dict[str, str]:
    """Row names of the results tables for the datasets whose bare name does not say enough."""
    return {name: info.label or f"{name} (not in the paper)" for name, info in DATASET_INFO.items()
            if info.label or not info.in_paper}


def load_dataset(name: str, seed: int, options: Mapping[str, Any] | None = None) -> SetData:
    if name not in DATASETS:
        raise UnknownNameError(f"unknown dataset {name!r}; choose from {', '.join(DATASETS)}")
    return DATASETS[name](seed, dict(options or {}))

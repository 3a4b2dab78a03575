"""Framework-neutral datasets: NumPy records of ground sets and optimal subsets.

Nothing here imports a deep-learning framework; every loader takes an explicit ``seed`` and returns a
:class:`SetData` of three validated :class:`SetSplit` records.
"""

from .amazon import (
    CATEGORIES as AMAZON_CATEGORIES,
    AmazonConfig,
    DataFileError,
    cooccurrence_features,
    load_archive as load_amazon_archive,
    load_registry_file as load_amazon_registry_file,
    read_archive_registries,
    read_item_vectors,
    read_registry_file,
)
from .folds import concatenate, cross_validation_fold, fold_rows
from .split import FIELD_SPEC, SetData, SetSplit, validate
from .synthetic import SyntheticConfig, gaussian, moons

__all__ = [
    "AMAZON_CATEGORIES",
    "AmazonConfig",
    "DataFileError",
    "FIELD_SPEC",
    "SetData",
    "SetSplit",
    "SyntheticConfig",
    "concatenate",
    "cooccurrence_features",
    "cross_validation_fold",
    "fold_rows",
    "gaussian",
    "load_amazon_archive",
    "load_amazon_registry_file",
    "moons",
    "read_archive_registries",
    "read_item_vectors",
    "read_registry_file",
    "validate",
]

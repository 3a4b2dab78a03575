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
from .bindingdb import BindingDBConfig, load_bindingdb, read_tdc_table
from .celeba import CelebAConfig, load_celeba, read_attributes
from .digits import DigitsConfig, digits
from .download import SOURCES, DownloadError, Source, fetch, source_status
from .pdbbind import PDBBindConfig, load_pdbbind
from .folds import concatenate, cross_validation_fold, fold_rows
from .split import FIELD_SPEC, ITEM_KINDS, SetData, SetSplit, validate
from .synthetic import SyntheticConfig, component_log_density, gaussian, likelihood_ratio_scores, moons

__all__ = [
    "AMAZON_CATEGORIES",
    "AmazonConfig",
    "BindingDBConfig",
    "CelebAConfig",
    "DataFileError",
    "DigitsConfig",
    "DownloadError",
    "FIELD_SPEC",
    "ITEM_KINDS",
    "PDBBindConfig",
    "SOURCES",
    "SetData",
    "SetSplit",
    "Source",
    "SyntheticConfig",
    "component_log_density",
    "concatenate",
    "cooccurrence_features",
    "digits",
    "fetch",
    "cross_validation_fold",
    "fold_rows",
    "gaussian",
    "likelihood_ratio_scores",
    "load_amazon_archive",
    "load_amazon_registry_file",
    "load_bindingdb",
    "load_celeba",
    "load_pdbbind",
    "moons",
    "read_attributes",
    "read_tdc_table",
    "read_archive_registries",
    "read_item_vectors",
    "read_registry_file",
    "source_status",
    "validate",
]

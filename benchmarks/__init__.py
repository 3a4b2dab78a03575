"""The benchmark runner: the only package that knows every algorithm and dataset."""

from .profiles import PROFILES, Profile, get_profile
from .registry import ALGORITHMS, DATASETS, UnknownNameError, load_dataset, make_algorithm
from .runner import Job, execute, expand, run_jobs, validate_data
from .store import RecordStore, atomic_write_text, write_results_csv
from .tables import load_published, render_table1, summarize

__all__ = [
    "ALGORITHMS",
    "DATASETS",
    "Job",
    "PROFILES",
    "Profile",
    "RecordStore",
    "UnknownNameError",
    "atomic_write_text",
    "execute",
    "expand",
    "get_profile",
    "load_dataset",
    "load_published",
    "make_algorithm",
    "render_table1",
    "run_jobs",
    "summarize",
    "validate_data",
    "write_results_csv",
]

"""The benchmark runner: the only package that knows every algorithm and dataset."""

from .executors import EXECUTORS, LocalExecutor, SubmititExecutor
from .plots import FIGURES, jaccard_figure, save_figure
from .profiles import PROFILES, Profile, get_profile
from .regression import BaselineError, run_regression
from .registry import ALGORITHMS, DATASETS, UnknownNameError, load_dataset, make_algorithm
from .runner import Job, execute, expand, run_job, run_jobs, validate_data
from .selection import Candidate, CrossValidation, Selection, select
from .significance import Comparison, paired_comparisons
from .status import render_status
from .store import FINISHED, RecordStore, atomic_write_text, write_results_csv
from .sweep import Outcome, Sweep, collect, plan, run_sweep
from .tables import latex_escape, latex_name, load_published, render_table1, render_table1_latex, summarize

__all__ = [
    "ALGORITHMS",
    "BaselineError",
    "Candidate",
    "Comparison",
    "CrossValidation",
    "DATASETS",
    "EXECUTORS",
    "FIGURES",
    "FINISHED",
    "Job",
    "LocalExecutor",
    "Outcome",
    "PROFILES",
    "Profile",
    "RecordStore",
    "Selection",
    "SubmititExecutor",
    "Sweep",
    "UnknownNameError",
    "atomic_write_text",
    "collect",
    "execute",
    "expand",
    "get_profile",
    "jaccard_figure",
    "latex_escape",
    "latex_name",
    "load_dataset",
    "load_published",
    "make_algorithm",
    "paired_comparisons",
    "plan",
    "render_status",
    "render_table1",
    "render_table1_latex",
    "run_job",
    "run_jobs",
    "run_regression",
    "run_sweep",
    "save_figure",
    "select",
    "summarize",
    "validate_data",
    "write_results_csv",
]

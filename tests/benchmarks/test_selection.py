"""Hyper-parameter grids, the selection rule, and the staged plan of a cross-validated sweep."""

import math

import pytest

from setbench.benchmarks import ALGORITHMS, Candidate, RecordStore, get_profile, plan, select
from setbench.benchmarks.runner import validate_configs
from setbench.benchmarks.selection import CrossValidation, apply_point, grid_points, point_label


def test_grid_points_are_the_cross_product_in_declared_order():
    points = grid_points({"train.learning_rate": (1e-2, 1e-3), "model.num_layers": (2, 3)})
    assert points == [{"train.learning_rate": 1e-2, "model.num_layers": 2},
                      {"train.learning_rate": 1e-2, "model.num_layers": 3},
                      {"train.learning_rate": 1e-3, "model.num_layers": 2},
                      {"train.learning_rate": 1e-3, "model.num_layers": 3}]
    assert grid_points({}) == [{}]


def test_apply_point_routes_train_fields_and_nests_the_rest_without_mutating():
    train, options = {"learning_rate": 1e-4, "max_epochs": 2}, {"model": {"embed_dim": 16}}
    new_train, new_options = apply_point(train, options, {"train.learning_rate": 1e-2, "model.num_layers": 3,
                                                          "fixed_point.solver": "anderson", "c": 0.1})
    assert new_train == {"learning_rate": 1e-2, "max_epochs": 2}
    assert new_options == {"model": {"embed_dim": 16, "num_layers": 3}, "fixed_point": {"solver": "anderson"},
                           "c": 0.1}
    assert train == {"learning_rate": 1e-4, "max_epochs": 2} and options == {"model": {"embed_dim": 16}}


def test_point_label():
    assert point_label({"train.learning_rate": 0.001, "model.num_layers": 3}) == "learning_rate=0.001, num_layers=3"
    assert point_label({"a.x": 1, "b.x": 2}) == "a.x=1, b.x=2"


def _candidate(point, statuses, scores):
    return Candidate(point, tuple(statuses), tuple(scores))


def test_select_takes_the_best_mean_and_breaks_ties_by_grid_order():
    candidates = [_candidate({"p": 1}, ["ok", "ok"], [80.0, 90.0]),
                  _candidate({"p": 2}, ["ok", "ok"], [86.0, 86.0]),   # same mean as p=3, earlier: wins
                  _candidate({"p": 3}, ["ok", "ok"], [90.0, 82.0])]
    selection = select("gaussian", "DiffMF", candidates)
    assert selection.best.point == {"p": 2} and selection.best.mean == 86.0
    assert selection.best.std == 0.0


def test_a_point_that_diverged_in_one_fold_is_not_eligible():
    candidates = [_candidate({"p": 1}, ["ok", "nonfinite"], [99.0, math.nan]),
                  _candidate({"p": 2}, ["ok", "ok"], [70.0, 72.0])]
    assert select("moons", "DiffMF", candidates).best.point == {"p": 2}
    none = select("moons", "DiffMF", candidates[:1])
    assert none.best is None and "diverged" in none.reason


@pytest.mark.parametrize("status", ["failed", "missing"])
def test_no_selection_while_any_fold_is_unfinished(status):
    candidates = [_candidate({"p": 1}, ["ok", "ok"], [80.0, 81.0]),
                  _candidate({"p": 2}, ["ok", status], [90.0, math.nan])]
    selection = select("gaussian", "DiffMF", candidates)
    assert selection.best is None and "1 of 4 cross-validation jobs unfinished" in selection.reason


@pytest.mark.parametrize("kwargs, message", [
    ({"grid": {}, "folds": 1}, "CrossValidation.folds must be an integer >= 2, got 1"),
    ({"grid": {"DiffMF": {"train.learning_rate": ()}}}, "must be a non-empty tuple"),
    ({"grid": {"DiffMF": {"train.learning_rate": [1e-3]}}}, "must be a non-empty tuple"),
    ({"grid": {"DiffMF": {".x": (1,)}}}, "bad option path"),
])
def test_cross_validation_config_is_validated(kwargs, message):
    with pytest.raises(ValueError, match=message):
        CrossValidation(**kwargs)


def test_paper_grid_has_only_the_options_that_apply():
    grid = get_profile("paper").selection.grid
    lr_and_depth = {"train.learning_rate": (1e-2, 1e-3, 1e-4, 1e-5), "model.num_layers": (2, 3)}
    solvers = {"fixed_point.solver": ("fixed_point", "anderson"), "fixed_point.backward": ("normal_cg", "gmres")}
    assert grid["DiffMF"] == lr_and_depth
    assert grid["iDiffMF_2"] == grid["iDiffMF_*"] == {**lr_and_depth, **solvers}
    assert grid["iDiffMF_c"] == {**lr_and_depth, **solvers, "c": (0.1, 1.0, 10.0)}
    assert set(grid) == set(ALGORITHMS)
    assert get_profile("paper").selection.folds == 5 and get_profile("paper").seeds == (0, 1, 2, 3, 4)


def test_every_paper_grid_point_is_a_valid_config():
    sweep = plan(get_profile("paper"), datasets=["gaussian"])
    validate_configs(sweep.cv_jobs())  # raises, naming the field, on any bad option path or value


def test_default_profile_stays_a_single_split_run():
    sweep = plan(get_profile("default"))
    assert not sweep.cross_validated and sweep.cv_jobs() == []
    jobs = sweep.test_jobs()
    assert all(job.cv is None and job.hyper == {} for job in jobs)
    profile = get_profile("default")
    assert len(jobs) == len(profile.algorithms) * len(profile.datasets)


def test_cross_validated_plan(tmp_path):
    profile = get_profile("smoke-cv")
    sweep = plan(profile, algorithms=["DiffMF", "iDiffMF_2"], datasets=["gaussian"])
    cv_jobs = sweep.cv_jobs()
    assert len(cv_jobs) == 2 * 4 * 2  # algorithms × grid points × folds
    assert len({job.key for job in cv_jobs}) == len(cv_jobs)
    assert {job.seed for job in cv_jobs} == {profile.selection.model_seed}
    assert {job.cv["fold"] for job in cv_jobs} == {0, 1} and all(job.cv["folds"] == 2 for job in cv_jobs)
    assert [job.cv["fold"] for job in cv_jobs[:8]] == [0] * 8  # fold-major
    job = next(j for j in cv_jobs if j.hyper == {"train.learning_rate": 3e-3, "model.num_layers": 1})
    assert job.train["learning_rate"] == 3e-3 and job.algorithm_options["model"]["num_layers"] == 1
    assert job.algorithm_options["model"]["embed_dim"] == 16  # the profile's options are kept

    store = RecordStore(tmp_path)
    assert sweep.test_jobs(sweep.select(store)) == []  # nothing selected before cross-validation ran
    for job in cv_jobs:  # fabricated records: the deepest, fastest point wins
        score = 50 + 10 * job.algorithm_options["model"]["num_layers"] + 1000 * job.train["learning_rate"]
        store.put({"key": job.key, "status": "ok", "valid_jc": score + job.cv["fold"]})
    selections = sweep.select(store)
    assert [s.best.point for s in selections] == [{"train.learning_rate": 3e-3, "model.num_layers": 2}] * 2
    test_jobs = sweep.test_jobs(selections)
    assert [(j.algorithm, j.seed) for j in test_jobs] == [("DiffMF", 0), ("iDiffMF_2", 0), ("DiffMF", 1),
                                                           ("iDiffMF_2", 1)]
    assert all(j.cv is None and j.train["learning_rate"] == 3e-3 for j in test_jobs)
    assert not {j.key for j in test_jobs} & {j.key for j in cv_jobs}


def test_grid_overrides_replace_axes_and_are_checked():
    sweep = plan(get_profile("smoke-cv"), algorithms=["DiffMF"], datasets=["moons"],
                 grid_overrides={"DiffMF": {"train.learning_rate": (1e-2,)}})
    assert [job.hyper for job in sweep.cv_jobs()[:2]] == [{"train.learning_rate": 1e-2, "model.num_layers": 1},
                                                          {"train.learning_rate": 1e-2, "model.num_layers": 2}]
    with pytest.raises(ValueError, match="selects no hyper-parameters"):
        plan(get_profile("smoke"), grid_overrides={"DiffMF": {"train.learning_rate": (1e-2,)}})


def test_the_last_fold_job_fits_on_its_own_fold_not_the_original_split(monkeypatch):
    """Upstream falls back to the original split for the last fold; a job of ours must not."""
    import numpy as np

    from setbench.benchmarks import registry, runner
    from setbench.datasets import cross_validation_fold

    sweep = plan(get_profile("smoke-cv"), algorithms=["DiffMF"], datasets=["gaussian"])
    job = next(j for j in sweep.cv_jobs() if j.cv["fold"] == j.cv["folds"] - 1)
    seen = {}
    real = registry.make_algorithm

    def recording(*args, **kwargs):
        algorithm = real(*args, **kwargs)
        fit = algorithm.fit

        def recording_fit(train, valid, **options):
            seen["train"], seen["valid"] = train, valid
            return fit(train, valid, **options)

        algorithm.fit = recording_fit
        return algorithm

    monkeypatch.setattr(registry, "make_algorithm", recording)
    record = runner.execute(job, progress=False)
    assert record["status"] == "ok" and math.isnan(record["test_jc"])  # a CV fit never scores the test split
    data = registry.load_dataset(job.dataset, job.data_seed, job.data_options)
    train, valid = cross_validation_fold(data, job.cv["folds"], job.cv["fold"], seed=job.cv["seed"])
    for fitted, expected in ((seen["train"], train), (seen["valid"], valid)):
        assert np.array_equal(fitted.set_features(), expected.set_features())
        assert np.array_equal(fitted.optimal, expected.optimal)
    assert seen["valid"].n_sets != data.valid.n_sets or \
        not np.array_equal(seen["valid"].set_features(), data.valid.set_features())

import math

import pandas as pd

from setbench.benchmarks import Job, RecordStore, expand, get_profile, render_table1, render_table1_latex


def test_record_store_round_trip_leaves_no_temporary_files(tmp_path):
    store = RecordStore(tmp_path)
    store.put({"key": "abc", "test_jc": math.nan, "status": "nonfinite"})
    assert store.get("abc") == {"key": "abc", "test_jc": None, "status": "nonfinite"}
    assert store.get("missing") is None
    assert [p.name for p in tmp_path.iterdir()] == ["abc.json"]


def test_job_keys_are_stable_and_change_with_any_setting():
    jobs = expand(get_profile("smoke"))
    assert len(jobs) == len(get_profile("smoke").algorithms) * 3  # gaussian, moons, digits
    again = expand(get_profile("smoke"))
    assert [j.key for j in jobs] == [j.key for j in again]
    assert len({j.key for j in jobs}) == len(jobs)
    other_seed = expand(get_profile("smoke"), seeds=[1])
    assert {j.key for j in other_seed}.isdisjoint({j.key for j in jobs})
    longer = expand(get_profile("smoke"), train_overrides={"max_epochs": 3})
    assert {j.key for j in longer}.isdisjoint({j.key for j in jobs})
    assert isinstance(jobs[0], Job)


def test_table_excludes_non_ok_runs_and_says_so():
    frame = pd.DataFrame([
        {"dataset": "gaussian", "algorithm": "DiffMF", "seed": 0, "status": "ok", "test_jc": 90.0},
        {"dataset": "gaussian", "algorithm": "DiffMF", "seed": 1, "status": "ok", "test_jc": 92.0},
        {"dataset": "gaussian", "algorithm": "DiffMF", "seed": 2, "status": "nonfinite", "test_jc": math.nan},
        {"dataset": "gaussian", "algorithm": "iDiffMF_2", "seed": 0, "status": "failed", "test_jc": math.nan},
    ])
    table = render_table1(frame)
    assert "| gaussian | setbench | **91.00 ± 1.41** (n=2) | — |" in table
    assert "nonfinite ×1" in table and "failed ×1" in table
    assert "90.96 ± 0.05" in table  # the paper's DiffMF figure beside ours


def test_algorithm_overrides_reach_the_jobs_and_their_keys():
    base = expand(get_profile("smoke"), algorithms=["iDiffMF_2"], datasets=["moons"])
    changed = expand(get_profile("smoke"), algorithms=["iDiffMF_2"], datasets=["moons"],
                     algorithm_overrides={"iDiffMF_2": {"fixed_point": {"solver": "anderson"}}})
    assert changed[0].algorithm_options["fixed_point"] == {"solver": "anderson"}
    assert changed[0].algorithm_options["model"] == base[0].algorithm_options["model"]  # merged, not replaced
    assert changed[0].key != base[0].key


def test_jobs_are_ordered_seed_major():
    profile = get_profile("paper")
    jobs = expand(profile)
    per_seed = len(profile.algorithms) * len(profile.datasets)
    assert [j.seed for j in jobs[:per_seed]] == [0] * per_seed and jobs[per_seed].seed == 1


def test_estimators_other_than_hard_get_their_own_column_and_no_published_figures():
    frame = pd.DataFrame([
        {"dataset": "gaussian", "algorithm": "DiffMF", "estimator": "hard", "seed": 0, "status": "ok", "test_jc": 90.0},
        {"dataset": "gaussian", "algorithm": "DiffMF", "estimator": "relaxed", "seed": 0, "status": "ok", "test_jc": 80.0},
        {"dataset": "gaussian", "algorithm": "iDiffMF_2", "estimator": "score", "seed": 0, "status": "not_converged",
         "test_jc": 70.0, "message": "3 sets hit max_iter"},
    ])
    table = render_table1(frame)
    assert "| dataset | source | DiffMF | DiffMF [relaxed] | iDiffMF_2 [score] |" in table
    assert "| gaussian | setbench | **90.00** (n=1) | <ins>80.00</ins> (n=1) | — |" in table  # not_converged: not averaged
    assert "|  | Özcan et al. 2025 (Table 1) | 90.96 ± 0.05 | — | — |" in table
    assert "| gaussian | iDiffMF_2 [score] | 0 | not_converged | 3 sets hit max_iter |" in table
    assert "DiffMF [relaxed]" in render_table1_latex(frame)

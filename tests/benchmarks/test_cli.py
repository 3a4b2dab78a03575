"""Bad input fails before any job runs, with one line naming the problem, exit 2 and no results."""

import json

import pytest

from setbench.benchmarks.cli import main


def _assert_no_results(folder):
    assert not (folder / "runs").exists() and not (folder / "results.csv").exists()


@pytest.mark.parametrize("argv, message", [
    (["--algorithms", "DiffNF"], "invalid choice: 'DiffNF'"),
    (["--datasets", "moonz"], "invalid choice: 'moonz'"),
    (["--profile", "fast"], "invalid choice: 'fast'"),
])
def test_unknown_names_list_the_valid_ones(tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "--results", str(tmp_path), *argv])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
    _assert_no_results(tmp_path)


@pytest.mark.parametrize("flag, field", [("--n-train", "n_train"), ("--v-size", "v_size"), ("--s-size", "s_size")])
def test_non_positive_sizes(tmp_path, capsys, flag, field):
    assert main(["run", "--profile", "smoke", "--results", str(tmp_path), flag, "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"setbench: error: SyntheticConfig.{field} must be a positive integer, got 0"]
    _assert_no_results(tmp_path)


def test_non_positive_epochs(tmp_path, capsys):
    assert main(["run", "--profile", "smoke", "--results", str(tmp_path), "--max-epochs", "0"]) == 2
    assert "TrainConfig.max_epochs must be a positive integer, got 0" in capsys.readouterr().err
    _assert_no_results(tmp_path)


def test_missing_amazon_file(tmp_path, capsys):
    missing = tmp_path / "absent_regs.csv"
    assert main(["run", "--profile", "smoke", "--results", str(tmp_path / "out"), "--amazon", str(missing)]) == 2
    assert f"{missing}: file not found" in capsys.readouterr().err
    _assert_no_results(tmp_path / "out")


def test_malformed_amazon_file(tmp_path, capsys):
    bad = tmp_path / "bad_regs.csv"
    bad.write_text("1 2 3\n4 five 6\n")
    assert main(["run", "--profile", "smoke", "--results", str(tmp_path / "out"), "--amazon", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["setbench: error: bad_regs.csv:2: item id 'five' is not an integer"]
    _assert_no_results(tmp_path / "out")


@pytest.mark.slow
def test_sweep_writes_records_and_tables_and_resumes(tmp_path):
    argv = ["run", "--profile", "smoke", "--results", str(tmp_path), "--algorithms", "DiffMF",
            "--datasets", "gaussian", "--no-progress"]
    assert main(argv) == 0
    records = list((tmp_path / "runs").glob("*.json"))
    assert len(records) == 1
    record = json.loads(records[0].read_text())
    assert record["status"] == "ok" and 0 <= record["test_jc"] <= 100
    assert record["memory_measure"] in ("process_peak_rss", "nvml_device_used") and record["memory_peak_bytes"] > 0
    for field in ("epochs", "epoch_seconds", "compile_seconds", "fit_seconds", "fp_iterations_mean",
                  "versions", "config", "code_version", "valid_jc"):
        assert field in record
    assert (tmp_path / "results.csv").exists()
    table = (tmp_path / "table1-smoke.md").read_text()
    assert "| gaussian | setbench |" in table and "Özcan et al. 2025" in table
    ceiling = table.split("## Ceiling of the synthetic tasks")[1].split("## Paired tests")[0]
    assert "| gaussian | " in ceiling  # the generator's rule, scored on the run's own test sets

    finished = record["finished_at"]
    assert main(argv) == 0  # resumed: the finished job is skipped
    assert json.loads(records[0].read_text())["finished_at"] == finished

    # A table of a partly finished sweep names the jobs it lacks.
    assert main(["table", "--profile", "smoke", "--results", str(tmp_path), "--algorithms", "DiffMF", "iDiffMF_2",
                 "--datasets", "gaussian"]) == 0
    table = (tmp_path / "table1-smoke.md").read_text()
    assert "Not finished, so not in the table (1 of 2 test jobs): iDiffMF_2 / gaussian / seed 0." in table


@pytest.mark.parametrize("setting, message", [
    ("DiffMF.iterationz=3", "DiffMFConfig has no option 'iterationz'; valid: model, mean_field, iterations"),
    ("DiffMF.iterations=0", "DiffMFConfig.iterations must be a positive integer, got 0"),
    ("iDiffMF_2.fixed_point.solver=newton", "FixedPointConfig.solver must be one of"),
    ("DiffNF.iterations=3", "unknown algorithm 'DiffNF'; choose from DiffMF"),
    ("DiffMF=3", "expected ALGORITHM.FIELD=VALUE"),
])
def test_bad_algorithm_settings(tmp_path, capsys, setting, message):
    assert main(["run", "--profile", "smoke", "--results", str(tmp_path), "--set", setting]) == 2
    assert message in capsys.readouterr().err
    _assert_no_results(tmp_path)


SWEEP = ["--profile", "smoke-cv", "--algorithms", "DiffMF", "iDiffMF_2", "--datasets", "gaussian"]


def _fabricate(results, stage):
    """Store made-up records for the sweep's jobs of one stage, to exercise the read-only verbs."""
    from setbench.benchmarks import RecordStore, get_profile, plan

    sweep = plan(get_profile("smoke-cv"), algorithms=["DiffMF", "iDiffMF_2"], datasets=["gaussian"])
    store = RecordStore(results / "runs")
    jobs = sweep.cv_jobs() if stage == "cv" else sweep.test_jobs(sweep.select(store))
    for job in jobs:
        score = 60 + 10 * job.algorithm_options["model"]["num_layers"] + job.seed + (job.algorithm == "DiffMF")
        store.put({"key": job.key, "profile": job.profile, "algorithm": job.algorithm, "dataset": job.dataset,
                   "seed": job.seed, "stage": job.stage, "hyper": dict(job.hyper), "status": "ok",
                   "valid_jc": float(score), "test_jc": float(score) if stage == "test" else None, "message": ""})
    return jobs


def test_read_only_verbs_follow_the_sweep_through_its_stages(tmp_path, capsys):
    argv = [*SWEEP, "--results", str(tmp_path)]
    assert main(["table", *argv]) == 2
    assert "no finished test-model records of profile 'smoke-cv'" in capsys.readouterr().err

    assert main(["status", *argv]) == 0
    out = capsys.readouterr().out
    assert "| cross-validation | 16 | 0 | 0 | 0 | 0 | 16 |" in out and "| test models | 0 |" in out

    _fabricate(tmp_path, "cv")
    assert main(["status", *argv]) == 0
    out = capsys.readouterr().out
    assert "| cross-validation | 16 | 16 | 0 | 0 | 0 | 0 |" in out and "| test models | 4 | 0 | 0 | 0 | 0 | 4 |" in out
    assert "| gaussian | DiffMF | 8 of 8 | learning_rate=0.001, num_layers=2 | 0 of 2 | — |" in out

    _fabricate(tmp_path, "test")
    assert main(["status", *argv]) == 0
    assert "| gaussian | DiffMF | 8 of 8 | learning_rate=0.001, num_layers=2 | 2 of 2 | 81.50 |" in capsys.readouterr().out
    assert main(["table", *argv]) == 0
    table = (tmp_path / "table1-smoke-cv.md").read_text()
    assert "| gaussian | setbench | **81.50 ± 0.71** (n=2) | <ins>80.50 ± 0.71</ins> (n=2) |" in table
    assert "| gaussian | iDiffMF_2 | learning_rate=0.001, num_layers=2 | 80.00 ± 0.00 | 4 of 4 |" in table
    assert r"\textbf{81.50 $\pm$ 0.71}" in (tmp_path / "table1-smoke-cv.tex").read_text()
    assert (tmp_path / "cv-smoke-cv.csv").read_text().count("\n") == 1 + 16

    assert main(["plot", *argv, "--figure", "jaccard"]) == 0
    png = tmp_path / "figures" / "jaccard-smoke-cv.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and (tmp_path / "figures" / "jaccard-smoke-cv.pdf").exists()


@pytest.mark.parametrize("argv, message", [
    (["--profile", "smoke", "--grid", "DiffMF.train.learning_rate=1e-3"], "selects no hyper-parameters"),
    (["--profile", "smoke-cv", "--grid", "DiffMF.train.learning_rate="], "give at least one value"),
    (["--profile", "smoke-cv", "--grid", "DiffNF.c=1"], "unknown algorithm 'DiffNF'"),
    (["--profile", "smoke-cv", "--grid", "DiffMF.model.num_layerz=2"], "SetFunctionConfig has no option 'num_layerz'"),
    (["--profile", "smoke-cv", "--grid", "DiffMF.train.learning_rate=-1"], "TrainConfig.learning_rate must be"),
    (["--profile", "smoke", "--workers", "0"], "LocalExecutor.workers must be a positive integer, got 0"),
    (["--profile", "smoke", "--threads", "0"], "--threads must be a positive integer, got 0"),
])
def test_bad_grid_and_executor_arguments(tmp_path, capsys, argv, message):
    assert main(["run", "--results", str(tmp_path), *argv]) == 2
    assert message in capsys.readouterr().err
    _assert_no_results(tmp_path)


def test_a_differentiable_estimator_with_a_detached_diffmf_graph_fails_before_any_job(tmp_path, capsys):
    """The default profile detaches DiffMF's unrolled graph (exact for hard samples only)."""
    argv = ["run", "--results", str(tmp_path), "--algorithms", "DiffMF", "--set", "DiffMF.mean_field.estimator=relaxed"]
    assert main(argv) == 2
    assert "set keep_unrolled_graph=True" in capsys.readouterr().err
    _assert_no_results(tmp_path)


def test_unknown_estimator_names_the_valid_ones(tmp_path, capsys):
    assert main(["run", "--profile", "smoke", "--results", str(tmp_path), "--set",
                 "iDiffMF_2.mean_field.estimator=gumbel"]) == 2
    assert "MeanFieldConfig.estimator must be one of hard, score, relaxed, exact, got 'gumbel'" in capsys.readouterr().err
    _assert_no_results(tmp_path)


def test_verify_is_a_command(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["verify", "--help"])
    assert exit_info.value.code == 0
    assert "verification.md" in capsys.readouterr().out


@pytest.mark.slow
def test_table_any_code_uses_records_of_other_code_versions_and_names_them(tmp_path):
    argv = ["--profile", "smoke", "--results", str(tmp_path), "--algorithms", "DiffMF", "--datasets", "gaussian"]
    assert main(["run", *argv, "--no-progress"]) == 0
    (path,) = (tmp_path / "runs").glob("*.json")
    record = json.loads(path.read_text())
    # The same run as if an earlier code version had written it: another key, another version.
    record.update(key="0123456789abcdef", code_version="0ldc0de0ld00")
    (tmp_path / "runs" / "0123456789abcdef.json").write_text(json.dumps(record))
    path.unlink()
    assert main(["table", *argv]) == 2  # by default a table uses this code's records only
    assert main(["table", *argv, "--any-code"]) == 0
    table = (tmp_path / "table1-smoke.md").read_text()
    assert f"| gaussian | setbench | **{record['test_jc']:.2f}** (n=1) |" in table
    assert "Runs made by code versions other than this one" in table and "0ldc0de0ld00 (1 runs)" in table
    # A different setting (another seed) is never taken for it.
    assert main(["table", *argv, "--any-code", "--seeds", "1"]) == 2


def test_table_notes_the_command_line_settings_that_depart_from_the_profile():
    from setbench.benchmarks.cli import _overrides_note, _parser

    args = _parser().parse_args(["table", "--profile", "paper-fixed", "--threads", "1",
                                 "--set", "DiffMF.keep_unrolled_graph=false", "--n-test", "50"])
    (note,) = _overrides_note(args)
    assert "`--set DiffMF.keep_unrolled_graph=false`" in note
    assert "`--threads 1`" in note and "`--n-test 50`" in note and "max-epochs" not in note
    assert _overrides_note(_parser().parse_args(["table", "--profile", "paper-fixed"])) == ()


def test_default_profile_says_when_amazon_is_not_run():
    from setbench.benchmarks.cli import _amazon_note, _parser

    (note,) = _amazon_note(_parser().parse_args(["run"]))
    assert note.startswith("amazon_apparel not run") and "AMAZON=" in note
    assert _amazon_note(_parser().parse_args(["run", "--amazon", "regs.csv"])) == ()
    assert _amazon_note(_parser().parse_args(["run", "--datasets", "moons"])) == ()
    assert _amazon_note(_parser().parse_args(["run", "--profile", "smoke"])) == ()

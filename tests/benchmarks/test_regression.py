"""The Jaccard regression check: comparison logic on synthetic scores, baseline files, and real runs."""

import dataclasses
import json
import math

import numpy as np
import pytest

from setbench.benchmarks import ALGORITHMS, RecordStore, get_profile
from setbench.benchmarks.cli import main
from setbench.benchmarks.regression import (
    BaselineError,
    CellScores,
    chance_jaccard,
    check_config,
    compare,
    load_baseline,
    make_baseline,
    render_report,
    resolved_config,
    run_regression,
    scores_of,
    tolerance,
)
from setbench.benchmarks.sweep import plan, run_sweep
from setbench.protocol import mean_jaccard, top_k_subsets

PROVENANCE = {"git_commit": "0123456789abcdef", "git_dirty": False, "code_version": "abc", "date": "2026-01-01",
              "machine": {"cpu_model": "test CPU", "cpus": 2}, "versions": {"python": "3.11"}, "wall_seconds": 1.0,
              "load_average_start": [0.5, 0, 0], "load_average_end": [0.6, 0, 0]}


def _cell(algorithm, scores, dataset="moons", statuses=None, messages=()):
    return CellScores(dataset=dataset, algorithm=algorithm, seeds=tuple(range(len(scores))), test_jc=tuple(scores),
                      statuses=tuple(statuses or ["ok"] * len(scores)), messages=tuple(messages))


def _baseline(*cells):
    config = {"profile": "regress", "seeds": [0, 1, 2], "cells": {}, "hash": "h"}
    return make_baseline(cells, config, {"moons": 10.17}, PROVENANCE)


def test_tolerance_is_one_point_or_three_seed_stds():
    assert tolerance(0.0) == 1.0
    assert tolerance(0.2) == 1.0
    assert tolerance(2.0) == 6.0


def test_a_drop_beyond_tolerance_fails_naming_algorithm_dataset_old_new_and_tolerance():
    baseline = _baseline(_cell("iDiffMF_2", [70.0, 72.0, 74.0]))  # mean 72, std 2: tolerance 6
    [finding] = compare(baseline, [_cell("iDiffMF_2", [64.0, 65.0, 66.5])])  # mean 65.17: drop 6.83
    assert finding.failed and finding.kind == "regressed"
    assert finding.message == ("iDiffMF_2 / moons: test JC dropped from 72.00 to 65.17 (-6.83), more than the "
                               "tolerance 6.00 = max(1, 3 x seed std 2.00)")


def test_a_drop_within_tolerance_passes_and_an_improvement_is_reported_not_failed():
    baseline = _baseline(_cell("iDiffMF_2", [70.0, 72.0, 74.0]), _cell("DiffMF", [95.0, 95.1, 95.2]))
    within, improved = compare(baseline, [_cell("iDiffMF_2", [66.5, 66.0, 66.5]), _cell("DiffMF", [97.0, 97.0, 97.0])])
    assert within.kind == "pass" and not within.failed and within.tol == 6.0
    assert improved.kind == "improved" and not improved.failed  # +1.9 > tolerance 1.0 (std 0.1)
    assert "improved from 95.10 to 97.00" in improved.message


def test_the_minimum_tolerance_applies_when_seeds_agree():
    baseline = _baseline(_cell("DiffMF", [95.0, 95.0, 95.0]))
    assert compare(baseline, [_cell("DiffMF", [94.0, 94.1, 94.0])])[0].kind == "pass"  # drop 0.97 <= 1
    [finding] = compare(baseline, [_cell("DiffMF", [93.9, 94.0, 94.0])])  # drop 1.03
    assert finding.kind == "regressed" and "tolerance 1.00 = max(1, 3 x seed std 0.00)" in finding.message


def test_identical_scores_are_flagged_bit_for_bit():
    baseline = _baseline(_cell("DiffMF", [95.0, 95.5, 96.0]))
    assert compare(baseline, [_cell("DiffMF", [95.0, 95.5, 96.0])])[0].identical
    assert not compare(baseline, [_cell("DiffMF", [95.0, 95.5, 96.0 + 1e-12])])[0].identical


def test_an_algorithm_missing_from_the_baseline_fails_and_a_removed_one_is_reported():
    baseline = _baseline(_cell("DiffMF", [95.0, 95.5, 96.0]), _cell("Retired", [50.0, 51.0, 52.0]))
    findings = {f.algorithm: f for f in compare(baseline, [_cell("DiffMF", [95.0, 95.5, 96.0]),
                                                           _cell("NewAlgo", [80.0, 81.0, 82.0])])}
    assert findings["NewAlgo"].failed and findings["NewAlgo"].kind == "no_baseline"
    assert findings["NewAlgo"].message == ("NewAlgo / moons: no baseline (a newly registered algorithm or dataset?); "
                                           "test JC 81.00. Run `make regress-update` and commit the baseline")
    assert findings["Retired"].kind == "not_run" and not findings["Retired"].failed
    assert findings["DiffMF"].kind == "pass"


@pytest.mark.parametrize("scores, statuses, messages, expected", [
    ([95.0, math.nan, 96.0], ["ok", "nonfinite", "ok"], ["", "NaN loss at epoch 2", ""],
     "DiffMF / moons: 1 of 3 runs have no valid score: seed 1: status nonfinite (NaN loss at epoch 2)"),
    ([95.0, math.inf, 96.0], ["ok", "ok", "ok"], [],
     "DiffMF / moons: 1 of 3 runs have no valid score: seed 1: non-finite test JC inf"),
    ([95.0, 95.0, math.nan], ["ok", "ok", "failed"], ["", "", "MemoryError: "],
     "DiffMF / moons: 1 of 3 runs have no valid score: seed 2: status failed (MemoryError: )"),
    ([95.0, 95.0, math.nan], ["ok", "ok", "missing"], [],
     "DiffMF / moons: 1 of 3 runs have no valid score: seed 2: status missing"),
])
def test_a_non_finite_or_failed_run_fails_the_check(scores, statuses, messages, expected):
    baseline = _baseline(_cell("DiffMF", [95.0, 95.5, 96.0]))
    [finding] = compare(baseline, [_cell("DiffMF", scores, statuses=statuses, messages=messages)])
    assert finding.failed and finding.kind == "broken" and finding.message == expected


def test_no_baseline_is_written_from_a_broken_run():
    with pytest.raises(BaselineError, match="DiffMF / moons: seed 1: status nonfinite"):
        _baseline(_cell("DiffMF", [95.0, math.nan, 96.0], statuses=["ok", "nonfinite", "ok"]))


def test_chance_jaccard_known_answers_and_simulation():
    assert chance_jaccard(2, 1) == pytest.approx(50.0)  # overlap 0 or 1, each with probability 1/2
    # |V| = 4, |S*| = 2: overlap 0, 1, 2 with probabilities 1/6, 4/6, 1/6 → J = 0, 1/3, 1.
    assert chance_jaccard(4, 2) == pytest.approx(100 * (4 / 6 / 3 + 1 / 6))
    rng = np.random.default_rng(0)
    optimal = np.zeros((20000, 24), dtype=bool)
    optimal[:, :4] = True
    predicted = top_k_subsets(rng.random(optimal.shape), np.full(20000, 4), np.ones_like(optimal))
    assert mean_jaccard(predicted, optimal) == pytest.approx(chance_jaccard(24, 4), abs=0.3)


def test_the_regress_profile_covers_every_registered_algorithm_with_fixed_seeds_and_threads():
    config = resolved_config(plan(get_profile("regress")))
    assert set(config["cells"]) == {f"{d} / {a}" for d in ("gaussian", "moons") for a in ALGORITHMS}
    assert len(config["seeds"]) >= 3
    assert {cell["threads"] for cell in config["cells"].values()} == {1}
    assert resolved_config(plan(get_profile("regress")))["hash"] == config["hash"]


def test_a_baseline_of_another_profile_config_is_refused_naming_the_setting(tmp_path):
    profile = get_profile("regress")
    config = resolved_config(plan(profile))
    changed = resolved_config(plan(dataclasses.replace(profile, train=dataclasses.replace(profile.train,
                                                                                          learning_rate=0.0))))
    baseline = {"config": config}
    check_config(baseline, config, tmp_path / "b.json")
    with pytest.raises(BaselineError) as error:
        check_config(baseline, changed, tmp_path / "b.json")
    message = str(error.value)
    assert message.startswith(f"{tmp_path / 'b.json'}: the baseline was produced by a different 'regress' profile "
                              f"config (hash {config['hash']}, now {changed['hash']}): gaussian / DiffMF: "
                              f"train.learning_rate 0.001 → 0.0;")
    assert "run `make regress-update`" in message
    fewer = resolved_config(plan(dataclasses.replace(profile, algorithms=("DiffMF",))))
    check_config(baseline, fewer, tmp_path / "b.json")  # cells gone or new are findings, not a refusal
    with pytest.raises(BaselineError, match=r"seeds \[0, 1, 2\] → \[0, 1\]"):
        check_config(baseline, resolved_config(plan(dataclasses.replace(profile, seeds=(0, 1)))), tmp_path / "b.json")


def test_baseline_file_errors_name_the_file_and_line_or_field(tmp_path):
    path = tmp_path / "baseline.json"
    with pytest.raises(BaselineError, match="baseline file not found; create it with `make regress-update`"):
        load_baseline(path)
    path.write_text('{\n "format": 1,\n "cells": [,]\n}\n')
    with pytest.raises(BaselineError, match=rf"^{path}:3: invalid JSON"):
        load_baseline(path)
    good = _baseline(_cell("DiffMF", [95.0, 95.5, 96.0]))
    path.write_text(json.dumps({**good, "format": 0}))
    with pytest.raises(BaselineError, match="field 'format' must be 1, got 0"):
        load_baseline(path)
    broken = json.loads(json.dumps(good))
    del broken["cells"][0]["std"]
    path.write_text(json.dumps(broken))
    with pytest.raises(BaselineError, match=r"field 'cells\[0\].std' missing or not a number"):
        load_baseline(path)
    broken["cells"][0].update(std=0.5, test_jc=[95.0, None, 96.0])
    path.write_text(json.dumps(broken))
    with pytest.raises(BaselineError, match=r"'cells\[0\].test_jc' \(DiffMF / moons\) holds a non-finite score"):
        load_baseline(path)
    path.write_text(json.dumps(good))
    assert load_baseline(path)["cells"][0]["mean"] == pytest.approx(95.5)


def test_report_lists_failures_and_every_cell():
    baseline = _baseline(_cell("DiffMF", [95.0, 95.5, 96.0]), _cell("iDiffMF_2", [70.0, 72.0, 74.0]))
    cells = [_cell("DiffMF", [95.0, 95.5, 96.0]), _cell("iDiffMF_2", [50.0, 51.0, 52.0])]
    report = render_report(compare(baseline, cells), cells, baseline, PROVENANCE, {"moons": 10.17}, title="check")
    assert "**FAILED**: 1 of 2 cells fail." in report
    assert "- iDiffMF_2 / moons: test JC dropped from 72.00 to 51.00 (-21.00)" in report
    assert ("| moons | DiffMF | 95.50 ± 0.50 | 95.50 ± 0.50 | +0.00 | 1.50 | 95.00, 95.50, 96.00 | yes | pass |"
            in report)
    assert "| moons | iDiffMF_2 | 72.00 ± 2.00 | 51.00 ± 1.00 | -21.00 | 6.00 | 50.00, 51.00, 52.00 | no | " \
           "**REGRESSED** |" in report
    assert "Chance level (|S\\*| items drawn at random): moons 10.17." in report


def test_cli_refuses_an_absent_baseline_before_running_anything(tmp_path, capsys):
    assert main(["regress", "--baseline", str(tmp_path / "none.json"), "--results", str(tmp_path / "out")]) == 2
    assert "none.json: baseline file not found" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def _one_cell(**train):
    """One cell of the regress profile (DiffMF on Gaussian, 2 seeds), optionally with other training settings."""
    profile = get_profile("regress")
    return dataclasses.replace(profile, algorithms=("DiffMF",), datasets=("gaussian",), seeds=(0, 1),
                               train=dataclasses.replace(profile.train, **train))


@pytest.mark.slow
def test_learning_rate_zero_fails_the_check_and_the_baseline_configuration_passes_identically(tmp_path):
    baseline_path = tmp_path / "baseline.json"
    run_regression(profile=_one_cell(), baseline_path=baseline_path, results=tmp_path / "first", update=True,
                   progress=False)
    baseline = load_baseline(baseline_path)
    [cell] = baseline["cells"]
    assert cell["mean"] > chance_jaccard(24, 4) + 50  # learning is visible: chance is ~10

    findings, report = run_regression(profile=_one_cell(), baseline_path=baseline_path, results=tmp_path / "second",
                                      progress=False)
    [finding] = findings
    assert finding.kind == "pass" and not finding.failed
    assert finding.identical, f"same settings, same machine, different JC: {cell['test_jc']} vs {finding.new}"
    assert "**PASSED**" in report.read_text()

    degraded = plan(_one_cell(learning_rate=0.0))
    with pytest.raises(BaselineError, match="train.learning_rate 0.001 → 0.0"):  # the check refuses other settings
        run_regression(profile=degraded.profile, baseline_path=baseline_path, results=tmp_path / "third",
                       progress=False)
    outcome = run_sweep(degraded, RecordStore(tmp_path / "third" / "runs"), progress=False)
    [finding] = compare(baseline, scores_of(degraded, outcome.records))
    assert finding.failed and finding.kind == "regressed"
    assert finding.message.startswith(f"DiffMF / gaussian: test JC dropped from {cell['mean']:.2f} to "
                                      f"{finding.new:.2f}")

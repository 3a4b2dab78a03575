"""The scientific checks of ``make verify`` (issue: exact mode, Thm. 4.2/4.3, estimators, normalisation), as tests.

Each check measures on a small float64 instance shared by PyTorch and JAX and states whether its
claim held; these tests assert the claims, and a few figures beyond them.
"""

import math

import numpy as np
import pytest

from setbench.benchmarks import verification as V
from setbench.benchmarks.verification_report import VARIANTS, VerifySettings, render_report, table_jobs


def test_exact_mode_implicit_gradient_equals_central_finite_differences():
    check = V.implicit_vs_finite_differences(directions=2, settings=(("fro", "batch"), ("fro", "set")))
    assert check.passed, check
    assert check.figures["max relative error"] < 1e-4
    assert {(r["normalization"], r["scope"]) for r in check.rows} == {("fro", "batch"), ("fro", "set")}


@pytest.mark.slow
def test_unrolled_gradient_converges_to_the_implicit_one_at_the_spectral_radius():
    check = V.unrolled_convergence(k_max=36)
    assert check.passed, check
    errors = [row["relative gradient error"] for row in check.rows]
    assert all(later < earlier for earlier, later in zip(errors, errors[1:]))
    radius = check.figures["spectral radius ρ(∂T/∂ψ)"]
    assert 0.2 < radius < 0.9  # the instance is scaled for a measurable rate
    assert check.figures["ω by power iteration"] == pytest.approx(check.figures["‖∂T/∂ψ‖₂ (exact)"], rel=1e-6)


def test_asm_4_1_gives_one_fixed_point_from_every_start():
    check = V.unique_fixed_point(starts=5)
    assert check.passed, check
    assert check.figures["max difference between starts"] < 1e-6 and check.figures["‖∂T/∂ψ(ψ*)‖₂ (max over sets)"] < 1


def test_hard_samples_make_the_implicit_gradient_a_one_step_gradient():
    check = V.hard_degeneracy()
    assert check.passed, check
    assert check.figures["max |∂T/∂ψ(ψ*)|"] == 0.0 and check.figures["bit-identical"] is True


@pytest.mark.slow
def test_score_and_hard_are_unbiased_and_relaxed_bias_shrinks_with_temperature():
    check = V.estimator_bias_variance(replicates=100, temperatures=(1.0, 0.1))
    assert check.passed, check
    rows = {row["estimator"]: row for row in check.rows}
    assert rows["relaxed τ=1"]["gains max |z|"] > 4.5  # the relaxation's bias is detectable at τ = 1
    # hard samples: the measured ψ-Jacobian is exactly 0, so its bias is the whole exact Hessian
    assert rows["hard"]["Hessian spread"] == 0.0 and rows["hard"]["Hessian bias"] == pytest.approx(1.0)
    assert rows["score"]["Hessian spread"] > 0.0


def test_per_set_normalisation_makes_a_sets_fixed_point_independent_of_its_batch():
    check = V.normalization_invariance(estimator="relaxed", normalizations=("fro",))
    assert check.passed, check
    by_scope = {(r["normalization"], r["scope"]): r for r in check.rows}
    assert by_scope["fro", "batch"]["alone vs in batch"] > 1e-6  # the published norm couples the sets
    assert by_scope["fro", "set"]["alone vs in batch"] == 0.0


def test_comparison_jobs_cover_every_variant_estimator_dataset_and_seed():
    settings = VerifySettings(seeds=(0, 1))
    cells = table_jobs(settings)
    assert len(cells) == len(VARIANTS) * 3 * 2 * 2
    assert len({job.key for _, _, job in cells}) == len(cells)
    for label, estimator, job in cells:
        assert job.algorithm_options["mean_field"]["estimator"] == estimator
        assert job.threads == 1 and job.data_options["sizes"]["v_size"] == 20
        assert ("per-set" in label) == (job.algorithm_options.get("normalization_scope") == "set")


def test_report_shows_every_check_and_never_averages_runs_that_are_not_ok():
    settings = VerifySettings(datasets=("moons",), estimators=("hard", "score"), seeds=(0, 1))
    runs = []
    for label, estimator, job in table_jobs(settings):
        status = "not_converged" if (estimator == "score" and job.seed == 1) else "ok"
        runs.append((label, estimator, job, {"status": status, "test_jc": 60.0 + job.seed, "epochs": 3,
                                             "fp_converged_fraction": 1.0,
                                             "message": "2 sets hit max_iter" if status != "ok" else ""}))
    checks = [V.CheckResult("a", "claim one", True, {"x": 1.5}),
              V.CheckResult("b", "claim two", False, {"y": math.nan}, rows=({"k": 1, "v": 2e-9},))]
    text = render_report(checks, runs, settings, seconds=90)
    assert "Checks: **1 of 2 passed**" in text and "| 2 | claim two | **FAIL** |" in text
    assert "| v |" in text and "2.00e-09" in text
    row = next(line for line in text.splitlines() if line.startswith("| DiffMF (K = 5, unrolled) |"))
    assert row == "| DiffMF (K = 5, unrolled) | 60.50 ± 0.71 | 60.00<br>*not_converged*; JC 61.00, not averaged |"

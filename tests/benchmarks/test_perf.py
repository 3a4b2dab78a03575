"""``make perf``'s parts: flop counts, the reference swap into the algorithms, the report."""

import math

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from setbench import baselines
from setbench.benchmarks import perf
from setbench.benchmarks.reference import ReferenceSetFunction, reference_gains
from setbench.protocol import SetFunctionConfig

TINY_MODEL = {"model": {"embed_dim": 8, "hidden_dim": 16}, "mean_field": {"samples": 2}}


@pytest.mark.parametrize("shared", [False, True], ids=["fresh", "shared"])
def test_flop_counts_match_the_operations_torch_runs(shared):
    """The report's GFLOP/s rest on these counts: they equal PyTorch's own count of the products."""
    config = SetFunctionConfig(embed_dim=8, hidden_dim=16, num_layers=3)
    b, m, v = 3, 2, 5
    torch.manual_seed(0)
    fast, reference = baselines.SetFunction(2, config), ReferenceSetFunction(2, config)
    x, psi, mask = torch.randn(b, v, 2), torch.rand(b, v), torch.ones(b, v, dtype=torch.bool)
    u = baselines.draw_uniforms(torch.Generator().manual_seed(0), b, v, m, shared)
    for model, estimate, is_fast in ((fast, baselines.marginal_gains, True), (reference, reference_gains, False)):
        with torch.no_grad():
            terms = model.element_terms(x)
            with FlopCounterMode(display=False) as counter:
                estimate(model, terms, psi, mask, u)
        expected = perf._map_flops(b, m, v, config.hidden_dim, config.embed_dim, config.num_layers,
                                   fast=is_fast, shared=shared)
        assert counter.get_total_flops() == expected


@pytest.mark.slow
@pytest.mark.parametrize("algorithm,options", [
    ("DiffMF", {"iterations": 2, "keep_unrolled_graph": False}),
    ("DiffMF", {"iterations": 2, "keep_unrolled_graph": True}),
    ("iDiffMF_2", {}),
])
def test_reference_swap_reproduces_the_first_training_step(tiny_gaussian, algorithm, options):
    """Same seed, weights and samples: the fast and the reference step give the same loss."""
    row = perf.time_training_steps(algorithm, {**TINY_MODEL, **options}, tiny_gaussian.train, repeats=1,
                                   reference=True)
    assert set(row["first_loss"]) == {"fast", "reference"}
    assert row["loss_relative_difference"] < 1e-5
    assert row["fast_step_s"] > 0 and row["reference_step_s"] > 0
    assert row["steps_per_epoch"] == math.ceil(tiny_gaussian.train.n_sets / 128)


def test_mean_field_map_timing_compares_equal_outputs():
    row = perf.time_mean_field_map(4, shared=False, repeats=1, reference=True, batch=8)
    for framework in ("torch", "jax"):
        assert row[f"{framework}_max_relative_difference"] < 1e-5
        assert row[f"{framework}_fast_s"] > 0 and row[f"{framework}_reference_s"] > 0


def _results():
    maps = [{"v": 100, "shared": False, "batch": 128, "samples": 5,
             "torch_fast_s": 1.0, "torch_reference_s": 2.5, "torch_fast_flops": 50e9, "torch_reference_flops": 75e9,
             "torch_max_relative_difference": 1e-7,
             "jax_fast_s": 2.0, "jax_reference_s": 3.0, "jax_fast_flops": 50e9, "jax_reference_flops": 75e9,
             "jax_max_relative_difference": 2e-7}]
    step = {"steps_per_epoch": 8, "fast_setup_s": 0.0, "reference_setup_s": 0.0, "loss_relative_difference": 0.0,
            "dataset": "moons", "v": 100}
    steps = [
        {**step, "label": "DiffMF K=1", "algorithm": "DiffMF", "fast_step_s": 2.0, "reference_step_s": 4.0,
         "fast_iterations": 1},
        {**step, "label": "DiffMF K=5", "algorithm": "DiffMF", "fast_step_s": 5.0, "reference_step_s": 10.0,
         "fast_iterations": 5},
        {**step, "label": "DiffMF K=5, graph kept (paper)", "algorithm": "DiffMF", "fast_step_s": 20.0,
         "fast_iterations": 5},
        {**step, "label": "iDiffMF_2", "algorithm": "iDiffMF_2", "fast_step_s": 6.0, "reference_step_s": 9.0,
         "fast_iterations": 2.5},
    ]
    return {"config": {"threads": 2, "repeats": 2, "map_repeats": 6},
            "machine": {"cpu": "test cpu", "cores": 2, "load": 1.0},
            "versions": {"torch": "t", "jax": "j"}, "started": "now", "load_after": 2.0, "peak_rss_gb": 1.0,
            "matmul_gflops": {"torch": 100.0, "jax": 50.0}, "maps": maps, "steps": steps}


def test_report_states_the_acceptance_figures_from_the_measurements():
    text = perf.render_perf(_results())
    assert "torch: 2.50× faster than the reference (meets target ≥ 2×)" in text
    assert "50 % of the measured matmul rate (100 GFLOP/s; meets target ≥ 50 %)" in text
    assert "jax: 1.50× faster than the reference (NOT met: target ≥ 2×)" in text
    assert "50 % of the measured matmul rate (50" in text
    assert "The reference needs 1.50× the flops of the fast map" in text
    assert "| 100 | Gaussian, Moons | fresh | torch | 1.000 | 2.500 | 2.50× | 1.50× | 50.0 |" in text
    assert ("DiffMF (K = 1) training epoch on Moons: 16.0 s (meets target ≤ 20 s; reference formulation "
            "32.0 s)") in text
    assert ("iDiffMF_2 epoch 48.0 s: NOT ≤ DiffMF K=5 40.0 s (1.20×); ≤ DiffMF K=5, graph kept (paper) 160.0 s "
            "(0.30×).") in text
    assert "**extrapolated**" in text
    assert "fastest of 2 repetitions (maps and matrix products: 6 repetitions)" in text
    one = _results()
    one["config"].update(repeats=1, map_repeats=1)
    assert "fastest of 1 repetition (maps and matrix products: 1 repetition)" in perf.render_perf(one)


def test_config_errors_name_the_field():
    with pytest.raises(ValueError, match="PerfConfig.repeats must be a positive integer, got 0"):
        perf.PerfConfig(repeats=0)
    with pytest.raises(ValueError, match="PerfConfig.map_repeats must be a positive integer, got -1"):
        perf.PerfConfig(map_repeats=-1)
    with pytest.raises(ValueError, match="PerfConfig.amazon"):
        perf.PerfConfig(datasets=("amazon_apparel",))


def test_cli_rejects_bad_settings_with_status_2(capsys):
    assert perf.main(["--repeats", "0", "--no-progress"]) == 2
    assert "PerfConfig.repeats" in capsys.readouterr().err
    assert perf.main(["--map-repeats", "0", "--no-progress"]) == 2
    assert "PerfConfig.map_repeats" in capsys.readouterr().err


def test_interleaved_timing_runs_every_function_once_per_round():
    calls = []
    seconds = perf._interleaved({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, repeats=2)
    assert calls == ["a", "b"] * 3  # warm-up round, then two timed rounds
    assert {k: len(v) for k, v in seconds.items()} == {"a": 2, "b": 2}
    assert all(np.isfinite(v).all() for v in seconds.values())


def test_reference_formulation_reaches_both_frameworks_estimators():
    """The swap patches the names the algorithms look up at call time, and restores them."""
    from setbench import idiffmf
    from setbench.baselines import mean_field
    from setbench.benchmarks.reference import reference_formulation, reference_gains_jax
    from setbench.idiffmf import estimators

    with reference_formulation():
        assert mean_field.marginal_gains is reference_gains
        assert estimators.marginal_gains is reference_gains_jax
    assert mean_field.marginal_gains is baselines.marginal_gains
    assert estimators.marginal_gains is idiffmf.marginal_gains

import math
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from setbench.baselines import SetFunction, unrolled_psi
from setbench.benchmarks import memory
from setbench.protocol import MeanFieldConfig, SetFunctionConfig


def test_sampler_starts_and_stops_cleanly_and_sees_an_allocation():
    with memory.MemorySampler(memory.rss_reader(), interval=0.01) as sampler:
        block = np.ones(50_000_000)  # 400 MB, touched
        time.sleep(0.1)
        del block
    reading = sampler.reading()
    assert reading.measure == "process_rss" and reading.samples >= 3
    assert reading.max_bytes > 300e6 and reading.min_bytes <= reading.mean_bytes <= reading.max_bytes
    assert not sampler._thread.is_alive()


def test_job_shorter_than_the_first_sample_still_has_a_reading():
    with memory.MemorySampler(memory.rss_reader(), interval=10.0) as sampler:
        pass
    reading = sampler.reading()
    assert reading.samples == 1 and math.isfinite(reading.max_bytes)  # the stop sample alone


@pytest.mark.skipif(memory.gpu_visible(), reason="a GPU is visible: NVML readings are real")
def test_without_a_gpu_device_readings_are_nan_never_zero():
    with memory.NvmlSampler(interval=0.01) as sampler:
        time.sleep(0.03)
    reading = sampler.reading()
    assert reading.samples == 0 and all(math.isnan(v) for v in reading[1:4])
    assert math.isnan(memory.torch_cuda_peak_bytes())
    assert math.isnan(memory.jax_peak_bytes())


def test_interval_must_be_positive():
    with pytest.raises(ValueError, match="interval must be > 0"):
        memory.MemorySampler(memory.rss_reader(), interval=0)


def _r_squared(k, y):
    slope, intercept = np.polyfit(k, y, 1)
    return 1 - np.sum((y - (slope * k + intercept)) ** 2) / np.sum((y - y.mean()) ** 2), slope


def test_saved_bytes_grow_linearly_with_a_kept_unrolled_graph_and_stay_flat_when_detached():
    torch.manual_seed(0)
    model = SetFunction(2, SetFunctionConfig(embed_dim=8, hidden_dim=16))
    x, mask = torch.randn(4, 10, 2), torch.ones(4, 10, dtype=torch.bool)
    ks = np.array([1, 2, 3, 5, 8])
    measured = {}
    for keep in (True, False):
        measured[keep] = np.array([
            memory.saved_tensor_bytes(lambda: unrolled_psi(model, x, mask, int(k), MeanFieldConfig(samples=3),
                                                           torch.Generator().manual_seed(0), keep_graph=keep))[1]
            for k in ks], dtype=float)
    r2, slope = _r_squared(ks, measured[True])
    assert r2 > 0.99 and slope > 0
    assert np.ptp(measured[False]) == 0  # one step's worth, whatever K


def test_xla_buffers_of_the_implicit_step_stay_flat_in_k(tiny_gaussian):
    from setbench.idiffmf import FixedPointConfig, IDiffMF, IDiffMFConfig
    from setbench.protocol import TrainConfig

    split = tiny_gaussian.train.subset(np.arange(8))
    totals = []
    for k in (1, 2, 5, 10):
        config = IDiffMFConfig(model=SetFunctionConfig(embed_dim=8, hidden_dim=16), train=TrainConfig(batch_size=8),
                               fixed_point=FixedPointConfig(tol=0.0, max_iter=k))
        algorithm = IDiffMF(config).partial_fit(split, seed=0)
        totals.append(memory.xla_buffer_bytes(algorithm.compiled_train_step_)["total"])
    totals = np.array(totals)
    assert np.all(np.isfinite(totals)) and totals.max() <= 1.05 * totals.min()


def test_xla_buffers_of_an_unrolled_jax_loop_grow_with_k():
    """Control for the measure itself: differentiating through K stored steps costs O(K) buffers."""
    def unrolled(theta, k):
        psi = jnp.zeros((64, 64))
        for _ in range(k):
            psi = jnp.tanh(psi @ theta)
        return psi.sum()

    theta = jnp.eye(64) * 0.5
    totals = [memory.xla_buffer_bytes(jax.jit(jax.grad(lambda t, k=k: unrolled(t, k))).lower(theta).compile())["temp"]
              for k in (1, 4, 16)]
    assert totals[0] < totals[1] < totals[2]


def test_figure1_plot_and_growth_summary_from_a_frame(tmp_path):
    import pandas as pd

    from setbench.benchmarks.figure1 import growth_summary, plot_figure1

    rows = []
    for method, per_k in (("diffmf_kept", 1e8), ("diffmf_detached", 0.0), ("idiffmf", 0.0)):
        for k in (1, 2, 5, 10):
            exact = 5e7 + per_k * k
            rows.append({"dataset": "moons", "estimator": "hard", "method": method, "iterations": k,
                         "batch_size": 4, "v_size": 100,
                         "exact_bytes": exact, "sampled_measure": "process_rss", "sampled_min_bytes": 0.5 * exact,
                         "sampled_mean_bytes": 0.8 * exact, "sampled_max_bytes": exact})
    frame = pd.DataFrame(rows)
    paths = plot_figure1(frame, tmp_path / "figure1")
    assert all(p.stat().st_size > 1000 for p in paths)
    summary = growth_summary(frame).set_index("method")
    assert summary.at["diffmf_kept", "bytes_per_iteration"] == pytest.approx(1e8)
    assert summary.at["idiffmf", "bytes_per_iteration"] == pytest.approx(0.0, abs=1e-3)


def test_figure1_cells_draw_detached_diffmf_under_hard_samples_only():
    from setbench.benchmarks.figure1 import Figure1Config, cells

    todo = cells(Figure1Config(iterations=(1, 5), datasets=("moons",), estimators=("hard", "relaxed")))
    methods = {(cell.estimator, cell.method) for cell in todo}
    assert methods == {("hard", "diffmf_kept"), ("hard", "diffmf_detached"), ("hard", "idiffmf"),
                       ("relaxed", "diffmf_kept"), ("relaxed", "idiffmf")}
    assert len(todo) == 2 * len(methods)
    with pytest.raises(ValueError, match="Figure1Config.estimators"):
        Figure1Config(estimators=("soft",))


@pytest.mark.slow
def test_measure_cell_end_to_end():
    from setbench.benchmarks.figure1 import Figure1Config, cells, measure_cell

    config = Figure1Config(iterations=(2,), datasets=("gaussian",), batch_size=2, steps=1)
    for cell in cells(config):
        record = measure_cell(cell)
        assert record["exact_bytes"] > 0 and record["samples"] >= 1 and math.isfinite(record["loss"])
        if not memory.gpu_visible():  # where the cell computed, and no device figures for a CPU cell
            assert record["device"].startswith("cpu") and record["sampled_measure"] == "process_rss"
            assert math.isnan(record["framework_peak_bytes"])
        assert record["exact_measure"] == ("xla_temp_argument_output" if cell.method == "idiffmf"
                                           else "torch_saved_for_backward")


@pytest.mark.parametrize("visible,expected", [("", ("index", 0)), ("2,3", ("index", 2)),
                                              ("GPU-8f3a,GPU-11aa", ("uuid", "GPU-8f3a"))])
def test_nvml_reads_the_gpu_the_frameworks_call_device_0(monkeypatch, visible, expected):
    """NVML ignores CUDA_VISIBLE_DEVICES; the reader maps the process's first device to NVML's own."""
    class FakeNvml:
        nvmlDeviceGetHandleByIndex = staticmethod(lambda index: ("index", index))
        nvmlDeviceGetHandleByUUID = staticmethod(lambda uuid: ("uuid", uuid))

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    assert memory._nvml_handle(FakeNvml, None) == expected

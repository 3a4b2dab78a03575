"""``make perf``: the mean-field step's speed, fast formulation against the reference, at the paper's sizes.

Everything is measured in one process and one run, fast and reference interleaved, so that the
ratios share the machine's state (a loaded machine slows both alike; absolute seconds do not
carry over between runs). Per dataset size:

* the machine's float32 matrix-product rate, ``[64000 × 500] @ [500 × 500]``, in PyTorch and JAX;
* one evaluation of the mean-field map of Eq. (8) (``B = 128`` sets, ``m = 5`` fresh samples per
  coordinate, no gradient), fast against reference (:mod:`.reference`), with the largest relative
  difference of the outputs and the fraction of the matrix-product rate the fast path reaches;
* one training step of every algorithm, fast against reference, and the epoch extrapolated from
  it (steps per epoch × the fastest step), compile time apart.

Writes ``results/perf.md``. Run ``python -m setbench.benchmarks.perf --help`` for the options.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import math
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

__all__ = ["PerfConfig", "STEP_VARIANTS", "main", "run_perf"]

#: ``(label, registry name, config options, with reference)`` of the DiffMF training steps timed:
#: K = 1 and K = 5 as the ``default`` profile runs them (ψ detached between steps: the fast path),
#: and with the published autograd graph kept (``paper`` profile), which stores every step's
#: activations (about 4 GB at K = 5): those run the published path and are timed without a
#: reference. Every other registered algorithm is timed with its default configuration.
STEP_VARIANTS: tuple[tuple[str, str, Mapping[str, Any], bool], ...] = (
    ("DiffMF K=1", "DiffMF", {"iterations": 1, "keep_unrolled_graph": False}, True),
    ("DiffMF K=5", "DiffMF", {"iterations": 5, "keep_unrolled_graph": False}, True),
    ("DiffMF K=1, graph kept", "DiffMF", {"iterations": 1, "keep_unrolled_graph": True}, False),
    ("DiffMF K=5, graph kept (paper)", "DiffMF", {"iterations": 5, "keep_unrolled_graph": True}, False),
)

_MATMUL = (64_000, 500, 500)  # rows × inner × out: one hidden layer over B·m·|V|/2 subsets


@dataclasses.dataclass(frozen=True, kw_only=True)
class PerfConfig:
    """What ``make perf`` measures.

    Attributes:
        datasets: registered dataset names; ``amazon_*`` needs ``amazon``. Gaussian has the shapes
            of Moons (``|V| = 100``, ``d = 2``), so the default times Moons only.
        amazon: Amazon registry file or archive folder.
        repeats: timed repetitions of each training step (the fastest is reported).
        map_repeats: timed repetitions of each mean-field map and matrix product. They take a
            second or less, and the map's ≥ 2× criterion sits close to the measured ratio, so the
            fastest of more rounds is reported; on a shared CPU two rounds moved it by 0.2×.
        threads: intra-op threads (PyTorch, MKL, OpenMP), as the runner's jobs use.
        reference: also time the reference formulation (the ratios); ``False`` times the fast path only.
        output: the Markdown report.
    """

    datasets: tuple[str, ...] = ("moons",)
    amazon: str | None = None
    repeats: int = 2
    map_repeats: int = 6
    threads: int = 2
    reference: bool = True
    output: str = "results/perf.md"

    def __post_init__(self):
        for field in ("repeats", "map_repeats", "threads"):
            value = getattr(self, field)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"PerfConfig.{field} must be a positive integer, got {value!r}")
        if any(name.startswith("amazon_") for name in self.datasets) and not self.amazon:
            raise ValueError("PerfConfig.amazon: amazon_* datasets need a registry file or archive folder "
                             "(make perf AMAZON=PATH), or leave them out of --datasets")


# -- timing --------------------------------------------------------------------------------------

def _interleaved(functions: Mapping[str, Callable[[], Any]], repeats: int, warmup: bool = True) -> dict[str, list[float]]:
    """Seconds of each function, ``repeats`` rounds of one call each in turn (after one warm-up round)."""
    for function in functions.values() if warmup else ():
        function()
    seconds: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(repeats):
        for name, function in functions.items():
            start = time.perf_counter()
            function()
            seconds[name].append(time.perf_counter() - start)
    return seconds


def matmul_rates(repeats: int) -> dict[str, float]:
    """GFLOP/s of a float32 ``[64000 × 500] @ [500 × 500]`` product, best of ``repeats``, per framework."""
    import jax
    import jax.numpy as jnp
    import torch

    rows, inner, out = _MATMUL
    flops = 2.0 * rows * inner * out
    x, w = torch.rand(rows, inner), torch.rand(inner, out)
    product = jax.jit(jnp.matmul)
    xj, wj = jnp.asarray(x.numpy()), jnp.asarray(w.numpy())
    seconds = _interleaved({"torch": lambda: torch.mm(x, w), "jax": lambda: product(xj, wj).block_until_ready()},
                           repeats + 1)
    return {name: flops / min(values) / 1e9 for name, values in seconds.items()}


def _map_flops(batch: int, samples: int, v: int, hidden: int, embed: int, layers: int, *, fast: bool,
               shared: bool) -> float:
    """Flops (2 per multiply-add) of one mean-field map: pooling plus ρ on every subset evaluated.

    Fast: ``z(S) = M a`` (``a`` ``hidden`` wide), then ρ after its first layer on ``S ∖ {j}`` and
    ``S ∪ {j}`` (fresh) or on ``S`` and ``S △ {j}`` (shared). Reference: masks times ``φ``
    (``embed`` wide) for both subsets of every coordinate, then the whole of ρ on each.
    """
    rho = 2.0 * hidden * hidden * (layers - 1) + 2.0 * hidden
    coordinates = batch * samples * v
    if not fast:
        return 2 * 2.0 * coordinates * v * embed + 2 * coordinates * (2.0 * embed * hidden + rho)
    if shared:
        return 2.0 * batch * samples * v * hidden + (coordinates + batch * samples) * rho
    return 2.0 * coordinates * v * hidden + 2 * coordinates * rho


def time_mean_field_map(v: int, *, shared: bool, repeats: int, reference: bool, batch: int = 128) -> dict[str, Any]:
    """One mean-field map at the paper's model sizes (``B = 128``, ``m = 5``, hidden 500), no gradient.

    The map's cost depends on ``|V|`` and the model widths only: ``φ`` (a Linear layer, or a CNN for
    images) runs once per batch, before it, and is not timed. Inputs are random, ψ = 0.5.
    """
    import jax
    import jax.numpy as jnp
    import torch

    from setbench import baselines, idiffmf
    from setbench.protocol import MeanFieldConfig, SetFunctionConfig

    from .reference import ReferenceFlaxSetFunction, ReferenceSetFunction, reference_gains, reference_gains_jax

    model_config, samples = SetFunctionConfig(), MeanFieldConfig().samples
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, v, 2)).astype(np.float32)
    mask = np.ones((batch, v), bool)
    psi = np.full((batch, v), 0.5, np.float32)
    u = rng.random((batch, samples, v) if shared else (batch, samples, v, v), dtype=np.float32)

    torch.manual_seed(0)
    fast, slow = baselines.SetFunction(2, model_config), ReferenceSetFunction(2, model_config)
    slow.load_state_dict(fast.state_dict())
    tx, tpsi, tmask, tu = map(torch.as_tensor, (x, psi, mask, u))
    with torch.no_grad():
        a, features = fast.element_terms(tx), slow.element_terms(tx)

    module, slow_module = idiffmf.SetFunction(in_features=2, config=model_config), ReferenceFlaxSetFunction(
        in_features=2, config=model_config)
    params = module.init(jax.random.PRNGKey(0), jnp.zeros((1, v, 2)), jnp.zeros((1, v)))
    jx, jpsi, jmask, ju = map(jnp.asarray, (x, psi, mask, u))

    def jax_map(model, estimate):
        def evaluate(params, terms, psi, mask, u):
            return estimate(lambda z: model.apply(params, z, method=type(model).value), terms, psi, mask, u)
        terms = model.apply(params, jx, method=type(model).element_terms)
        compiled = jax.jit(evaluate)
        return lambda: compiled(params, terms, jpsi, jmask, ju).block_until_ready()

    def torch_map(model, terms, estimate):
        def evaluate():
            with torch.no_grad():
                return estimate(model, terms, tpsi, tmask, tu)
        return evaluate

    functions = {("torch", "fast"): torch_map(fast, a, baselines.marginal_gains),
                 ("jax", "fast"): jax_map(module, idiffmf.marginal_gains)}
    if reference:
        functions[("torch", "reference")] = torch_map(slow, features, reference_gains)
        functions[("jax", "reference")] = jax_map(slow_module, reference_gains_jax)
    seconds = _interleaved(functions, repeats)
    result: dict[str, Any] = {"v": v, "shared": shared, "batch": batch, "samples": samples}
    for framework in ("torch", "jax"):
        for formulation in ("fast", "reference") if reference else ("fast",):
            result[f"{framework}_{formulation}_s"] = min(seconds[(framework, formulation)])
            result[f"{framework}_{formulation}_flops"] = _map_flops(
                batch, samples, v, model_config.hidden_dim, model_config.embed_dim, model_config.num_layers,
                fast=formulation == "fast", shared=shared)
        if reference:
            out_fast = np.asarray(functions[(framework, "fast")]())
            out_reference = np.asarray(functions[(framework, "reference")]())
            result[f"{framework}_max_relative_difference"] = float(
                np.abs(out_fast - out_reference).max() / np.abs(out_reference).max())
    return result


def _epoch_batches(split, config) -> list:
    """One epoch's training batches, drawn as :meth:`SetLearner.fit` draws them (seeded)."""
    from setbench.protocol import Batch, epoch_batches, loss_mask

    rng = np.random.default_rng(0)
    weights = loss_mask(split.optimal, split.mask, config.neg_num, rng)
    return [Batch(x=split.set_features(rows), mask=split.mask[rows], optimal=split.optimal[rows],
                  loss_mask=weights[rows]) for rows in epoch_batches(split.n_sets, config.batch_size, rng)]


def time_training_steps(algorithm: str, options: Mapping[str, Any], split, *, repeats: int,
                        reference: bool) -> dict[str, Any]:
    """Seconds per training step of ``algorithm`` on full batches of ``split``, fast against reference.

    Both learners start from the same seed (same weights and samples), so their first losses agree
    up to float rounding; the first step of each is the untimed warm-up.
    """
    from setbench.protocol import TrainConfig

    from .reference import reference_formulation, supports_reference
    from .registry import make_algorithm

    config = TrainConfig()
    batches = _epoch_batches(split, config)
    full = [batch for batch in batches if batch.x.shape[0] == config.batch_size] or batches
    formulations: dict[str, Callable[[], contextlib.AbstractContextManager]] = {"fast": contextlib.nullcontext}
    learners, setup_seconds, steps = {}, {}, {}
    for formulation, context in (("fast", contextlib.nullcontext), ("reference", reference_formulation)):
        if formulation == "reference" and not (reference and supports_reference(learners["fast"])):
            continue
        with context():
            learner = make_algorithm(algorithm, config, options)
            start = time.perf_counter()
            learner._initialize(split, 0)
            setup_seconds[formulation] = time.perf_counter() - start
        formulations[formulation], learners[formulation], steps[formulation] = context, learner, 0

    def step(formulation: str) -> float:
        with formulations[formulation]():
            index = steps[formulation]
            loss = float(learners[formulation]._train_step(full[index % len(full)], index))
        steps[formulation] += 1
        return loss

    first_loss = {formulation: step(formulation) for formulation in formulations}
    seconds = _interleaved({f: (lambda f=f: step(f)) for f in formulations}, repeats, warmup=False)
    result: dict[str, Any] = {"algorithm": algorithm, "steps_per_epoch": len(batches), "first_loss": first_loss}
    for formulation, learner in learners.items():
        result[f"{formulation}_step_s"] = min(seconds[formulation])
        result[f"{formulation}_setup_s"] = setup_seconds[formulation]
        diagnostics = learner._method_diagnostics()
        result[f"{formulation}_iterations"] = diagnostics.get("train_fp_iterations_mean", options.get("iterations"))
    if "reference" in learners:
        result["loss_relative_difference"] = abs(first_loss["fast"] - first_loss["reference"]) / abs(first_loss["reference"])
    return result


# -- the run and its report ------------------------------------------------------------------------

#: ``|V|`` of the mean-field maps timed, and the paper's datasets of that size.
MAP_SIZES = {100: "Gaussian, Moons", 30: "Amazon", 8: "CelebA"}


def _dataset_options(name: str, config: PerfConfig) -> dict[str, Any]:
    if name.startswith("amazon_"):
        return {"path": str(Path(config.amazon).resolve())}
    return {"sizes": {}} if name in ("gaussian", "moons") else {}


def celeba_stand_in(n_sets: int = 384, n_images: int = 1024, seed: int = 0):
    """A training split with CelebA's shapes (|V| = 8 images of 3 × 64 × 64, |S*| of 2 or 3) and
    random pixels: the steps' cost does not depend on the pixels, and the real images need a download."""
    from setbench.datasets import CelebAConfig, SetSplit

    config, rng = CelebAConfig(), np.random.default_rng(seed)
    size = config.image_size
    ground = np.stack([rng.choice(n_images, config.v_size, replace=False) for _ in range(n_sets)])
    ranks = rng.random((n_sets, config.v_size)).argsort(axis=1).argsort(axis=1)
    optimal = ranks < rng.integers(config.s_min, config.s_max + 1, size=(n_sets, 1))
    return SetSplit(features=rng.uniform(-1, 1, (n_images, 3, size, size)).astype(np.float32),
                    ground_sets=ground.astype(np.int64), mask=np.ones_like(optimal), optimal=optimal,
                    name="celeba-stand-in/train", item_kind="image")


def _training_split(name: str, config: PerfConfig):
    """``(split, sets per epoch, note)``: the dataset's training split, or CelebA's stand-in when
    its images are not downloaded."""
    from setbench.datasets import CelebAConfig, DataFileError

    from .registry import load_dataset

    try:
        split = load_dataset(name, 0, _dataset_options(name, config)).train
    except DataFileError:
        if name != "celeba":
            raise
        return (celeba_stand_in(), CelebAConfig().n_train,
                "stand-in: random images of CelebA's shapes, the data is not downloaded")
    return split, split.n_sets, ""


def _machine() -> dict[str, Any]:
    model = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {"cpu": model, "cores": os.cpu_count() or 0,
            "load": os.getloadavg()[0] if hasattr(os, "getloadavg") else math.nan}


def run_perf(config: PerfConfig, progress: bool = True) -> dict[str, Any]:
    """Every measurement of the module docstring; returns plain values for :func:`render_perf`."""
    import torch
    from tqdm.auto import tqdm

    from setbench.protocol import TrainConfig

    from .environment import package_versions
    from .memory import peak_rss_bytes
    from .registry import ALGORITHMS

    torch.set_num_threads(config.threads)
    variants = [v for v in STEP_VARIANTS if v[1] in ALGORITHMS]
    variants += [(name, name, {}, True) for name in ALGORITHMS if name != "DiffMF"]
    maps = [(v, shared) for v in MAP_SIZES for shared in (False, True)]
    bar = tqdm(total=1 + len(maps) + len(config.datasets) * len(variants), desc="perf", disable=not progress)
    results: dict[str, Any] = {"config": dataclasses.asdict(config), "machine": _machine(),
                               "versions": package_versions(), "started": time.strftime("%Y-%m-%d %H:%M")}
    bar.set_postfix_str("matmul rate")
    results["matmul_gflops"] = matmul_rates(config.map_repeats)
    bar.update()
    results["maps"] = []
    for v, shared in maps:
        bar.set_postfix_str(f"mean-field map |V|={v}{' shared' if shared else ''}")
        results["maps"].append(time_mean_field_map(v, shared=shared, repeats=config.map_repeats,
                                                   reference=config.reference))
        bar.update()
    results["steps"] = []
    for dataset in config.datasets:
        split, n_train, note = _training_split(dataset, config)
        for label, algorithm, options, reference in variants:
            bar.set_postfix_str(f"{dataset}: {label}")
            row = time_training_steps(algorithm, options, split, repeats=config.repeats,
                                      reference=reference and config.reference)
            row["steps_per_epoch"] = math.ceil(n_train / TrainConfig().batch_size)
            results["steps"].append({"dataset": dataset, "v": split.v_size, "label": label, "note": note, **row})
            bar.update()
    bar.close()
    results["load_after"] = _machine()["load"]
    results["peak_rss_gb"] = peak_rss_bytes() / 1e9
    return results


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def _ratio(slow: float | None, fast: float | None) -> str:
    return f"{slow / fast:.2f}×" if slow and fast else "—"


def _epoch(row: Mapping[str, Any], formulation: str) -> float | None:
    step = row.get(f"{formulation}_step_s")
    return step * row["steps_per_epoch"] if step is not None else None


def _flop_ratio(m: Mapping[str, Any], fw: str) -> str:
    """Reference flops over fast flops of one timed map: what the exact reformulation saves in arithmetic."""
    return _ratio(m.get(f"{fw}_reference_flops"), m[f"{fw}_fast_flops"])


def _rounds(count: int) -> str:
    return f"{count} repetition{'s' if count != 1 else ''}"


def _met(passed: bool) -> str:
    return "meets" if passed else "NOT met:"


def _acceptance(results: Mapping[str, Any]) -> list[str]:
    lines = []
    rate = results["matmul_gflops"]
    for m in results["maps"]:
        if m["v"] == 100 and not m["shared"]:
            for fw in ("torch", "jax"):
                speedup = m.get(f"{fw}_reference_s", math.nan) / m[f"{fw}_fast_s"]
                share = m[f"{fw}_fast_flops"] / m[f"{fw}_fast_s"] / 1e9 / rate[fw]
                lines.append(f"- Mean-field map at |V| = 100, {fw}: {speedup:.2f}× faster than the reference "
                             f"({_met(speedup >= 2)} target ≥ 2×), outputs within "
                             f"{m.get(f'{fw}_max_relative_difference', math.nan):.1e} relative; {100 * share:.0f} % "
                             f"of the measured matmul rate ({rate[fw]:.0f} GFLOP/s; {_met(share >= 0.5)} target "
                             f"≥ 50 %). The reference needs {_flop_ratio(m, fw)} the flops of the fast map: the "
                             "speed-up at equal efficiency; beyond it, the speed-up is efficiency.")
    for dataset in dict.fromkeys(row["dataset"] for row in results["steps"]):
        rows = {row["label"]: row for row in results["steps"] if row["dataset"] == dataset}
        k1 = rows.get("DiffMF K=1")
        if k1 and dataset == "moons":
            lines.append(f"- DiffMF (K = 1) training epoch on Moons: {_epoch(k1, 'fast'):.1f} s "
                         f"({_met(_epoch(k1, 'fast') <= 20)} target ≤ 20 s; "
                         f"reference formulation {_fmt(_epoch(k1, 'reference'), 1)} s).")
        k5 = [rows[label] for label in ("DiffMF K=5", "DiffMF K=5, graph kept (paper)") if label in rows]
        for label, row in rows.items():
            if label.startswith("iDiffMF") and k5:
                epoch = _epoch(row, "fast")
                against = "; ".join(f"{'≤' if epoch <= _epoch(r, 'fast') else 'NOT ≤'} {r['label']} "
                                    f"{_epoch(r, 'fast'):.1f} s ({epoch / _epoch(r, 'fast'):.2f}×)" for r in k5)
                lines.append(f"- {dataset}: {label} epoch {epoch:.1f} s: {against}.")
    return lines


def render_perf(results: Mapping[str, Any]) -> str:
    """``results/perf.md`` from :func:`run_perf`'s values."""
    machine, versions, cfg = results["machine"], results["versions"], results["config"]
    rate = results["matmul_gflops"]
    out = [
        "# Mean-field performance: fast formulation against the reference",
        "",
        f"Generated by `make perf` ({results['started']}) on {machine['cpu']}, {machine['cores']} cores, "
        f"{cfg['threads']} intra-op threads; torch {versions.get('torch')}, jax {versions.get('jax')}. "
        f"Load average {machine['load']:.1f} at the start and {results['load_after']:.1f} at the end: other "
        "processes share this machine, so absolute seconds vary between runs; each ratio compares "
        f"measurements interleaved within this run. Every time is the fastest of {_rounds(cfg['repeats'])} "
        f"(maps and matrix products: {_rounds(cfg['map_repeats'])}) after a warm-up. Peak resident memory of the run: "
        f"{results['peak_rss_gb']:.1f} GB.",
        "",
        "## Acceptance figures",
        "",
        *_acceptance(results),
        "",
        "## Matrix-product rate",
        "",
        "| framework | float32 [64000 × 500] @ [500 × 500] |",
        "|---|---|",
        *(f"| {fw} | {gflops:.1f} GFLOP/s |" for fw, gflops in rate.items()),
        "",
        "One large product streams its [64000 × 500] operands through memory; the blocked map's products "
        "keep theirs in cache, so the map can run above this rate (above 100 % in the tables).",
        "",
        "## Mean-field map (Eq. 8): B = 128 sets, m = 5 samples per coordinate, hidden 500, no gradient",
        "",
        "Fast: element terms a = W₁φ(x) once per batch, z(S ∪ {j}) = z(S) + a_j, cache-sized blocks. "
        "Reference: [B, m, |V|, |V|] masks of S and S ∪ {j} times φ(x), then the whole of ρ. "
        "φ runs once per batch before the map in both and is not timed. GFLOP counts the fast "
        "formulation's matrix products; flop ratio = the reference's over the fast map's, the speed-up "
        "the arithmetic alone allows (with fresh samples every coordinate needs its own two evaluations "
        "of ρ's hidden layers, so little is saved; shared samples share F(S)).",
        "",
        "| \\|V\\| | datasets | samples | framework | fast s | reference s | speed-up | flop ratio | fast GFLOP/s | "
        "of matmul rate | max rel. difference |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for m in results["maps"]:
        for fw in ("torch", "jax"):
            fast_s, ref_s = m[f"{fw}_fast_s"], m.get(f"{fw}_reference_s")
            gflops = m[f"{fw}_fast_flops"] / fast_s / 1e9
            out.append(f"| {m['v']} | {MAP_SIZES[m['v']]} | {'shared' if m['shared'] else 'fresh'} | {fw} | "
                       f"{fast_s:.3f} | {_fmt(ref_s, 3)} | {_ratio(ref_s, fast_s)} | {_flop_ratio(m, fw)} | {gflops:.1f} | "
                       f"{100 * gflops / rate[fw]:.0f} % | {_fmt(m.get(f'{fw}_max_relative_difference'), 7)} |")
    out += [
        "",
        "## Training steps and epochs (paper settings: batch 128, m = 5, hidden 500)",
        "",
        "One optimiser step on a full batch, mean-field solve and backward pass included. Epoch = "
        "steps per epoch × the fastest step, **extrapolated** from the timed steps (a smaller last "
        "batch makes PyTorch's real epoch slightly shorter; JAX pads it). Setup: model creation, and "
        "for JAX the ahead-of-time compilation, paid once per run. Iterations: DiffMF's K, iDiffMF's "
        "mean forward iterations per set over the timed steps. Loss difference: first step, same "
        "weights and samples, fast against reference.",
        "",
        "| dataset | algorithm | iterations | fast step s | reference step s | speed-up | fast epoch s | "
        "reference epoch s | setup s (fast / ref.) | loss rel. difference |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    notes = list(dict.fromkeys(row["note"] for row in results["steps"] if row.get("note")))
    for row in results["steps"]:
        mark = "†" * (notes.index(row["note"]) + 1) if row.get("note") else ""
        out.append(
            f"| {row['dataset']}{mark} (\\|V\\| = {row['v']}) | {row['label']} | {_fmt(row['fast_iterations'], 1)} | "
            f"{row['fast_step_s']:.2f} | {_fmt(row.get('reference_step_s'))} | "
            f"{_ratio(row.get('reference_step_s'), row['fast_step_s'])} | {_epoch(row, 'fast'):.1f} | "
            f"{_fmt(_epoch(row, 'reference'), 1)} | {row['fast_setup_s']:.1f} / {_fmt(row.get('reference_setup_s'), 1)} | "
            f"{_fmt(row.get('loss_relative_difference'), 7)} |")
    out += ["", *(f"{'†' * (i + 1)} {note}." for i, note in enumerate(notes))] if notes else []
    return "\n".join(out) + "\n"


def _parser(datasets: Sequence[str], default: Sequence[str], add_help: bool = True) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m setbench.benchmarks.perf", description=__doc__.splitlines()[0],
                                     add_help=add_help)
    parser.add_argument("--datasets", nargs="+", choices=list(datasets), default=list(default), metavar="NAME",
                        help=f"datasets whose training steps are timed (default: {' '.join(default)}; "
                             f"choices: {', '.join(datasets)})")
    parser.add_argument("--amazon", metavar="PATH", help="Amazon registry file or archive folder (adds amazon_apparel)")
    parser.add_argument("--repeats", type=int, default=PerfConfig.repeats,
                        help="timed repetitions of each training step (default: %(default)s)")
    parser.add_argument("--map-repeats", type=int, default=PerfConfig.map_repeats,
                        help="timed repetitions of each mean-field map and matrix product (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=PerfConfig.threads, help="intra-op threads (default: %(default)s)")
    parser.add_argument("--reference", action=argparse.BooleanOptionalAction, default=True,
                        help="also time the reference formulation (default: yes)")
    parser.add_argument("--output", default=PerfConfig.output, help="Markdown report (default: %(default)s)")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True, help="progress bar")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from .registry import DATASETS
    from .runner import _limit_threads
    from .store import atomic_write_text

    argv = list(sys.argv[1:] if argv is None else argv)
    # The default datasets depend on --amazon: read it first, without answering --help yet.
    amazon = _parser(DATASETS, (), add_help=False).parse_known_args(argv)[0].amazon
    default = ["moons"] + (["amazon_apparel"] if amazon else []) + (["celeba"] if "celeba" in DATASETS else [])
    args = _parser(DATASETS, default).parse_args(argv)
    try:
        config = PerfConfig(datasets=tuple(args.datasets), amazon=args.amazon, repeats=args.repeats,
                            map_repeats=args.map_repeats, threads=args.threads, reference=args.reference,
                            output=args.output)
    except ValueError as err:
        print(f"setbench perf: error: {err}", file=sys.stderr)
        return 2
    _limit_threads(config.threads)  # as the runner's jobs: before PyTorch and JAX are imported
    path = Path(config.output)
    atomic_write_text(path, render_perf(run_perf(config, progress=args.progress)))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

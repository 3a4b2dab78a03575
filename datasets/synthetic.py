"""Synthetic set anomaly detection: ``gaussian`` and ``moons`` as built by Ou et al. (2022).

Each ground set holds ``|V|`` two-dimensional points drawn from one *normal* component; ``|S*|``
random positions are then overwritten with points from the *other* component, and those positions
form the optimal subset (the anomalies). Defaults are the paper's sizes: ``|V| = 100``,
``|S*| = 10`` and 1000 / 1000 / 1000 train / validation / test sets.

- Gaussian: two isotropic Gaussians, σ = 0.5, centred at ``±(1/√2, 1/√2)``.
- Moons: the two interleaved half circles of ``sklearn.datasets.make_moons`` with Gaussian noise
  0.1; the angle of each point is drawn uniformly on ``[0, π]`` (``make_moons`` spaces angles
  evenly, then shuffles — the same distribution in the limit), so that every point comes from our
  own seeded generator.

Which component is normal is drawn per set, uniformly. Every split is drawn from its own generator,
spawned from ``seed``: changing the number of training sets leaves the test sets unchanged.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .split import SetData, SetSplit

__all__ = ["SyntheticConfig", "component_log_density", "gaussian", "likelihood_ratio_scores", "moons"]

_SPLITS = ("train", "valid", "test")


@dataclasses.dataclass(frozen=True, kw_only=True)
class SyntheticConfig:
    """Sizes of a synthetic dataset (defaults: the paper's, App. I / Ou et al. 2022 Sec. 5.1).

    Attributes:
        v_size: ``|V|``, points per ground set.
        s_size: ``|S*|``, anomalies per ground set (``0 < s_size < v_size``).
        n_train, n_valid, n_test: number of sets per split.
    """

    v_size: int = 100
    s_size: int = 10
    n_train: int = 1000
    n_valid: int = 1000
    n_test: int = 1000

    def __post_init__(self):
        for field in ("v_size", "s_size", "n_train", "n_valid", "n_test"):
            value = getattr(self, field)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"SyntheticConfig.{field} must be a positive integer, got {value!r}")
        if self.s_size >= self.v_size:
            raise ValueError(
                f"SyntheticConfig.s_size must be smaller than v_size={self.v_size}, got {self.s_size!r}"
            )


_GAUSSIAN_CENTRE = np.array([1.0, 1.0]) / np.sqrt(2.0)  # component 0; component 1 is its mirror image
_GAUSSIAN_SIGMA = 0.5
_MOONS_NOISE = 0.1
_CHUNK = 8192  # points per block of the Moons density integral


def _gaussian_points(component: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """float64 ``[*component.shape, 2]`` points of Gaussian component 0 or 1."""
    sign = np.where(component == 0, 1.0, -1.0)[..., None]
    return sign * _GAUSSIAN_CENTRE + _GAUSSIAN_SIGMA * rng.standard_normal(component.shape + (2,))


def _moon_arcs(angle: np.ndarray) -> np.ndarray:
    """float64 ``[*angle.shape, 2 (moon), 2]``: the noiseless point of moon 0 (upper) and 1 (lower)."""
    upper = np.stack([np.cos(angle), np.sin(angle)], axis=-1)
    lower = np.stack([1.0 - np.cos(angle), 0.5 - np.sin(angle)], axis=-1)
    return np.stack([upper, lower], axis=-2)


def _moon_points(component: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """float64 ``[*component.shape, 2]`` points of moon 0 (upper) or 1 (lower), noise 0.1."""
    arcs = _moon_arcs(rng.uniform(0.0, np.pi, size=component.shape))
    points = np.where((component == 0)[..., None], arcs[..., 0, :], arcs[..., 1, :])
    return points + _MOONS_NOISE * rng.standard_normal(component.shape + (2,))


def component_log_density(kind: str, points: np.ndarray, angles: int = 256) -> np.ndarray:
    """Log density of each point under each component of ``kind``'s generator.

    Gaussian: ``log N(x; ±μ, σ²I)``. Moons: the angle is uniform on ``[0, π]``, so the density is
    ``(1/π) ∫ N(x; arc(θ), 0.1²I) dθ``, integrated by the midpoint rule on ``angles`` angles (their
    spacing, 0.012 rad at 256, is a tenth of the noise's angular width on the unit-radius arcs; the
    log-ratios then differ from those on 4096 angles by 0.003 in the median, and the top-|S*| items
    are the same). Both omit the same additive constant for
    the two components, so differences are exact log-likelihood ratios.

    Args:
        kind: ``"gaussian"`` or ``"moons"``.
        points: float ``[..., 2]``.

    Returns:
        float64 ``[..., 2]``: column ``k`` for component ``k``.
    """
    x = np.asarray(points, dtype=np.float64)[..., None, :]                    # [..., 1, 2]
    if kind == "gaussian":
        centres = np.stack([_GAUSSIAN_CENTRE, -_GAUSSIAN_CENTRE])             # [2, 2]
        return -((x - centres) ** 2).sum(-1) / (2 * _GAUSSIAN_SIGMA**2)
    if kind == "moons":
        arcs = _moon_arcs((np.arange(angles) + 0.5) * np.pi / angles)         # [A, 2, 2]
        flat = x.reshape(-1, 1, 1, 2)
        out = np.empty((flat.shape[0], 2))
        for start in range(0, len(flat), _CHUNK):  # [chunk, A, 2] at a time
            exponent = -((flat[start:start + _CHUNK] - arcs) ** 2).sum(-1) / (2 * _MOONS_NOISE**2)
            top = exponent.max(axis=1)
            out[start:start + _CHUNK] = top + np.log(np.exp(exponent - top[:, None, :]).mean(axis=1))
        return out.reshape(x.shape[:-2] + (2,))
    raise ValueError(f"component_log_density: kind must be 'gaussian' or 'moons', got {kind!r}")


def likelihood_ratio_scores(kind: str, points: np.ndarray) -> np.ndarray:
    """Anomaly scores of the rule that knows the generator: a ceiling for learned set functions.

    Each set's normal component is its maximum-likelihood one (``Σ_i log p_c(x_i)`` over the set's
    points; with 90 normal points against 10 it is the true one for practically every set). An
    item's score is ``log p_other(x_i) − log p_normal(x_i)``. Given the normal component, positions
    of the anomalies are uniform, so an item's posterior probability of being an anomaly increases
    with its likelihood ratio: the top-|S*| items by score maximise the expected number of
    anomalies found. Jaccard at ``|Ŝ| = |S*|`` increases with that number, which makes this rule a
    practical ceiling (optimality for the expected Jaccard itself is not claimed).

    Args:
        kind: ``"gaussian"`` or ``"moons"``.
        points: float ``[n_sets, |V|, 2]`` (``SetSplit.set_features``; padding-free).

    Returns:
        float64 ``[n_sets, |V|]``; higher is more anomalous.
    """
    log_density = component_log_density(kind, points)                        # [n, |V|, 2]
    normal = log_density.sum(axis=1).argmax(axis=-1)                          # [n]
    ratio = log_density[..., 1] - log_density[..., 0]                         # log p_1 − log p_0
    return np.where((normal == 0)[:, None], ratio, -ratio)


def _anomaly_split(sampler, n_sets: int, config: SyntheticConfig, rng: np.random.Generator, name: str) -> SetSplit:
    v, s = config.v_size, config.s_size
    normal = rng.integers(0, 2, size=n_sets)
    component = np.repeat(normal[:, None], v, axis=1)
    # |S*| distinct random positions per set: the first s of a random permutation.
    positions = np.argsort(rng.random((n_sets, v)), axis=1)[:, :s]
    optimal = np.zeros((n_sets, v), dtype=bool)
    np.put_along_axis(optimal, positions, True, axis=1)
    component[optimal] = 1 - component[optimal]
    points = sampler(component, rng).astype(np.float32)
    return SetSplit(
        features=points.reshape(n_sets * v, 2),
        ground_sets=np.arange(n_sets * v, dtype=np.int64).reshape(n_sets, v),
        mask=np.ones((n_sets, v), dtype=bool),
        optimal=optimal,
        name=name,
    )


def _build(kind: str, sampler, config: SyntheticConfig, seed: int) -> SetData:
    sizes = (config.n_train, config.n_valid, config.n_test)
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(len(_SPLITS))]
    splits = [
        _anomaly_split(sampler, n, config, rng, f"{kind}/{split}")
        for split, n, rng in zip(_SPLITS, sizes, rngs)
    ]
    return SetData(
        *splits,
        name=kind,
        description=f"{kind}: |V|={config.v_size}, |S*|={config.s_size}, sets {sizes[0]}/{sizes[1]}/{sizes[2]}",
    )


def gaussian(config: SyntheticConfig = SyntheticConfig(), *, seed: int = 0) -> SetData:
    """Gaussian set anomaly detection (see module docstring)."""
    return _build("gaussian", _gaussian_points, config, seed)


def moons(config: SyntheticConfig = SyntheticConfig(), *, seed: int = 0) -> SetData:
    """Two-moons set anomaly detection (see module docstring)."""
    return _build("moons", _moon_points, config, seed)

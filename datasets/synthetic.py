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

__all__ = ["SyntheticConfig", "gaussian", "moons"]

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


def _gaussian_points(component: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """float64 ``[*component.shape, 2]`` points of Gaussian component 0 or 1."""
    centre = np.array([1.0, 1.0]) / np.sqrt(2.0)
    sign = np.where(component == 0, 1.0, -1.0)[..., None]
    return sign * centre + 0.5 * rng.standard_normal(component.shape + (2,))


def _moon_points(component: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """float64 ``[*component.shape, 2]`` points of moon 0 (upper) or 1 (lower), noise 0.1."""
    angle = rng.uniform(0.0, np.pi, size=component.shape)
    upper = np.stack([np.cos(angle), np.sin(angle)], axis=-1)
    lower = np.stack([1.0 - np.cos(angle), 0.5 - np.sin(angle)], axis=-1)
    points = np.where((component == 0)[..., None], upper, lower)
    return points + 0.1 * rng.standard_normal(component.shape + (2,))


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

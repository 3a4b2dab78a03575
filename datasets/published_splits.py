"""The synthetic splits that Ou et al.'s published code draws, for comparing ceilings, not for training.

The published Table 1 figures of Gaussian and Moons were scored on one fixed draw of each dataset,
made by that code's generator: NumPy's legacy global generator seeded with 1, the train, validation
and test splits drawn in that order, one set at a time. This module re-draws those splits with a
private :class:`numpy.random.RandomState` (1), making the same generator calls in the same order,
so that the generator's ceiling (:mod:`setbench.benchmarks.ceiling`) can be scored on the very test
sets the published figures come from. Our own datasets (:mod:`.synthetic`) draw from the same
distributions with independent per-split generators.

Per set (|V| points, |S*| anomalies), as that code does it:

- Gaussian: ``4|V|`` points, each ``0.5·N(0, I₂)`` then a fair coin for its component, centred at
  ``±(1/√2, 1/√2)``; a coin names the anomalous component; ``V`` is the first ``|V|`` normal
  points, and ``|S*|`` positions drawn without replacement receive the first anomalous points.
- Moons: ``sklearn.datasets.make_moons(2|V|, noise=0.1, random_state=1000·split + set)`` (``split``
  0, 1, 2 for train, validation, test), mapped by ``x ↦ 2x + (−1, −0.2)``; then the same coin,
  positions and replacement from the global generator.
"""

from __future__ import annotations

import numpy as np
from sklearn.datasets import make_moons

from .split import SetSplit

__all__ = ["MOONS_AFFINE", "PUBLISHED_SEED", "generator_coordinates", "published_split"]

#: The seed of the legacy NumPy generator the published code draws its synthetic splits from.
PUBLISHED_SEED = 1
#: ``(scale, shift)`` of the published Moons points: ``published = scale · make_moons + shift``.
MOONS_AFFINE = (2.0, np.array([-1.0, -0.2]))

_SPLITS = ("train", "valid", "test")
_N_SETS = 1000
_GAUSSIAN_CENTRES = np.array([[1.0, 1.0], [-1.0, -1.0]]) / np.sqrt(2.0)


def _gaussian_pool(rng: np.random.RandomState, n_points: int, split: int, index: int):
    """float32 ``[n_points, 2]`` points and their int ``[n_points]`` components."""
    del split, index
    points = np.empty((n_points, 2))
    component = np.empty(n_points, dtype=np.int64)
    for i in range(n_points):  # one draw of the point, then one of its component: the published order
        points[i] = 0.5 * rng.randn(2)
        component[i] = rng.randint(2)
    return (points + _GAUSSIAN_CENTRES[component]).astype(np.float32), component


def _moons_pool(rng: np.random.RandomState, n_points: int, split: int, index: int):
    """float32 ``[n_points, 2]`` points (published coordinates) and their int ``[n_points]`` moons."""
    del rng  # make_moons draws from its own seeded generator
    points, moon = make_moons(n_samples=n_points, noise=0.1, random_state=1000 * split + index)
    scale, shift = MOONS_AFFINE
    return (scale * points.astype(np.float32) + shift).astype(np.float32), moon


_POOLS = {"gaussian": (_gaussian_pool, 4), "moons": (_moons_pool, 2)}


def generator_coordinates(kind: str, points: np.ndarray) -> np.ndarray:
    """float64 ``[..., 2]`` points of a published split in the generator's coordinates (those of
    :func:`setbench.datasets.likelihood_ratio_scores`): Moons undo :data:`MOONS_AFFINE`."""
    points = np.asarray(points, dtype=np.float64)
    if kind != "moons":
        return points
    scale, shift = MOONS_AFFINE
    return (points - shift) / scale


def published_split(kind: str, split: str = "test", *, v_size: int = 100, s_size: int = 10) -> SetSplit:
    """One split of ``kind`` exactly as the published code draws it (module docstring).

    Args:
        kind: ``"gaussian"`` or ``"moons"``.
        split: ``"train"``, ``"valid"`` or ``"test"``; the earlier splits are drawn too (the generator
            is shared), so ``"test"`` costs three splits' draws (≈ 3 s for Gaussian).
        v_size, s_size: ``|V|`` and ``|S*|`` (the paper's 100 and 10 by default).

    Returns:
        A :class:`SetSplit` of 1000 sets; Moons points in the published coordinates (see
        :data:`MOONS_AFFINE`).
    """
    if kind not in _POOLS:
        raise ValueError(f"published_split: kind must be one of {sorted(_POOLS)}, got {kind!r}")
    if split not in _SPLITS:
        raise ValueError(f"published_split: split must be one of {_SPLITS}, got {split!r}")
    if not 0 < s_size < v_size:
        raise ValueError(f"published_split: need 0 < s_size < v_size, got s_size={s_size!r}, v_size={v_size!r}")
    draw_pool, pool_factor = _POOLS[kind]
    rng = np.random.RandomState(PUBLISHED_SEED)
    for split_index in range(_SPLITS.index(split) + 1):
        points = np.empty((_N_SETS, v_size, 2), dtype=np.float32)
        optimal = np.zeros((_N_SETS, v_size), dtype=bool)
        for b in range(_N_SETS):
            pool, component = draw_pool(rng, pool_factor * v_size, split_index, b)
            anomalous = rng.randint(2)
            points[b] = pool[component != anomalous][:v_size]
            positions = rng.choice(v_size, s_size, replace=False)
            points[b, positions] = pool[component == anomalous][:s_size]
            optimal[b, positions] = True
    return SetSplit(
        features=points.reshape(_N_SETS * v_size, 2),
        ground_sets=np.arange(_N_SETS * v_size, dtype=np.int64).reshape(_N_SETS, v_size),
        mask=np.ones((_N_SETS, v_size), dtype=bool),
        optimal=optimal,
        name=f"{kind}/{split} (published code)",
    )

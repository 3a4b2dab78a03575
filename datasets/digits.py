"""Digits set anomaly detection: an offline real-image task (**not in the paper**).

scikit-learn's bundled handwritten digits (1797 grey 8 × 8 images, values 0..16; UCI optdigits
test set) make a CelebA-like task that needs no download: a ground set is ``|V|`` images of one
digit in which ``|S*| ∈ {s_min..s_max}`` random positions hold images of other digits (the
anomalies). It runs everywhere and exercises the image encoder of CelebA in CI.

Images are stored once (``item_kind = "image"``): float32 ``[1, 8·upscale, 8·upscale]`` in
[-1, 1] (``value / 8 − 1``), enlarged by pixel replication (``upscale = 4`` gives 32 × 32, large
enough for the three stride-2 convolutions of the image encoder). The images are first split into
disjoint train / validation / test pools (60 / 20 / 20 %, by a generator spawned from ``seed``), so
no test image is ever seen in training; each split's sets then come from its own generator.
scikit-learn is imported only to read the bundled file.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .split import SetData, SetSplit

__all__ = ["DigitsConfig", "digits"]

_SPLITS = ("train", "valid", "test")
_POOL_FRACTIONS = (0.6, 0.2)  # train, valid; the test pool takes the rest


@dataclasses.dataclass(frozen=True, kw_only=True)
class DigitsConfig:
    """Sizes of the digits task.

    Attributes:
        v_size: ``|V|``, images per ground set.
        s_min, s_max: ``|S*|`` is drawn uniformly from ``s_min..s_max``.
        n_train, n_valid, n_test: sets per split.
        upscale: pixel-replication factor (8 × 8 → ``8·upscale`` square).
    """

    v_size: int = 8
    s_min: int = 2
    s_max: int = 3
    n_train: int = 1000
    n_valid: int = 200
    n_test: int = 200
    upscale: int = 4

    def __post_init__(self):
        for field in ("v_size", "s_min", "s_max", "n_train", "n_valid", "n_test", "upscale"):
            value = getattr(self, field)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"DigitsConfig.{field} must be a positive integer, got {value!r}")
        if not self.s_min <= self.s_max < self.v_size:
            raise ValueError(f"DigitsConfig needs s_min <= s_max < v_size, got s_min={self.s_min}, "
                             f"s_max={self.s_max}, v_size={self.v_size}")


def _sets(labels: np.ndarray, pool: np.ndarray, n_sets: int, config: DigitsConfig,
          rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    ground = np.empty((n_sets, config.v_size), dtype=np.int64)
    optimal = np.zeros((n_sets, config.v_size), dtype=bool)
    by_digit = {d: pool[labels[pool] == d] for d in range(10)}
    for row in range(n_sets):
        digit = int(rng.integers(10))
        s_size = int(rng.integers(config.s_min, config.s_max + 1))
        normal = rng.choice(by_digit[digit], size=config.v_size, replace=False)
        positions = rng.choice(config.v_size, size=s_size, replace=False)
        normal[positions] = rng.choice(pool[labels[pool] != digit], size=s_size, replace=False)
        ground[row] = normal
        optimal[row, positions] = True
    return ground, optimal


def digits(config: DigitsConfig = DigitsConfig(), *, seed: int = 0) -> SetData:
    """Digits set anomaly detection (see module docstring).

    Raises:
        ValueError: when a digit's pool holds fewer than ``|V|`` images.
    """
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images, labels = bunch.images, bunch.target.astype(np.int64)
    pixels = np.kron(images, np.ones((config.upscale, config.upscale)))[:, None]
    features = (pixels / 8.0 - 1.0).astype(np.float32)
    pool_rng, *split_rngs = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(1 + len(_SPLITS)))
    order = pool_rng.permutation(len(labels))
    cuts = np.cumsum([int(f * len(labels)) for f in _POOL_FRACTIONS])
    pools = np.split(order, cuts)
    smallest = min(int(np.sum(labels[pool] == d)) for pool in pools for d in range(10))
    if smallest < config.v_size:
        raise ValueError(f"DigitsConfig.v_size={config.v_size} exceeds the {smallest} images of the rarest digit "
                         f"in a split's pool; use v_size <= {smallest}")
    sizes = (config.n_train, config.n_valid, config.n_test)
    splits = []
    for split, pool, n_sets, rng in zip(_SPLITS, pools, sizes, split_rngs):
        ground, optimal = _sets(labels, pool, n_sets, config, rng)
        splits.append(SetSplit(features=features, ground_sets=ground, mask=np.ones_like(optimal), optimal=optimal,
                               name=f"digits/{split}", item_kind="image"))
    side = 8 * config.upscale
    return SetData(*splits, name="digits", description=(
        f"digits (not in the paper): {side}x{side} images, |V|={config.v_size}, |S*| in "
        f"{config.s_min}..{config.s_max}, sets {sizes[0]}/{sizes[1]}/{sizes[2]} from disjoint image pools"))

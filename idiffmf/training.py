"""JAX training utilities: the loss of Eq. (4), the optimiser, and fixed-shape batches.

The optimiser is the same as the PyTorch baselines' (``torch.optim.Adam`` with L2 weight decay,
gradients clipped to a global norm at every step): ``clip → add λθ → Adam``.
Batches are padded to a fixed number of sets so that each jitted function compiles once; padding
sets have no valid position and zero weight.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from setbench.protocol import Batch, TrainConfig

__all__ = ["PaddedBatch", "cross_entropy", "make_optimizer", "pad_batch"]

_EPS = 1e-12  # inside the logarithms of Eq. (4), as in the published code


class PaddedBatch(NamedTuple):
    """A :class:`~setbench.protocol.Batch` padded to ``size`` sets, plus per-set weights.

    Attributes:
        x: float32 ``[size, |V|, d]``; mask, optimal, loss_mask: bool ``[size, |V|]``;
        weight: float32 ``[size]``, 1 for real sets and 0 for padding.
    """

    x: np.ndarray
    mask: np.ndarray
    optimal: np.ndarray
    loss_mask: np.ndarray
    weight: np.ndarray


def pad_batch(batch: Batch, size: int) -> PaddedBatch:
    n = batch.x.shape[0]
    if n > size:
        raise ValueError(f"pad_batch: batch of {n} sets exceeds the padded size {size}")

    def pad(array: np.ndarray) -> np.ndarray:
        return np.concatenate([array, np.zeros((size - n,) + array.shape[1:], array.dtype)]) if n < size else array

    weight = np.zeros(size, np.float32)
    weight[:n] = 1.0
    return PaddedBatch(pad(batch.x), pad(batch.mask), pad(batch.optimal), pad(batch.loss_mask), weight)


def cross_entropy(psi: jax.Array, optimal: jax.Array, loss_mask: jax.Array, weight: jax.Array) -> jax.Array:
    """Eq. (4): ``−Σ_j w_j [s_j log ψ_j + (1 − s_j) log(1 − ψ_j)]``, averaged over real sets.

    Args:
        psi: float ``[B, |V|]``; optimal, loss_mask: bool ``[B, |V|]``; weight: float ``[B]``.
    """
    s = optimal.astype(psi.dtype)
    log_likelihood = s * jnp.log(psi + _EPS) + (1.0 - s) * jnp.log(1.0 - psi + _EPS)
    per_set = -(log_likelihood * loss_mask.astype(psi.dtype)).sum(axis=-1)
    return jnp.sum(per_set * weight) / jnp.maximum(jnp.sum(weight), 1.0)


def make_optimizer(config: TrainConfig) -> optax.GradientTransformation:
    return optax.chain(
        optax.clip_by_global_norm(config.clip_norm),
        optax.add_decayed_weights(config.weight_decay),
        optax.adam(config.learning_rate),
    )

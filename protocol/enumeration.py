"""All subsets of a small ground set, for the exact multilinear extension (Eq. 6) in either framework."""

from __future__ import annotations

import functools

import numpy as np

from .model_config import EXACT_MAX_V_SIZE

__all__ = ["subset_matrix"]


@functools.lru_cache(maxsize=None)
def subset_matrix(v_size: int) -> np.ndarray:
    """float64 ``[2^|V|, |V|]`` 0/1 memberships of every subset of ``range(|V|)``, read-only.

    Row ``k`` is the binary expansion of ``k``: item ``i`` is a member iff bit ``i`` of ``k`` is set,
    so row 0 is ∅ and row ``2^|V| − 1`` is ``V``.

    Raises:
        ValueError: if ``v_size`` is not in ``1..EXACT_MAX_V_SIZE``.
    """
    if not isinstance(v_size, int) or not 1 <= v_size <= EXACT_MAX_V_SIZE:
        raise ValueError(f"subset_matrix: |V| must be an integer in 1..{EXACT_MAX_V_SIZE}, got {v_size!r}")
    rows = np.arange(2**v_size)[:, None]
    matrix = ((rows >> np.arange(v_size)[None, :]) & 1).astype(np.float64)
    matrix.setflags(write=False)
    return matrix

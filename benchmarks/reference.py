"""The reference formulation of the mean-field step, for tests and ``make perf`` only.

The straightforward mask-matmul of the published code: for every coordinate ``j`` and sample
``l`` build the 0/1 masks of ``S`` and ``S ∪ {j}`` as ``[B, m, |V|, |V|]`` tensors, pool
``φ(x)`` over each mask, and run the whole of ρ (first layer included) on every pooled vector:

    ∂F̃/∂ψ_j ≈ (1/m) Σ_l ρ(M⁺_{lj} φ(X)) − ρ(M⁻_{lj} φ(X))          (Eq. 6 and 8)

It shares no evaluation code with the library's fast path (``setbench.baselines.subset_gains``,
``setbench.idiffmf.multilinear``): only the parameters, through the two ``ReferenceSetFunction``
subclasses, whose ``element_terms`` are the features ``φ(x)`` and whose ``value`` is the whole of ρ.
:func:`reference_formulation` swaps both into the algorithms, so that the benchmark can time the
same training step under either formulation.

Imports PyTorch and JAX: the runner and the CLI never import this module.
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator

import jax
import jax.numpy as jnp
import torch

from setbench import baselines, idiffmf

__all__ = [
    "ReferenceSetFunction",
    "ReferenceFlaxSetFunction",
    "reference_formulation",
    "reference_gains",
    "reference_gains_jax",
    "supports_reference",
]


# -- PyTorch ---------------------------------------------------------------------------------------

class ReferenceSetFunction(baselines.SetFunction):
    """:class:`setbench.baselines.SetFunction` (same parameters) without the first-layer factoring."""

    def element_terms(self, x: torch.Tensor) -> torch.Tensor:
        """``φ(x_i)``: float ``[B, |V|, d]`` → ``[B, |V|, embed]`` (pooled by the masks)."""
        return self.phi(x)

    def value(self, pooled: torch.Tensor) -> torch.Tensor:
        """``ρ(Σ_{i∈S} φ(x_i))``: float ``[..., embed]`` → ``[...]``, first layer included."""
        h = torch.relu(self.rho_in(pooled))
        for layer in self.rho_hidden:
            h = torch.relu(layer(h))
        return self.rho_out(h).squeeze(-1)

    def forward(self, x: torch.Tensor, subsets: torch.Tensor) -> torch.Tensor:
        return self.value(torch.einsum("b...i,bie->b...e", subsets, self.phi(x)))


def _torch_masks(u: torch.Tensor, psi: torch.Tensor, valid: torch.Tensor, keep_graph: bool):
    """``(M⁻, M⁺)``, float ``[B, m, |V|, |V|]``: row ``[b, l, j]`` holds ``S ∖ {j}`` and ``S ∪ {j}``."""
    v = psi.shape[1]
    eye = torch.eye(v, dtype=psi.dtype, device=psi.device)
    if u.dim() == 4:
        member = (u < psi.detach()[:, None, None, :]).to(psi.dtype) * valid[:, None, None, :]
    else:
        member = ((u < psi.detach()[:, None, :]).to(psi.dtype) * valid[:, None, :])[:, :, None, :].expand(-1, -1, v, -1)
    if keep_graph:  # ψ stays in the graph with derivative zero, as torch.bernoulli does
        member = member + 0.0 * psi[:, None, None, :]
    without = member * (1.0 - eye)
    return without, without + eye


def reference_gains(model: ReferenceSetFunction, features: torch.Tensor, psi: torch.Tensor, mask: torch.Tensor,
                    u: torch.Tensor, *, keep_graph: bool = False) -> torch.Tensor:
    """Reference ``∇_ψ F̃``; the signature of :func:`setbench.baselines.marginal_gains`.

    Args:
        model: a :class:`ReferenceSetFunction`.
        features: float ``[B, |V|, embed]``, ``model.element_terms(x) = φ(x)``.
        psi, mask, u, keep_graph: as :func:`setbench.baselines.marginal_gains`.

    Returns:
        float ``[B, |V|]``; zero at padding positions.
    """
    valid = mask.to(features.dtype)
    without, with_j = _torch_masks(u, psi, valid, keep_graph)
    pool = lambda masks: torch.einsum("bmji,bie->bmje", masks, features)  # noqa: E731
    gains = model.value(pool(with_j)) - model.value(pool(without))
    return gains.mean(dim=1) * valid


# -- JAX -------------------------------------------------------------------------------------------

class ReferenceFlaxSetFunction(idiffmf.SetFunction):
    """:class:`setbench.idiffmf.SetFunction` (same parameter tree) without the first-layer factoring."""

    def element_terms(self, x: jax.Array) -> jax.Array:
        return self.phi(x)

    def value(self, pooled: jax.Array) -> jax.Array:
        h = jax.nn.relu(pooled @ self.rho_in_kernel + self.rho_in_bias)
        for layer in self.rho_hidden:
            h = jax.nn.relu(layer(h))
        return self.rho_out(h)[..., 0]

    def __call__(self, x: jax.Array, subsets: jax.Array) -> jax.Array:
        return self.value(jnp.einsum("b...i,bie->b...e", subsets, self.phi(x)))


def reference_gains_jax(value: Callable[[jax.Array], jax.Array], features: jax.Array, psi: jax.Array,
                        mask: jax.Array, u: jax.Array) -> jax.Array:
    """Reference ``∇_ψ F̃``; the signature of :func:`setbench.idiffmf.marginal_gains`, with ``value``
    the whole of ρ and ``features`` ``φ(x)`` ``[B, |V|, embed]`` (:class:`ReferenceFlaxSetFunction`)."""
    valid = mask.astype(features.dtype)
    v = psi.shape[1]
    eye = jnp.eye(v, dtype=features.dtype)
    if u.ndim == 4:
        member = (u < psi[:, None, None, :]).astype(features.dtype) * valid[:, None, None, :]
    else:
        member = jnp.broadcast_to(((u < psi[:, None, :]) * valid[:, None, :])[:, :, None, :].astype(features.dtype),
                                  u.shape[:2] + (v, v))
    without = member * (1.0 - eye)
    with_j = without + eye
    pool = lambda masks: jnp.einsum("bmji,bie->bmje", masks, features)  # noqa: E731
    gains = value(pool(with_j)) - value(pool(without))
    return gains.mean(axis=1) * valid


# -- swapping the formulation into the algorithms ---------------------------------------------------

@contextlib.contextmanager
def reference_formulation() -> Iterator[None]:
    """Within the block, DiffMF and iDiffMF build :class:`ReferenceSetFunction` /
    :class:`ReferenceFlaxSetFunction` models and estimate ``∇_ψ F̃`` by the reference mask-matmul.

    PyTorch runs eagerly, so keep the block open for every training step; JAX algorithms need it
    only while they compile (``fit``'s initialisation). Parameters are created in the same order and
    from the same seeds as the fast models', so both start from identical weights.
    """
    from unittest import mock

    from setbench.baselines import diffmf, mean_field
    from setbench.idiffmf import algorithm, estimators

    with contextlib.ExitStack() as stack:
        stack.enter_context(mock.patch.object(diffmf, "SetFunction", ReferenceSetFunction))
        stack.enter_context(mock.patch.object(mean_field, "marginal_gains", reference_gains))
        stack.enter_context(mock.patch.object(algorithm, "SetFunction", ReferenceFlaxSetFunction))
        stack.enter_context(mock.patch.object(estimators, "marginal_gains", reference_gains_jax))
        yield


def supports_reference(learner) -> bool:
    """Whether :func:`reference_formulation` reaches this learner's set function and estimator."""
    from setbench.baselines import DiffMF
    from setbench.idiffmf import IDiffMF

    return type(learner) in (DiffMF, IDiffMF)

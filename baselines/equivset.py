"""EquiVSet_ind and EquiVSet_copula (Ou et al. 2022; Sec. 3.4 and 5.1 of the paper).

DiffMF with an amortised start: a recognition network (:mod:`.recognition`) predicts ``ψ⁰ = μ``
from the ground set. Each training batch takes two optimiser steps, in this order:

1. **Recognition step** — maximise a Monte Carlo estimate of the ELBO of Eq. (5),
   ``mean_ℓ F_θ(s_ℓ) + H(q(μ))``, over the recognition network, with ``m`` relaxed-Bernoulli samples
   ``s_ℓ`` of ``q`` (independent for EquiVSet_ind, Gaussian copula for EquiVSet_copula) and a
   straight-through estimator; the energy model ``F_θ`` is held fixed.
2. **Energy step** — from the *detached* ``ψ⁰`` take ``K`` (= 1) mean-field steps of Eq. (8) and
   minimise the loss of Eq. (4) over ``θ``.

Each step has its own Adam optimiser and clips its gradients to global norm ``clip_norm`` at every
step (as DiffMF here). Inference: ``ψ⁰`` from the recognition network, ``K`` mean-field steps, then the
top-``|S*|`` items (the shared protocol). A non-finite ELBO stops training with status ``nonfinite``.

Deliberate differences from the published code: clipping at every step (there only once); the
ELBO step computes no gradients for ``θ`` (there computed and discarded, so the updates are the
same); stable log-odds instead of ``log(x + 1e-12)``; padding never joins a sample; inference uses
a fixed random stream per checkpoint; the independent sampler exists (the public code ships the
copula only).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
from typing import Iterator

import numpy as np
import torch
from torch import nn

from setbench.protocol import (
    Batch,
    MeanFieldConfig,
    NonFiniteError,
    SetFunctionConfig,
    SetLearner,
    SolveRecord,
    TrainConfig,
)

from .diffmf import CONVERGENCE_TOL, unrolled_psi
from .recognition import (
    RecognitionNetwork,
    VariationalParams,
    bernoulli_entropy,
    gaussian_noise,
    relaxed_bernoulli,
    straight_through,
)
from .set_function import SetFunction
from .training import cross_entropy, generator_for, make_optimizer, optimizer_step, seeded, to_tensors, torch_device

__all__ = ["EquiVSet", "EquiVSetConfig", "VARIANTS", "elbo"]

#: Registry name of each sampler of ``q``.
VARIANTS = {"independent": "EquiVSet_ind", "copula": "EquiVSet_copula"}


@dataclasses.dataclass(frozen=True, kw_only=True)
class EquiVSetConfig:
    """EquiVSet settings (defaults: Ou et al.'s published code and the paper's comparison, Sec. 5.1).

    Attributes:
        model: the energy model's widths and depth; the recognition network uses the same ones.
        mean_field: ``m`` samples per coordinate in Eq. (8); ``m`` is also the number of samples
            of ``q`` in the ELBO estimate, as published.
        sampler: ``"independent"`` (EquiVSet_ind) or ``"copula"`` (EquiVSet_copula).
        iterations: ``K``, mean-field steps from ``ψ⁰`` in training and inference (paper: 1).
        rank: ``r``, rank of the copula's perturbation ``U`` (published: 5); copula only.
        temperature: ``τ`` of the relaxed Bernoulli (published: 0.1).
        standardize_copula: divide the copula's ``g`` by its standard deviation, so that each
            inclusion probability stays ``μ_i`` (see :mod:`.recognition`); ``False`` as published.
            Copula only.
    """

    model: SetFunctionConfig = SetFunctionConfig()
    mean_field: MeanFieldConfig = MeanFieldConfig()
    sampler: str = "copula"
    iterations: int = 1
    rank: int = 5
    temperature: float = 0.1
    standardize_copula: bool = False
    train: TrainConfig = TrainConfig()

    def __post_init__(self):
        if self.sampler not in VARIANTS:
            raise ValueError(f"EquiVSetConfig.sampler must be one of {tuple(VARIANTS)}, got {self.sampler!r}")
        for field in ("iterations", "rank"):
            value = getattr(self, field)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"EquiVSetConfig.{field} must be a positive integer, got {value!r}")
        if isinstance(self.temperature, bool) or not (isinstance(self.temperature, (int, float))
                                                      and 0 < self.temperature < float("inf")):
            raise ValueError(f"EquiVSetConfig.temperature must be a finite number > 0, got {self.temperature!r}")
        if not isinstance(self.standardize_copula, bool):
            raise ValueError(f"EquiVSetConfig.standardize_copula must be a bool, got {self.standardize_copula!r}")


def elbo(model: SetFunction, params: VariationalParams, x: torch.Tensor, mask: torch.Tensor,
         noise: torch.Tensor, temperature: float, generator: torch.Generator) -> torch.Tensor:
    """Monte Carlo ELBO of Eq. (5) per set: ``mean_ℓ F_θ(s_ℓ) + H(q(μ))``.

    ``F̃(μ)`` is estimated by ``F_θ`` at straight-through relaxed-Bernoulli samples ``s_ℓ`` of ``q``,
    so the estimate is differentiable in the recognition network's outputs.

    Args:
        model: the energy model ``F_θ``.
        params: the recognition network's output for ``x``.
        x: float ``[B, |V|, *item_shape]``; mask: bool ``[B, |V|]``.
        noise: float ``[B, m, |V|]`` from :func:`~.recognition.gaussian_noise` (``m`` samples).
        temperature: ``τ``.
        generator: draws the straight-through Bernoulli samples.

    Returns:
        float ``[B]``.
    """
    samples = straight_through(relaxed_bernoulli(params.logits, noise, mask, temperature), generator)
    return model(x, samples).mean(1) + bernoulli_entropy(params.logits, mask)


@contextlib.contextmanager
def _frozen(module: nn.Module) -> Iterator[None]:
    """Hold ``module``'s parameters fixed (no gradients) within the block."""
    trainable = [p for p in module.parameters() if p.requires_grad]
    for p in trainable:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in trainable:
            p.requires_grad_(True)


class EquiVSet(SetLearner):
    """EquiVSet_ind / EquiVSet_copula with the shared training protocol (see :class:`~setbench.protocol.SetLearner`).

    Attributes:
        model_: the fitted energy model (:class:`SetFunction`).
        recognition_: the fitted :class:`~.recognition.RecognitionNetwork`.
    """

    def __init__(self, config: EquiVSetConfig = EquiVSetConfig()):
        super().__init__(config)

    @property
    def name(self) -> str:  # type: ignore[override]
        return VARIANTS[self.config.sampler]

    def _initialize(self, train, seed):
        cfg = self.config
        cfg.mean_field.check_ground_set(train.v_size, self.name)
        shape, kind = train.item_shape, train.item_kind
        self.device_ = torch_device()
        with seeded(seed):
            self.model_ = SetFunction(shape, cfg.model, item_kind=kind).to(self.device_)
            self.recognition_ = RecognitionNetwork(shape, cfg.model, item_kind=kind,
                                                   rank=cfg.rank if cfg.sampler == "copula" else 0).to(self.device_)
        self._energy_optimizer = make_optimizer(self.model_.parameters(), cfg.train)
        self._recognition_optimizer = make_optimizer(self.recognition_.parameters(), cfg.train)
        self._mean_field_generator = generator_for(seed, 1, device=self.device_)
        self._sample_generator = generator_for(seed, 3, device=self.device_)
        self.compile_seconds_ = 0.0
        self._record = SolveRecord()

    def _train_step(self, batch, step):
        t = to_tensors(batch, self.device_)
        self._recognition_step(t, step)
        return self._energy_step(t)

    def _recognition_step(self, t: Batch, step: int) -> torch.Tensor:
        """One Adam step of the recognition network on ``−ELBO`` (energy model fixed); returns the ELBO."""
        cfg = self.config
        params = self.recognition_(t.x)
        shape = (t.x.shape[0], cfg.mean_field.samples, t.x.shape[1])
        noise = gaussian_noise(self._sample_generator, shape, params.scale, params.factors,
                               standardize=cfg.standardize_copula)
        with _frozen(self.model_):
            value = elbo(self.model_, params, t.x, t.mask, noise, cfg.temperature, self._sample_generator).mean()
        if not torch.isfinite(value):
            raise NonFiniteError(f"{self.name}: the ELBO became {value.item()} at training step {step}")
        optimizer_step(self._recognition_optimizer, -value, cfg.train)
        return value.detach()

    def _energy_step(self, t: Batch) -> torch.Tensor:
        """One Adam step of the energy model on Eq. (4) after ``K`` mean-field steps from the detached ``ψ⁰``."""
        cfg = self.config
        with torch.no_grad():
            psi0 = self.recognition_.psi0(t.x, t.mask)
        # Detaching ψ between steps leaves the gradient unchanged only for hard samples (zero ψ-derivative).
        psi, _ = unrolled_psi(self.model_, t.x, t.mask, cfg.iterations, cfg.mean_field, self._mean_field_generator,
                              keep_graph=cfg.mean_field.estimator != "hard", psi0=psi0)
        loss = cross_entropy(psi, t.optimal, t.loss_mask)
        optimizer_step(self._energy_optimizer, loss, cfg.train)
        return loss.detach()

    def _psi(self, batch, batch_index):
        if batch_index == 0:
            self._record = SolveRecord()
        t = to_tensors(batch, self.device_)
        with torch.no_grad():
            psi0 = self.recognition_.psi0(t.x, t.mask)
            if not torch.isfinite(psi0).all():
                raise NonFiniteError(f"{self.name}: the recognition network's ψ⁰ is not finite")
            psi, residual = unrolled_psi(self.model_, t.x, t.mask, self.config.iterations, self.config.mean_field,
                                         generator_for(self.seed_, 2, batch_index, device=self.device_),
                                         keep_graph=False, psi0=psi0)
        residual = residual.cpu().numpy()
        self._record.add(np.full(residual.shape, self.config.iterations), residual, residual <= CONVERGENCE_TOL)
        return psi.cpu().numpy()

    def _snapshot(self):
        return copy.deepcopy((self.model_.state_dict(), self.recognition_.state_dict()))

    def _restore(self, state):
        model, recognition = state
        self.model_.load_state_dict(model)
        self.recognition_.load_state_dict(recognition)

    def _method_diagnostics(self):
        return self._record.summary()

"""DiffMF (Ou et al. 2022; Alg. 1 of the paper): K unrolled mean-field steps, autodiff through them."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import torch

from setbench.protocol import Batch, MeanFieldConfig, SetFunctionConfig, SetLearner, SolveRecord, TrainConfig

from .mean_field import draw_uniforms, mean_field_step
from .set_function import SetFunction
from .training import cross_entropy, generator_for, make_optimizer, optimizer_step, seeded, to_tensors, torch_device

__all__ = ["CONVERGENCE_TOL", "DiffMFConfig", "DiffMF", "unrolled_psi"]

#: A DiffMF set counts as converged when its last unrolled step moved ψ by at most this much
#: (``‖ψ^(K) − ψ^(K−1)‖₂``): iDiffMF's default forward tolerance, so the two report alike.
CONVERGENCE_TOL = 1e-6


@dataclasses.dataclass(frozen=True, kw_only=True)
class DiffMFConfig:
    """DiffMF settings (defaults: the paper's comparison, Sec. 5.1).

    Attributes:
        iterations: ``K``, unrolled mean-field steps from ψ⁰ = 0.5 (paper: 5).
        keep_unrolled_graph: ``True`` keeps every step in the autograd graph, as the published code
            does through ``torch.bernoulli``; ``False`` detaches ψ between steps. With hard samples
            both give the same gradient; only memory and time differ. The other estimators are
            differentiable in ψ, so they need ``True`` (detaching would truncate the gradient).
    """

    model: SetFunctionConfig = SetFunctionConfig()
    mean_field: MeanFieldConfig = MeanFieldConfig()
    iterations: int = 5
    keep_unrolled_graph: bool = True
    train: TrainConfig = TrainConfig()

    def __post_init__(self):
        if not isinstance(self.iterations, int) or isinstance(self.iterations, bool) or self.iterations <= 0:
            raise ValueError(f"DiffMFConfig.iterations must be a positive integer, got {self.iterations!r}")
        if not self.keep_unrolled_graph and self.mean_field.estimator != "hard":
            raise ValueError(
                f"DiffMFConfig.keep_unrolled_graph=False detaches ψ between the unrolled steps, which leaves the "
                f"gradient unchanged only for estimator='hard'; estimator={self.mean_field.estimator!r} is "
                f"differentiable in ψ: set keep_unrolled_graph=True (e.g. --set DiffMF.keep_unrolled_graph=true)"
            )


def unrolled_psi(model: SetFunction, x: torch.Tensor, mask: torch.Tensor, iterations: int,
                 mean_field: MeanFieldConfig, generator: torch.Generator, *, keep_graph: bool,
                 psi0: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``ψ^(K)`` of Eq. (8) from ``ψ⁰`` (default 0.5 on valid positions).

    Args:
        x: float ``[B, |V|, d]``; mask: bool ``[B, |V|]``.
        keep_graph: keep all K steps in the autograd graph; otherwise only the last step carries
            gradients (earlier steps run without a graph: they enter only through the samples).

    Returns:
        ``(psi, residual)``: float ``[B, |V|]`` and the last step's size ``‖ψ^(K) − ψ^(K−1)‖₂``, ``[B]``.
    """
    a = model.element_terms(x)
    psi = 0.5 * mask.to(x.dtype) if psi0 is None else psi0
    prev = psi
    for k in range(iterations):
        needs_graph = torch.is_grad_enabled() and (keep_graph or k == iterations - 1)
        with torch.set_grad_enabled(needs_graph):
            u = draw_uniforms(generator, x.shape[0], x.shape[1], mean_field.samples, mean_field.shared_samples)
            prev, psi = psi, mean_field_step(model, a, psi, mask, u, keep_graph=keep_graph, mean_field=mean_field)
    return psi, torch.linalg.vector_norm(psi.detach() - prev.detach(), dim=-1)


class DiffMF(SetLearner):
    """DiffMF with the shared training protocol (see :class:`~setbench.protocol.SetLearner`).

    Attributes:
        model_: the fitted :class:`SetFunction`.
    """

    name = "DiffMF"

    def __init__(self, config: DiffMFConfig = DiffMFConfig()):
        super().__init__(config)

    def _initialize(self, train, seed):
        self.config.mean_field.check_ground_set(train.v_size, self.name)
        self.device_ = torch_device()
        with seeded(seed):
            self.model_ = SetFunction(train.item_shape, self.config.model, item_kind=train.item_kind).to(self.device_)
        self.optimizer_ = make_optimizer(self.model_.parameters(), self.config.train)
        self.generator_ = generator_for(seed, 1, device=self.device_)
        self.compile_seconds_ = 0.0
        self._record = SolveRecord()

    def _unroll(self, batch: Batch, generator: torch.Generator, keep_graph: bool):
        cfg = self.config
        return unrolled_psi(self.model_, batch.x, batch.mask, cfg.iterations, cfg.mean_field, generator,
                            keep_graph=keep_graph)

    def _train_step(self, batch, step):
        t = to_tensors(batch, self.device_)
        psi, _ = self._unroll(t, self.generator_, self.config.keep_unrolled_graph)
        loss = cross_entropy(psi, t.optimal, t.loss_mask)
        optimizer_step(self.optimizer_, loss, self.config.train)
        return loss.detach()

    def _psi(self, batch, batch_index):
        if batch_index == 0:
            self._record = SolveRecord()
        with torch.no_grad():
            psi, residual = self._unroll(to_tensors(batch, self.device_),
                                         generator_for(self.seed_, 2, batch_index, device=self.device_), False)
        residual = residual.cpu().numpy()
        iterations = np.full(residual.shape, self.config.iterations)
        self._record.add(iterations, residual, residual <= CONVERGENCE_TOL)
        return psi.cpu().numpy()

    def _snapshot(self):
        return copy.deepcopy(self.model_.state_dict())

    def _restore(self, state):
        self.model_.load_state_dict(state)

    def _method_diagnostics(self):
        return self._record.summary()

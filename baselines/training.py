"""PyTorch training utilities shared by DiffMF and the EquiVSet baselines.

The optimiser matches the published PyTorch code (Adam with L2 weight decay) with one published
defect fixed: gradients are clipped to global norm ``clip_norm`` at *every* step (REPRODUCTION_NOTES,
"clipping silently applied only on the first step").
"""

from __future__ import annotations

import contextlib
import os
from typing import Iterable, Iterator

import numpy as np
import torch

from setbench.protocol import Batch, TrainConfig

__all__ = ["cross_entropy", "make_optimizer", "optimizer_step", "seeded", "generator_for", "to_tensors", "torch_device"]

_EPS = 1e-12  # inside the logarithms of Eq. (4), as in the published code


def cross_entropy(psi: torch.Tensor, optimal: torch.Tensor, loss_mask: torch.Tensor) -> torch.Tensor:
    """Eq. (4): ``−Σ_j w_j [s_j log ψ_j + (1 − s_j) log(1 − ψ_j)]``, averaged over sets.

    Args:
        psi: float ``[B, |V|]``.
        optimal: float ``[B, |V|]`` 0/1 ``S*``.
        loss_mask: float ``[B, |V|]`` 0/1 weights ``w`` (``S*`` plus sampled negatives).
    """
    log_likelihood = optimal * torch.log(psi + _EPS) + (1.0 - optimal) * torch.log(1.0 - psi + _EPS)
    return -(log_likelihood * loss_mask).sum(dim=-1).mean()


def torch_device() -> torch.device:
    """Where the PyTorch baselines run: ``$SETBENCH_TORCH_DEVICE`` if set (``cpu``, ``cuda:1``, ...),
    else the first CUDA device when one is visible, else the CPU.

    An execution setting like the thread count, not a model setting: it is recorded in every
    results row (``device``) but is not part of a job's key. Random streams differ between a CPU and
    a CUDA generator, so the same seed gives other (equally valid) samples on a GPU.
    """
    return torch.device(os.environ.get("SETBENCH_TORCH_DEVICE") or ("cuda" if torch.cuda.is_available() else "cpu"))


def to_tensors(batch: Batch, device: torch.device | str = "cpu") -> Batch:
    """The same batch with torch tensors: ``x`` float32, ``mask`` bool, ``optimal``/``loss_mask`` float32."""
    x = torch.as_tensor(batch.x, device=device)
    return Batch(
        x=x,
        mask=torch.as_tensor(batch.mask, device=device),
        optimal=torch.as_tensor(batch.optimal, device=device, dtype=x.dtype),
        loss_mask=torch.as_tensor(batch.loss_mask, device=device, dtype=x.dtype),
    )


def make_optimizer(parameters: Iterable[torch.nn.Parameter], config: TrainConfig) -> torch.optim.Adam:
    return torch.optim.Adam(parameters, lr=config.learning_rate, weight_decay=config.weight_decay)


def optimizer_step(optimizer: torch.optim.Optimizer, loss: torch.Tensor, config: TrainConfig) -> None:
    """Backpropagate ``loss``, clip the global gradient norm, step, and clear the gradients."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    parameters = [p for group in optimizer.param_groups for p in group["params"]]
    torch.nn.utils.clip_grad_norm_(parameters, config.clip_norm)
    optimizer.step()


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Seed torch's global generator for a block (e.g. ``nn.Linear`` init), restoring it afterwards."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def generator_for(*key: int, device: torch.device | str = "cpu") -> torch.Generator:
    """A torch generator seeded from an integer key, e.g. ``(seed, stream, batch_index)``."""
    seed = int(np.random.SeedSequence(list(key)).generate_state(1, dtype=np.uint64)[0] >> 1)
    return torch.Generator(device=device).manual_seed(seed)

"""Framework-neutral configuration of the set function and of its mean-field estimator.

Both frameworks build the same model from these records (``setbench.baselines`` in PyTorch,
``setbench.idiffmf`` in JAX); a test checks that they agree on identical weights and samples.
"""

from __future__ import annotations

import dataclasses

from .encoders import ENCODERS

__all__ = ["SetFunctionConfig", "MeanFieldConfig"]


def _positive_int(owner: str, field: str, value) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{owner}.{field} must be a positive integer, got {value!r}")


@dataclasses.dataclass(frozen=True, kw_only=True)
class SetFunctionConfig:
    """Deep-sets energy ``F_θ(S) = ρ(Σ_{i∈S} φ(x_i))`` (Ou et al. 2022; App. I.6 of the paper).

    Attributes:
        embed_dim: output width of the element encoder ``φ``.
        encoder: ``φ``'s architecture (:mod:`setbench.protocol.encoders`): ``"auto"`` picks the one
            of the data's item kind (Linear for vectors, the CNN for images, DeepDTA for drug–target
            pairs, atomic convolutions for complexes); or one of ``ENCODERS`` by name.
        hidden_dim: width of each of ρ's hidden layers.
        num_layers: number of ``Linear(hidden_dim) + ReLU`` layers in ρ before the scalar output.
    """

    embed_dim: int = 256
    hidden_dim: int = 500
    num_layers: int = 2
    encoder: str = "auto"

    def __post_init__(self):
        for field in ("embed_dim", "hidden_dim", "num_layers"):
            _positive_int("SetFunctionConfig", field, getattr(self, field))
        if self.encoder != "auto" and self.encoder not in ENCODERS:
            raise ValueError(f"SetFunctionConfig.encoder must be 'auto' or one of {', '.join(ENCODERS)}, "
                             f"got {self.encoder!r}")


@dataclasses.dataclass(frozen=True, kw_only=True)
class MeanFieldConfig:
    """Monte Carlo estimate of ``∇_ψ F̃`` in the mean-field map of Eq. (8).

    Attributes:
        samples: ``m``, subsets sampled per coordinate (Ou et al.: 5).
        shared_samples: ``False`` (as published) draws a fresh subset per coordinate and sample,
            ``[batch, m, |V|, |V|]`` uniforms; ``True`` draws ``m`` subsets per set and reuses each
            for every coordinate, ``[batch, m, |V|]`` uniforms — the same expectation, correlated
            across coordinates, and one fresh set-function evaluation per coordinate instead of two.
    """

    samples: int = 5
    shared_samples: bool = False

    def __post_init__(self):
        _positive_int("MeanFieldConfig", "samples", self.samples)
        if not isinstance(self.shared_samples, bool):
            raise ValueError(f"MeanFieldConfig.shared_samples must be a bool, got {self.shared_samples!r}")

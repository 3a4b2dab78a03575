"""Framework-neutral configuration of the set function and of its mean-field estimator.

Both frameworks build the same model from these records (``setbench.baselines`` in PyTorch,
``setbench.idiffmf`` in JAX); tests check that they agree on identical weights and samples.
"""

from __future__ import annotations

import dataclasses
import math

from .encoders import ENCODERS

__all__ = ["ESTIMATORS", "EXACT_MAX_V_SIZE", "SetFunctionConfig", "MeanFieldConfig"]

#: Estimators of ``∇_ψ F̃`` (Eq. 6), each implemented in both frameworks:
#: ``hard`` — hard Bernoulli samples, as published (piecewise constant in ψ, so ``∂T/∂ψ = 0``);
#: ``score`` — score-function (REINFORCE) estimate with a leave-one-out baseline, unbiased for
#: ``∇_ψ F̃`` and, through its ψ-derivative, for the Hessian ``∇²_ψ F̃``;
#: ``relaxed`` — binary-concrete (Gumbel-sigmoid) memberships at temperature τ, smooth in ψ;
#: ``exact`` — enumeration of all ``2^|V|`` subsets (``|V| ≤ EXACT_MAX_V_SIZE``).
ESTIMATORS = ("hard", "score", "relaxed", "exact")

#: Largest ground set the ``exact`` estimator accepts: it evaluates F on all ``2^|V|`` subsets.
EXACT_MAX_V_SIZE = 14


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
    """The estimate of ``∇_ψ F̃`` (Eq. 6) inside the mean-field map of Eq. (8).

    Attributes:
        estimator: one of :data:`ESTIMATORS` (default ``"hard"``, as published).
        samples: ``m``, subsets sampled per coordinate (Ou et al.: 5); ``score`` needs ``m ≥ 2``
            (its baseline for one sample is the mean of the others); ``exact`` ignores it.
        shared_samples: ``False`` (as published) draws a fresh subset per coordinate and sample,
            ``[batch, m, |V|, |V|]`` uniforms; ``True`` draws ``m`` subsets per set and reuses each
            for every coordinate, ``[batch, m, |V|]`` uniforms — the same expectation, correlated
            across coordinates, and one fresh set-function evaluation per coordinate instead of two.
        temperature: τ of the ``relaxed`` estimator's binary-concrete memberships
            ``σ((logit ψ − logit u)/τ)``, which tend to the hard samples ``1[u < ψ]`` as τ → 0.
    """

    estimator: str = "hard"
    samples: int = 5
    shared_samples: bool = False
    temperature: float = 0.5

    def __post_init__(self):
        if self.estimator not in ESTIMATORS:
            raise ValueError(f"MeanFieldConfig.estimator must be one of {', '.join(ESTIMATORS)}, got {self.estimator!r}")
        _positive_int("MeanFieldConfig", "samples", self.samples)
        if not isinstance(self.shared_samples, bool):
            raise ValueError(f"MeanFieldConfig.shared_samples must be a bool, got {self.shared_samples!r}")
        if not (isinstance(self.temperature, (int, float)) and not isinstance(self.temperature, bool)
                and math.isfinite(self.temperature) and self.temperature > 0):
            raise ValueError(f"MeanFieldConfig.temperature must be a finite number > 0, got {self.temperature!r}")
        if self.estimator == "score" and self.samples < 2:
            raise ValueError(
                f"MeanFieldConfig.samples must be >= 2 for estimator='score' (leave-one-out baseline), got {self.samples!r}"
            )

    def check_ground_set(self, v_size: int, owner: str) -> None:
        """Raise if this estimator cannot handle ground sets of ``v_size`` positions.

        Args:
            v_size: ``|V|`` of the data (padded width).
            owner: the algorithm name, for the message.
        """
        if self.estimator == "exact" and v_size > EXACT_MAX_V_SIZE:
            raise ValueError(
                f"{owner}: MeanFieldConfig.estimator='exact' enumerates all 2^|V| subsets and accepts "
                f"|V| <= {EXACT_MAX_V_SIZE}; this data has |V| = {v_size}. Use a Monte Carlo estimator "
                f"('hard', 'score' or 'relaxed') or smaller ground sets."
            )

"""Oracles shared by the compound-selection tasks (BindingDB, PDBBind): affinity ranking and diversity.

* :func:`top_k` — the ``k`` best positions by a score, ties broken by position (ground sets are
  in random order, so a tied boundary is a uniformly random choice).
* :func:`diverse_exemplars` — a diversity filter after Ou et al. 2022: affinity propagation
  (scikit-learn, ``random_state`` fixed) on the Tanimoto similarity of RDKit topological
  fingerprints; the exemplars are the chosen compounds. Our choice: the similarity matrix is the
  precomputed affinity, and mol blocks are sanitised by RDKit (a set with an unparsable ligand is
  redrawn). The published code's exact clustering call may differ, so the ``*_diverse`` figures
  of Ou et al. are a reference, not a like-for-like target. RDKit and scikit-learn are imported
  only when this oracle is used.
"""

from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np

__all__ = ["top_k", "diverse_exemplars"]


def top_k(score: np.ndarray, k: int, *, largest: bool) -> np.ndarray:
    """int64 ``[k]``: positions of the ``k`` largest (or smallest) scores; ties by position.

    Args:
        score: float ``[n]``.
        k: how many to keep (``k ≤ n``).
        largest: ``True`` keeps the largest scores.
    """
    if not 0 < k <= score.shape[0]:
        raise ValueError(f"top_k: k must be in 1..{score.shape[0]}, got {k}")
    key = -score if largest else score
    return np.argsort(key, kind="stable")[:k].astype(np.int64)


def diverse_exemplars(molecules: Sequence[str], *, kind: str, seed: int) -> np.ndarray:
    """Affinity-propagation exemplars of molecules by fingerprint similarity (Ou et al. 2022).

    Args:
        molecules: SMILES strings (``kind="smiles"``) or MDL mol blocks (``kind="molblock"``).
        seed: ``random_state`` of the affinity propagation (its tie-breaking noise).

    Returns:
        int64 positions into ``molecules``; empty when a molecule does not parse or the clustering
        does not converge (the caller redraws the set, as the published code does).
    """
    from rdkit import Chem, DataStructs, RDLogger
    from sklearn.cluster import AffinityPropagation
    from sklearn.exceptions import ConvergenceWarning

    if kind not in ("smiles", "molblock"):
        raise ValueError(f"diverse_exemplars: kind must be 'smiles' or 'molblock', got {kind!r}")
    RDLogger.DisableLog("rdApp.*")
    parse = Chem.MolFromSmiles if kind == "smiles" else Chem.MolFromMolBlock
    fingerprints = []
    for text in molecules:
        mol = parse(text)
        if mol is None:
            return np.zeros(0, dtype=np.int64)
        fingerprints.append(Chem.RDKFingerprint(mol))
    similarity = np.array([DataStructs.BulkTanimotoSimilarity(fp, fingerprints) for fp in fingerprints])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # no exemplars: the caller redraws
        warnings.filterwarnings("ignore", message="All samples have mutually equal similarities")
        model = AffinityPropagation(affinity="precomputed", random_state=seed).fit(similarity)
    return np.asarray(model.cluster_centers_indices_, dtype=np.int64).reshape(-1)

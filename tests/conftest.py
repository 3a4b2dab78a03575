"""Shared fixtures: tiny datasets and a path to the real Amazon file where this checkout has it."""

from __future__ import annotations

from pathlib import Path

import pytest

from setbench.datasets import SyntheticConfig, gaussian

REPO = Path(__file__).resolve().parent.parent
SHARED_AMAZON = REPO.parent / "shared" / "data" / "amazon" / "1_100_100_100_apparel_regs.csv"


@pytest.fixture(scope="session")
def tiny_gaussian():
    """12 points per set, 3 anomalies: learnable in a few seconds."""
    return gaussian(SyntheticConfig(v_size=12, s_size=3, n_train=128, n_valid=48, n_test=64), seed=0)


@pytest.fixture
def shared_amazon_file() -> Path:
    if not SHARED_AMAZON.is_file():
        pytest.skip(f"real Amazon registry file not present at {SHARED_AMAZON} (shared data is not part of the repo)")
    return SHARED_AMAZON

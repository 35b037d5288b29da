"""Shared fixtures: small synthetic panels and a tiny, fast model configuration."""

from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd
import pytest

TINY = dict(
    model="xlstm_patch",
    model_params={"patch_len": 8, "stride": 8, "xlstm": {"embedding_dim": 16, "num_blocks": 1}},
    max_epochs=2,
    batch_size=32,
    trainer_kwargs={"limit_train_batches": 8},
)


def seasonal_panel(n_series: int = 3, lengths=(200, 240, 180), period: int = 24, noise: float = 0.3,
                   seed: int = 0, freq: str = "h") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(n_series):
        n = lengths[i % len(lengths)]
        t = np.arange(n)
        y = 10 + 3 * np.sin(2 * np.pi * (t + 3 * i) / period) + 0.01 * t + noise * rng.standard_normal(n)
        frames.append(pd.DataFrame({"unique_id": f"s{i}", "ds": pd.date_range("2024-01-01", periods=n, freq=freq),
                                    "y": y}))
    return pd.concat(frames, ignore_index=True)


@pytest.fixture
def panel() -> pd.DataFrame:
    return seasonal_panel()


@pytest.fixture
def tiny() -> dict:
    return {k: (v.copy() if isinstance(v, dict) else v) for k, v in TINY.items()}


# A seconds-long fit from the CLI: tiny xlstm_patch, one epoch of four batches.
TINY_CLI_YAML = textwrap.dedent("""
    model: xlstm_patch
    horizon: 6
    lookback: 24
    max_epochs: 1
    model_params: {patch_len: 8, stride: 8, xlstm: {embedding_dim: 16, num_blocks: 1}}
    trainer_kwargs: {limit_train_batches: 4}
""")

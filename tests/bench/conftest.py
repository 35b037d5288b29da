"""Shared fixtures: a small synthetic wide CSV and a tiny grid config."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

TINY_CONFIG = {
    "description": "tiny CI grid",
    "horizons": [12],
    "lookback": {"short": 16, "long": 24},
    "regimes": ["long"],
    "seeds": [1],
    "train": {"max_epochs": 1, "patience": 1, "batch_size": 32, "eval_batch_size": 64,
              "learning_rate": 0.001, "limit_train_batches": 2, "limit_val_batches": 2},
    "models": {
        "naive": {},
        "seasonal_naive": {"hparams": {"season_length": "auto"}},
        "dlinear": {},
        "xlstm_tiny": {"model": "xlstm_patch",
                       "hparams": {"patch_len": 8, "stride": 8,
                                   "xlstm": {"embedding_dim": 16, "num_blocks": 1,
                                             "mlstm": {"num_heads": 2}}}},
    },
}


def synthetic_frame(n: int = 400, seed: int = 0) -> pd.DataFrame:
    """Hourly 3-variable series with a daily cycle; the target ``load`` is not the last column."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    base = np.sin(2 * np.pi * t / 24)
    return pd.DataFrame({
        "date": pd.date_range("2024-01-01", periods=n, freq="h").strftime("%Y-%m-%d %H:%M:%S"),
        "a": base + 0.1 * rng.standard_normal(n),
        "load": 5 + 2 * base + 0.01 * t + 0.2 * rng.standard_normal(n),
        "b": np.cos(2 * np.pi * t / 24) + 0.1 * rng.standard_normal(n),
    })


@pytest.fixture
def synthetic_csv(tmp_path):
    path = tmp_path / "toy.csv"
    synthetic_frame().to_csv(path, index=False)
    return path


@pytest.fixture
def tiny_config(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(TINY_CONFIG))
    return path

"""Shared fixtures of the streaming tests: seasonal panels and one small fitted streaming forecaster."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import torch

from xlstm_ts import XLSTMForecaster

TINY_STREAM = dict(
    model="xlstm_stream",
    model_params={"xlstm": {"embedding_dim": 16, "num_blocks": 2, "mlstm": {"num_heads": 2, "chunk_size": 16}}},
    max_epochs=2,
    batch_size=8,
)


def seasonal_panel(lengths=(260, 300, 240), period: int = 24, noise: float = 0.3, seed: int = 0,
                   start: str = "2024-01-01", freq: str = "h") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frames = []
    for i, n in enumerate(lengths):
        t = np.arange(n)
        y = 10 + 3 * np.sin(2 * np.pi * (t + 3 * i) / period) + noise * rng.standard_normal(n)
        frames.append(pd.DataFrame({"unique_id": f"s{i}", "ds": pd.date_range(start, periods=n, freq=freq), "y": y}))
    return pd.concat(frames, ignore_index=True)


def split_tail(df: pd.DataFrame, n_new: dict[str, int]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(head, tail)``: the last ``n_new[uid]`` rows of each series go to ``tail``."""
    rank = df.groupby("unique_id").cumcount(ascending=False)
    is_new = rank < df["unique_id"].map(n_new).fillna(0)
    return df[~is_new], df[is_new]


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    return seasonal_panel()


@pytest.fixture(scope="module")
def _fitted(panel) -> tuple[XLSTMForecaster, pd.DataFrame, pd.DataFrame]:
    torch.set_num_threads(1)
    train, new = split_tail(panel, {"s0": 30, "s1": 17, "s2": 1})
    est = XLSTMForecaster(horizon=8, lookback=32, loss="quantile", quantiles=[0.1, 0.9], **TINY_STREAM)
    return est.fit(train), train, new


@pytest.fixture
def fitted(_fitted):
    """``(estimator, training frame, rows after it)``; a private copy of the estimator per test."""
    est, train, new = _fitted
    return copy.deepcopy(est), train, new

"""Lightning's precision settings train and forecast (float16 needs a larger Adam epsilon)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from xlstm_ts import XLSTMForecaster
from xlstm_ts.training.module import adam_eps


def test_adam_eps_only_grows_for_float16():
    assert adam_eps([torch.zeros(2)]) == 1e-8
    assert adam_eps([torch.zeros(2, dtype=torch.bfloat16)]) == 1e-8
    assert adam_eps([torch.zeros(2), torch.zeros(2, dtype=torch.float16)]) == 1e-4


@pytest.mark.parametrize("precision", ["16-true", "bf16-true"])
def test_true_half_precision_fits_and_forecasts(precision):
    n = 300
    df = pd.DataFrame({"unique_id": "a", "ds": pd.date_range("2020-01-01", periods=n, freq="h"),
                       "y": np.sin(np.arange(n) / 5.0)})
    est = XLSTMForecaster(horizon=8, lookback=32, model="xlstm_patch", max_epochs=3, random_state=0,
                          trainer_kwargs={"precision": precision}).fit(df)
    fc = est.predict()
    assert len(fc) == 8 and np.isfinite(fc["y_hat"]).all()

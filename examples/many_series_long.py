"""Many series of different lengths in long format (unique_id, ds, y): fit, forecast, backtest.

    python examples/many_series_long.py
"""

import numpy as np
import pandas as pd

from xlstm_ts import XLSTMForecaster
from xlstm_ts.metrics import evaluate

rng = np.random.default_rng(0)
frames = []
for i in range(20):
    n = int(rng.integers(300, 500))
    t = np.arange(n)
    y = 50 + 10 * np.sin(2 * np.pi * t / 24 + i) + 0.05 * t + rng.normal(0, 2, n)
    frames.append(pd.DataFrame({"unique_id": f"store_{i:02d}",
                                "ds": pd.date_range("2025-01-01", periods=n, freq="h"), "y": y}))
df = pd.concat(frames, ignore_index=True)

est = XLSTMForecaster(horizon=24, lookback=96, model="xlstm_patch", loss="quantile",
                      quantiles=[0.1, 0.9], max_epochs=5, random_state=0)
cv = est.cross_validation(df, n_windows=2, step=24)  # trains on the data before the first cutoff
print(evaluate(cv).tail(5).to_string(index=False))
forecast = est.predict()  # from the end of the training data
print(forecast.head())
est.plot(forecast, "runs/examples/many_series.png", unique_ids=["store_00", "store_01"])
print("plot: runs/examples/many_series.png")

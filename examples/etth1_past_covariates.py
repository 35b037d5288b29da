"""Forecast ETTh1's oil temperature (OT) from its own past alone, and with the six load series as
past-only covariates (``hist_cols``: observed with OT, unknown ahead; TSLib calls this task "MS").

    python examples/etth1_past_covariates.py

Both models are the same small ``xlstm_patch`` trained the same way; the backtest covers the first
30 days of the protocol's test rows (non-overlapping 24-hour windows). Prints MAE / MSE of OT in
degrees for each.
"""

from xlstm_ts import XLSTMForecaster
from xlstm_ts.data import load_dataset
from xlstm_ts.metrics import evaluate

df = load_dataset("ETTh1").iloc[:14400]  # the rows of the standard protocol
loads = ["HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL"]
train_end, H, n_windows = 11520, 24, 30
common = dict(horizon=H, lookback=168, target_col="OT", model="xlstm_patch", max_epochs=3, batch_size=64,
              stride=2, val_size=2880, random_state=0,
              model_params={"patch_len": 24, "stride": 24, "xlstm": {"embedding_dim": 32, "num_blocks": 1}})
backtest = df.iloc[: train_end + n_windows * H]
for name, hist_cols in (("OT alone", None), ("OT + loads (hist_cols)", loads)):
    est = XLSTMForecaster(hist_cols=hist_cols, **common).fit(df.iloc[:train_end])
    cv = est.cross_validation(backtest, n_windows=n_windows, step=H)
    scores = evaluate(cv, metrics=("mae", "mse")).set_index("unique_id").loc["overall"]
    print(f"{name:24s} MAE {scores['mae']:.3f}  MSE {scores['mse']:.3f}  ({len(cv)} forecasts)")

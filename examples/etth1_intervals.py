"""80% intervals for ETTh1's oil temperature (OT): quantile heads trained on the pinball loss
against conformal intervals around a point forecast (``conformal_windows``), and the share of
test values each interval covers.

    python examples/etth1_intervals.py

Both use the same small ``xlstm_patch``; the backtest covers 60 days of the protocol's test rows
(non-overlapping 24-hour windows). A calibrated 80% interval covers about 80% of them.
"""

from xlstm_ts import XLSTMForecaster
from xlstm_ts.data import load_dataset
from xlstm_ts.metrics import evaluate

df = load_dataset("ETTh1").iloc[:14400]  # the rows of the standard protocol
train_end, H, n_windows = 11520, 24, 60
common = dict(horizon=H, lookback=168, target_col="OT", model="xlstm_patch", max_epochs=3, batch_size=64,
              stride=2, val_size=2880, random_state=0, quantiles=[0.1, 0.9],
              model_params={"patch_len": 24, "stride": 24, "xlstm": {"embedding_dim": 32, "num_blocks": 1}})
backtest = df.iloc[: train_end + n_windows * H]
for name, params in (("quantile heads (pinball loss)", dict(loss="quantile")),
                     ("conformal, 30 windows (MSE loss)", dict(loss="mse", conformal_windows=30))):
    est = XLSTMForecaster(**params, **common).fit(df.iloc[:train_end])
    cv = est.cross_validation(backtest, n_windows=n_windows, step=H)
    scores = evaluate(cv, metrics=("mae", "pinball", "coverage")).set_index("unique_id").loc["overall"]
    width = (cv["y_hat_q0.9"] - cv["y_hat_q0.1"]).mean()
    print(f"{name:34s} coverage of the 80% interval {scores['coverage_80']:.1%}  mean width {width:.2f}  "
          f"pinball {scores['pinball']:.3f}  MAE {scores['mae']:.3f}")

"""Multivariate ETTh1 (7 variables, wide format), variate-mixing xLSTM, save and reload.

    python examples/etth1_multivariate.py
"""

from xlstm_ts import XLSTMForecaster
from xlstm_ts.data import load_dataset
from xlstm_ts.metrics import evaluate

df = load_dataset("ETTh1").iloc[:14400]  # the rows of the standard protocol
train, test_windows = df.iloc[:11520], 10
est = XLSTMForecaster(horizon=96, lookback=336, model="xlstm_mixer", max_epochs=3, batch_size=64,
                      val_size=2880, random_state=0)
est.fit(train)
cv = est.cross_validation(df.iloc[: 11520 + test_windows * 96], n_windows=test_windows, step=96)
print(evaluate(cv).to_string(index=False))
est.save("runs/examples/etth1_mixer")
again = XLSTMForecaster.load("runs/examples/etth1_mixer")
assert again.predict().equals(est.predict())
print("saved and reloaded: runs/examples/etth1_mixer")

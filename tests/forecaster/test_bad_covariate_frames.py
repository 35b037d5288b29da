"""Bad ``futr_df`` / ``static_df`` at ``predict``: one clear error naming the problem, never a
forecast made from wrong or missing covariates (the property tests cover ``df`` only)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from xlstm_ts import XLSTMForecaster

from .conftest import TINY, seasonal_panel

pytestmark = pytest.mark.one_thread  # tiny models (tests/conftest.py)

H = 6


@pytest.fixture(scope="module")
def fitted():
    df = seasonal_panel()
    df["promo"] = (np.arange(len(df)) % 7 == 0).astype(float)
    static = pd.DataFrame({"unique_id": ["s0", "s1", "s2"], "size": [1.0, 2.0, 3.0]})
    params = {**TINY, "max_epochs": 1, "trainer_kwargs": {"limit_train_batches": 2}}
    est = XLSTMForecaster(horizon=H, lookback=24, futr_cols=["promo"], **params).fit(df, static_df=static)
    return est, df, static


def _future(df: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for uid, g in df.groupby("unique_id"):
        ds = pd.date_range(g["ds"].max() + pd.Timedelta(hours=1), periods=H, freq="h")
        rows.append(pd.DataFrame({"unique_id": uid, "ds": ds, "promo": 1.0}))
    return pd.concat(rows, ignore_index=True)


def _set(frame: pd.DataFrame, row: int, col: str, value) -> pd.DataFrame:
    out = frame.copy()
    if not isinstance(value, float):
        out[col] = out[col].astype(object)
    out.loc[row, col] = value
    return out


BAD_FUTR = {
    "NaN value": (lambda f: _set(f, 3, "promo", np.nan), ValueError, "NaN or inf future covariates for series 's0'"),
    "inf value": (lambda f: _set(f, 8, "promo", np.inf), ValueError, "NaN or inf future covariates for series 's1'"),
    "missing column": (lambda f: f.drop(columns="promo"), ValueError, "promo"),
    "missing timestamp": (lambda f: f.drop(index=2), ValueError, "lacks future covariates for series 's0'"),
    "duplicate row": (lambda f: pd.concat([f, f.iloc[[4]]]), ValueError, "several rows for series 's0'"),
    "text values": (lambda f: f.assign(promo="yes"), (TypeError, ValueError), "promo"),
    "time zone": (lambda f: f.assign(ds=f["ds"].dt.tz_localize("UTC")), TypeError, "time zone"),
    "no id column": (lambda f: f.drop(columns="unique_id"), ValueError, "unique_id"),
    "empty frame": (lambda f: f.iloc[:0], ValueError, "futr_df is empty .* future covariates of every series"),
}


@pytest.mark.parametrize("case", sorted(BAD_FUTR))
def test_bad_futr_df_is_a_clear_error(fitted, case):
    est, df, static = fitted
    make, error, message = BAD_FUTR[case]
    with pytest.raises(error, match=message):
        est.predict(futr_df=make(_future(df)))


def test_good_futr_df_in_any_row_order_with_extra_rows_forecasts(fitted):
    est, df, _ = fitted
    future = _future(df)
    extra = future.assign(ds=future["ds"] + pd.Timedelta(hours=H), promo=0.0)  # later rows are ignored
    shuffled = pd.concat([future, extra]).sample(frac=1.0, random_state=0)
    a, b = est.predict(futr_df=future), est.predict(futr_df=shuffled)
    pd.testing.assert_frame_equal(a, b)


def test_bad_static_df_at_predict_is_a_clear_error(fitted):
    est, df, static = fitted
    future = _future(df)
    with pytest.raises(ValueError, match="s2"):
        est.predict(df, futr_df=future, static_df=static[static["unique_id"] != "s2"])
    with pytest.raises(ValueError, match="size"):
        est.predict(df, futr_df=future, static_df=static.assign(size=np.nan))

"""Every kind of bad input reaches the user as a clear ValueError/TypeError from fit/predict."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from xlstm_ts import XLSTMForecaster

from .conftest import seasonal_panel


def est(tiny, **kw):
    return XLSTMForecaster(**{"horizon": 6, "lookback": 24, **tiny, **kw})


def _panel():
    return seasonal_panel(n_series=2, lengths=(120, 100))


CASES = {
    "nan": (lambda d: d.assign(y=d["y"].where(d.index != 30)), ValueError, r"NaN.*s0|s0.*NaN"),
    "inf": (lambda d: d.assign(y=d["y"].where(d.index != 40, np.inf)), ValueError, r"inf"),
    "duplicate": (lambda d: pd.concat([d, d.iloc[[5]]]).sort_values(["unique_id", "ds"], kind="stable"),
                  ValueError, r"duplicate"),
    "unsorted": (lambda d: d.iloc[::-1], ValueError, r"sort"),
    "gap": (lambda d: d.drop(index=[50, 51]), ValueError, r"missing|gap"),
    "too_short": (lambda d: d[d["ds"] < d["ds"].min() + pd.Timedelta(hours=20)], ValueError, r"short|rows"),
    "missing_column": (lambda d: d.drop(columns="y"), ValueError, r"'y'"),
    "unknown_column": (lambda d: d.assign(extra=1.0), ValueError, r"extra"),
    "non_numeric": (lambda d: d.assign(y=d["y"].astype(str)), TypeError, r"numeric"),
    "empty": (lambda d: d.iloc[:0], ValueError, r"empty"),
    "not_a_frame": (lambda d: d.to_numpy(), TypeError, r"DataFrame"),
    "mixed_tz": (lambda d: d.assign(ds=pd.Series(list(d["ds"].iloc[:100].dt.tz_localize("UTC")) + list(d["ds"].iloc[100:]),
                                                  dtype=object)), TypeError, r"time zone|timezone|tz"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_has_a_clear_error(case, tiny):
    make, exc, pattern = CASES[case]
    with pytest.raises(exc, match=pattern):
        est(tiny).fit(make(_panel()))


def test_fill_strategy_accepts_nan(tiny):
    d = _panel()
    d.loc[30, "y"] = np.nan
    pred = est(tiny, fill="interpolate").fit(d).predict()
    assert np.isfinite(pred["y_hat"]).all()


def test_fill_missing_reindexes_gaps(tiny):
    d = _panel().drop(index=[50, 51])
    pred = est(tiny, fill_missing=True, fill="ffill").fit(d).predict()
    assert np.isfinite(pred["y_hat"]).all()


def test_constant_series_no_nan(tiny):
    d = _panel()
    d.loc[d.unique_id == "s1", "y"] = 5.0
    pred = est(tiny).fit(d).predict()
    assert np.isfinite(pred["y_hat"]).all()
    assert np.allclose(pred.loc[pred.unique_id == "s1", "y_hat"], 5.0, atol=1.0)


def test_extreme_magnitudes_no_nan(tiny):
    d = _panel()
    d["y"] = d["y"] * 1e25
    pred = est(tiny).fit(d).predict()
    assert np.isfinite(pred["y_hat"]).all()


@pytest.mark.parametrize("param,value,msg", [
    ("horizon", 0, "horizon"), ("lookback", -3, "lookback"), ("quantiles", [0.1, 1.5], "quantiles"),
    ("loss", "quantile", "quantiles"), ("model", "nope", "nope"), ("val_size", -1, "val_size"),
])
def test_bad_parameters(tiny, param, value, msg):
    with pytest.raises(ValueError, match=msg):
        est(tiny, **{param: value}).fit(_panel())


def test_predict_history_too_short(tiny):
    e = est(tiny).fit(_panel())
    with pytest.raises(ValueError, match="short|rows"):
        e.predict(_panel().groupby("unique_id").head(10))


def test_wrong_channel_count_at_predict(tiny):
    e = est(tiny).fit(_panel())
    wide = pd.DataFrame({"a": np.arange(50.0), "b": np.arange(50.0)},
                        index=pd.date_range("2024-01-01", periods=50, freq="h", name="ds"))
    with pytest.raises(ValueError, match="channel"):
        e.predict(wide)

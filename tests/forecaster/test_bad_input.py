"""Every kind of bad input reaches the user as a clear ValueError/TypeError from fit/predict."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from xlstm_ts import XLSTMForecaster

from .conftest import TINY, seasonal_panel


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
    # names only remedies the estimator has (it has no extra_cols parameter; from_long has)
    "unknown_column": (lambda d: d.assign(extra=1.0), ValueError,
                       r"'extra'.*futr_cols=\[\.\.\.\] or drop the columns \(xlstm_ts\.data\.from_long"),
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
    ("valid_loss", "quantile", "valid_loss"),
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


# ---------------------------------------------------------------------------------------------
# Regressions found by the property tests (test_bad_input_properties.py): each input used to end
# in another exception type, a NaN/garbage forecast or a misleading message.


def _fitted(**kw):
    # Only validation and the output are under test here: one short epoch is enough.
    quick = {**TINY, "max_epochs": 1, "trainer_kwargs": {"limit_train_batches": 2}}
    return XLSTMForecaster(**{"horizon": 6, "lookback": 24, **quick, **kw}).fit(_panel())


@pytest.fixture(scope="module")
def fitted():
    """One tiny model without calendar features (forecasts series of any frequency)."""
    return _fitted(calendar=False)


@pytest.fixture(scope="module")
def fitted_calendar():
    """One tiny hourly model with calendar features."""
    return _fitted()


def _one(ds, y=None, uid="new"):
    y = np.sin(np.arange(len(ds))) if y is None else y
    return pd.DataFrame({"unique_id": uid, "ds": ds, "y": y})


def test_nanosecond_frequency_is_regular(fitted):
    # Was IndexError: the 1 ns step was rounded to 0 us, so every series looked irregular.
    ds = pd.to_datetime(np.arange(30), unit="ns")
    pred = fitted.predict(_one(ds))
    assert list(pred["ds"]) == list(pd.date_range(ds[-1], periods=7, freq="ns")[1:])


def test_epoch_integers_as_steps(fitted):
    # Was MemoryError (a grid of 1e13 steps was materialised to describe the gaps).
    ds = 1_700_000_000_000_000_000 + 3_600_000_000_000 * np.arange(30)
    with pytest.raises(ValueError, match=r"advance by 1: series 'new'.*advances by 3600000000000.*unit="):
        fitted.predict(_one(ds))


def test_fill_missing_refuses_absurd_gap(tiny):
    # Was MemoryError: fill_missing=True tried to insert ~1e12 rows.
    df = _one(np.r_[np.arange(20), np.arange(20) + 10**12])
    with pytest.raises(ValueError, match=r"'new'.*would insert \d+ rows"):
        est(tiny, calendar=False, fill="zero", fill_missing=True).fit(df)


def test_uint64_steps_beyond_int64(fitted):
    # Were silently wrapped to negative steps (forecast at -9223372036854775778 ...).
    ds = np.arange(30, dtype=np.uint64) + np.uint64(2**63)
    with pytest.raises(ValueError, match=r"int64"):
        fitted.predict(_one(ds))


def test_forecast_steps_beyond_int64(fitted):
    # Was OverflowError ("Python int too large to convert to C long") building the output.
    ds = np.iinfo(np.int64).max - 29 + np.arange(30)
    with pytest.raises(ValueError, match=r"'new'.*int64"):
        fitted.predict(_one(ds))


def test_forecast_timestamps_beyond_nanosecond_range(fitted):
    # Was pandas' OutOfBoundsDatetime ("Out of bounds nanosecond timestamp: 9223372800000000000").
    ds = pd.date_range(end="2262-04-11 23:00", periods=30, freq="h").as_unit("ns")
    with pytest.raises(ValueError, match=r"series 'new'.*beyond.*as_unit\('s'\)"):
        fitted.predict(_one(ds))
    # The same series in second resolution is forecast.
    pred = fitted.predict(_one(ds.as_unit("s")))
    assert pred["ds"].iloc[-1] == pd.Timestamp("2262-04-12 05:00")


def test_complex_target(fitted):
    # Was accepted: the imaginary part was dropped silently (ComplexWarning).
    with pytest.raises(TypeError, match=r"'y' has complex dtype"):
        fitted.predict(_one(pd.date_range("2024-01-01", periods=30, freq="h"), np.ones(30) + 1j))


def test_values_beyond_float32(tiny):
    # Was "has NaN or inf values ... has inf" for data without inf (1e300 overflowed in the cast),
    # and with fill=... the values were silently replaced.
    df = _panel()
    df.loc[df.index[7], "y"] = 1e300
    for kw in ({}, {"fill": "ffill"}):
        with pytest.raises(ValueError, match=r"'y' has values too large for float32.*1e\+300.*series 's0'"):
            est(tiny, **kw).fit(df)


def test_known_series_far_outside_its_fitted_scale(fitted):
    # Was FloatingPointError("non-finite forecast for series 's0'; please report this").
    d = _panel()
    d["y"] = d["y"] * 1e30
    with pytest.raises(ValueError, match=r"series 's0'.*times the scale.*new unique_id"):
        fitted.predict(d)
    # Under new ids the series are scaled by their own history and forecast.
    pred = fitted.predict(d.assign(unique_id=d["unique_id"] + "_big"))
    assert np.isfinite(pred["y_hat"]).all() and pred["y_hat"].abs().max() > 1e28


@pytest.mark.parametrize("kw,make_y", [
    ({}, lambda n: np.r_[np.zeros(n - 3), np.full(3, 1e30)]),  # outlier in the validation span
    ({"scaler": "robust"}, lambda n: np.r_[np.zeros(10), 1e30, np.zeros(n - 11)]),  # IQR 0
    ({"scaler": "none"}, lambda n: 1e30 * np.sin(np.arange(n))),
], ids=["validation-span", "robust", "none"])
def test_outliers_that_overflow_float32_training(tiny, kw, make_y):
    # Was FloatingPointError("val_loss/train_loss loss is inf at epoch 0") from Lightning.
    df = _one(pd.date_range("2024-01-01", periods=80, freq="h"), make_y(80))
    with pytest.raises(ValueError, match=r"series 'new' has value [-+.e0-9]+ at .*float32"):
        est(tiny, **kw).fit(df)


@pytest.mark.parametrize("ds", [
    np.arange(40),
    pd.date_range("2024-01-01", periods=40, freq="D"),
    pd.date_range("2024-01-01", periods=40, freq="15min"),
], ids=["steps", "daily", "15min"])
def test_other_frequency_than_fit_with_calendar(fitted_calendar, ds):
    # Was "X has 3 channels but the scaler was fitted on 4" or "future covariates are required".
    with pytest.raises(ValueError, match=r"series 'new'.*fitted on data at frequency 'h'.*calendar=False"):
        fitted_calendar.predict(_one(ds))


def test_yearly_data_with_calendar(tiny):
    # Was sklearn's "Found array with 0 feature(s)": yearly data has no calendar feature.
    df = _one(pd.date_range("1950-12-31", periods=40, freq="YE"), np.arange(40.0))
    pred = est(tiny, horizon=2, lookback=8).fit(df).predict()
    assert np.isfinite(pred["y_hat"]).all()
    assert list(pred["ds"]) == list(pd.date_range("1990-12-31", periods=2, freq="YE"))


def test_unhashable_ids(fitted):
    # Was a bare "unhashable type: 'list'".
    df = _one(pd.date_range("2024-01-01", periods=30, freq="h"))
    df["unique_id"] = [[1, 2]] * 30
    with pytest.raises(TypeError, match=r"id column 'unique_id'.*astype\(str\)"):
        fitted.predict(df)


def test_multiindex_columns(fitted):
    # Was pandas' "Length of values (3) does not match length of index (6)" building the output.
    df = pd.DataFrame({("x", "ds"): np.arange(30), ("x", "y"): np.arange(30.0)})
    with pytest.raises(ValueError, match=r"MultiIndex columns.*flatten"):
        fitted.predict(df)


def test_mixed_zones_with_a_filtered_index(fitted):
    # Was KeyError: the offending rows were looked up by label in a frame whose index had gaps.
    ds = list(pd.date_range("2024-01-01", periods=30, freq="h", tz="UTC"))
    ds[3] = ds[3].tz_localize(None)
    df = _one(pd.Series(ds, dtype=object)).iloc[2:]
    with pytest.raises(TypeError, match=r"mixes timezone-aware and naive"):
        fitted.predict(df)


def test_calendar_steps_across_ambiguous_dst_time(fitted):
    # Month ends at 01:00 in New York: 1951-09-30 01:00 happened twice. Was pandas' "Cannot infer
    # dst time from 1951-09-30 01:00:00" while checking the grid.
    from xlstm_ts.data.validation import date_grid

    ds = date_grid(pd.Timestamp("1949-01-31 01:00", tz="America/New_York"),
                   pd.tseries.frequencies.to_offset("ME"), periods=40)
    pred = fitted.predict(_one(ds))
    assert np.isfinite(pred["y_hat"]).all()
    assert pred["ds"].iloc[0] == pd.Timestamp("1952-05-31 01:00", tz="America/New_York")


def test_refit_on_data_with_another_channel_count_starts_over(tiny):
    """fit() resets the estimator (scikit-learn semantics): a second fit on series with more
    channels must not be checked against the first model; predict on the new model must be."""
    import numpy as np
    import pandas as pd

    from xlstm_ts import XLSTMForecaster

    rng = np.random.default_rng(0)
    ds = pd.date_range("2024-01-01", periods=160, freq="h")
    one = pd.DataFrame({"a": rng.normal(size=160)}, index=ds)
    two = one.assign(b=rng.normal(size=160))
    est = XLSTMForecaster(horizon=4, lookback=16, **tiny).fit(one)
    est.fit(two)
    assert est.spec_.n_channels == 2
    assert len(est.predict()) == 2 * 4
    with pytest.raises(ValueError, match="fitted on series with 2 channel"):
        est.predict(one)

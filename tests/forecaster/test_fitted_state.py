"""A fitted estimator forecasts with what it was fitted on: parameters changed after fit,
time zones through save/load and update, static covariates, timestamps off the grid, NumPy
parameters, file input and the wide-frame variants (each case found by a user-side audit)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import ParameterGrid

from xlstm_ts import XLSTMForecaster

from .conftest import seasonal_panel

FAST = {"max_epochs": 1, "trainer_kwargs": {"limit_train_batches": 2}}


def est(tiny, **kw) -> XLSTMForecaster:
    params = {**tiny, **FAST, "horizon": 6, "lookback": 24, **kw}
    return XLSTMForecaster(**params)


def next_rows(df: pd.DataFrame, n: int, freq: str) -> pd.DataFrame:
    """``n`` rows continuing every series of ``df``."""
    rows = []
    for uid, g in df.groupby("unique_id"):
        ds = pd.date_range(g["ds"].iloc[-1], periods=n + 1, freq=freq)[1:]
        rows.append(pd.DataFrame({"unique_id": uid, "ds": ds, "y": 10.0}))
    return pd.concat(rows, ignore_index=True)


@pytest.fixture(scope="module")
def quantile_model():
    from .conftest import TINY

    tiny = {k: (v.copy() if isinstance(v, dict) else v) for k, v in TINY.items()}
    return est(tiny, loss="quantile", quantiles=[0.1, 0.9]).fit(seasonal_panel())


@pytest.mark.parametrize("param,value", [
    ("quantiles", [0.2, 0.8]), ("quantiles", [0.05, 0.5, 0.95]), ("horizon", 12), ("lookback", 48),
    ("calendar", False), ("loss", "mse"),
])
def test_parameters_changed_after_fit_are_refused_not_used(quantile_model, param, value, tmp_path):
    fitted = quantile_model.get_params()[param]
    quantile_model.set_params(**{param: value})
    try:
        for call in (quantile_model.predict, lambda: quantile_model.save(tmp_path / "m")):
            with pytest.raises(ValueError, match=f"{param} was changed after fit"):
                call()
    finally:
        quantile_model.set_params(**{param: fitted})
    pred = quantile_model.predict()  # set back: forecasts again, with the fitted labels
    assert [c for c in pred.columns if "_q" in c] == ["y_hat_q0.1", "y_hat_q0.9"]


def test_quantiles_as_an_array_and_numpy_ints_from_a_parameter_grid(tiny):
    grid = ParameterGrid({"horizon": np.array([6]), "batch_size": np.array([16])})
    params = next(iter(grid))
    assert isinstance(params["horizon"], np.integer)
    model = est(tiny, loss="quantile", quantiles=np.array([0.1, 0.9]), **params).fit(seasonal_panel())
    pred = model.predict()
    assert len(pred) == 3 * 6 and {"y_hat_q0.1", "y_hat_q0.9"} <= set(pred.columns)
    with pytest.warns(UserWarning, match="in-sample"):  # cutoffs inside the fitted data
        cv = model.cross_validation(seasonal_panel(), n_windows=np.int64(2), step=np.int64(3))
    assert (cv.groupby("unique_id")["cutoff"].nunique() == 2).all()


def test_time_zone_survives_save_and_load(tiny, tmp_path):
    # Daily data across the autumn DST change: a fixed UTC offset would shift every date by 1 h.
    df = seasonal_panel(n_series=2, lengths=(100, 90), freq="D")
    df["ds"] = df["ds"].dt.tz_localize("Europe/Berlin")
    model = est(tiny).fit(df)
    loaded = XLSTMForecaster.load(model.save(tmp_path / "m"))
    a, b = model.predict(), loaded.predict()
    assert str(b["ds"].dt.tz) == "Europe/Berlin"
    pd.testing.assert_frame_equal(a, b)
    new = next_rows(df, 2, "D")
    pd.testing.assert_frame_equal(model.update(new).predict(), loaded.update(new).predict())


def test_update_in_another_time_zone_is_refused(tiny):
    df = seasonal_panel(n_series=2, lengths=(100, 90))
    df["ds"] = df["ds"].dt.tz_localize("America/New_York")
    model = est(tiny).fit(df)
    before = model.predict()
    new = next_rows(df, 2, "h")
    with pytest.raises(ValueError, match="time zone America/New_York.*UTC.*tz_convert"):
        model.update(new.assign(ds=new["ds"].dt.tz_convert("UTC")))
    with pytest.raises(ValueError, match="time zone America/New_York.*None"):
        model.update(new.assign(ds=new["ds"].dt.tz_localize(None)))
    pd.testing.assert_frame_equal(model.predict(), before)  # nothing changed
    model.update(new)


@pytest.mark.parametrize("freq,good,bad", [
    ("ME", "2006-09-30", "2006-09-01"),   # a month end is expected; the 1st is off the grid
    ("B", "2024-01-08", "2024-01-06"),    # Friday -> Monday; a Saturday is not a business day
])
def test_one_off_grid_row_is_an_error_not_moved_onto_the_grid(tiny, freq, good, bad):
    start = "2000-01-31" if freq == "ME" else "2023-09-12"
    df = seasonal_panel(n_series=2, lengths=(80, 70), freq=freq)
    df["ds"] = df.groupby("unique_id")["ds"].transform(
        lambda d: pd.date_range(end=good, periods=len(d) + 1, freq=freq)[:-1])
    assert pd.Timestamp(start) <= df["ds"].min()
    model = est(tiny, horizon=4, lookback=16, calendar=False).fit(df)
    row = pd.DataFrame({"unique_id": ["s0"], "ds": [pd.Timestamp(bad)], "y": [1.0]})
    with pytest.raises(ValueError, match=f"{bad}.*not on the '{freq}' grid"):
        model.update(row)
    model.update(row.assign(ds=pd.Timestamp(good)))
    assert model.history_[0].ds[-1] == pd.Timestamp(good)


def test_static_covariates_must_match_the_fit(tiny):
    df = seasonal_panel()
    static = pd.DataFrame({"unique_id": ["s0", "s1", "s2"], "size": [1.0, 2.0, 3.0]})
    model = est(tiny, calendar=False).fit(df, static_df=static)
    with pytest.raises(ValueError, match=r"fitted with static covariates \['size'\]: pass static_df"):
        model.predict(df)
    with pytest.raises(ValueError, match=r"static_df has columns \['other'\]; .* fitted with \['size'\]"):
        model.predict(df, static_df=static.rename(columns={"size": "other"}))
    with pytest.raises(ValueError, match="fitted with static covariates"):
        model.cross_validation(df, n_windows=2)
    assert len(model.predict(df, static_df=static)) == 18
    plain = est(tiny, calendar=False).fit(df)
    with pytest.raises(ValueError, match="fitted without static covariates"):
        plain.predict(df, static_df=static)


def test_messages_name_the_length_each_call_needs(tiny, panel):
    model = est(tiny).fit(panel)
    short = panel.groupby("unique_id").head(10)
    with pytest.raises(ValueError, match=r"fewer than 24 rows \(lookback\)"):
        model.predict(short)
    with pytest.raises(ValueError, match=r"fewer than 144 rows \(lookback \+ horizon \+ \(n_windows - 1\) \* step\)"):
        model.cross_validation(panel.groupby("unique_id").head(120), n_windows=20)


def test_cross_validation_refuses_input_columns_it_would_overwrite(tiny, panel):
    model = est(tiny, time_col="cutoff")
    with pytest.raises(ValueError, match=r"rename the input column\(s\) \['cutoff'\]"):
        model.cross_validation(panel.rename(columns={"ds": "cutoff"}), n_windows=2)


def test_predict_after_fitting_cross_validation_starts_at_the_end_of_the_data(tiny, panel):
    model = est(tiny)
    cv = model.cross_validation(panel, n_windows=2)
    ends = panel.groupby("unique_id")["ds"].max()
    pred = model.predict()
    first = pred.groupby("unique_id")["ds"].min()
    assert (first == ends + pd.Timedelta(hours=1)).all()
    assert (cv.groupby("unique_id")["ds"].max() == ends).all()


def test_csv_files_with_text_dates_and_wide_future_covariates(tiny, tmp_path):
    df = seasonal_panel(n_series=1, lengths=(150,))
    wide = df.pivot(index="ds", columns="unique_id", values="y").rename(columns={"s0": "load"})
    wide["temp"] = np.cos(np.arange(len(wide)) / 5.0)
    wide["promo"] = (np.arange(len(wide)) % 7 == 0).astype(float)
    path = tmp_path / "wide.csv"
    wide.reset_index().to_csv(path, index=False)  # ds is text in the file
    model = est(tiny, target_col="load", futr_cols=["promo"]).fit(path)
    assert model.history_[0].channel_names == ("load",)  # temp is neither target nor covariate
    future = pd.DataFrame({"promo": 1.0}, index=pd.date_range(wide.index[-1], periods=7, freq="h")[1:])
    future.index.name = "ds"
    fpath = tmp_path / "future.csv"
    future.reset_index().to_csv(fpath, index=False)
    a, b = model.predict(futr_df=future), model.predict(futr_df=fpath)
    pd.testing.assert_frame_equal(a, b)
    assert list(a["unique_id"].unique()) == ["load"] and len(a) == 6
    with pytest.raises(FileNotFoundError, match="no such file"):
        model.predict(tmp_path / "missing.parquet")


def test_offset_frequency_saves(tiny, panel, tmp_path):
    model = est(tiny, freq=pd.offsets.Hour()).fit(panel)
    loaded = XLSTMForecaster.load(model.save(tmp_path / "m"))
    assert loaded.freq == "h"
    pd.testing.assert_frame_equal(model.predict(), loaded.predict())


@pytest.mark.parametrize("param,value,msg", [
    ("learning_rate", "0.01", "learning_rate must be a positive number"),
    ("learning_rate", 0.0, "learning_rate must be a positive number"),
    ("weight_decay", -1.0, "weight_decay must be a number >= 0"),
    ("quantiles", 0.1, "quantiles must be a list"),
    ("trainer_kwargs", {"max_epochs": 2}, "trainer_kwargs must not hold max_epochs"),
])
def test_bad_training_parameters(tiny, panel, param, value, msg):
    kw = {"loss": "quantile"} if param == "quantiles" else {}
    with pytest.raises(ValueError, match=msg):
        est(tiny, **kw, **{param: value}).fit(panel)


def test_baselines_without_parameters_refuse_quantiles(panel):
    with pytest.raises(ValueError, match="nothing to learn"):
        XLSTMForecaster(horizon=6, lookback=24, model="naive", loss="quantile", quantiles=[0.1, 0.9]).fit(panel)


def test_integer_ids_come_back_as_integers(tiny, panel, tmp_path):
    df = panel.assign(unique_id=panel["unique_id"].str[1:].astype("int64"))
    model = est(tiny).fit(df)
    with pytest.warns(UserWarning, match="in-sample"):  # cutoffs inside the fitted data
        cv = model.cross_validation(df, n_windows=2)
    assert cv["unique_id"].dtype == "int64"
    assert len(cv.merge(df, on=["unique_id", "ds"], suffixes=("", "_in"))) == len(cv)
    loaded = XLSTMForecaster.load(model.save(tmp_path / "m"))
    for pred in (model.predict(), model.predict(df), loaded.predict()):
        assert pred["unique_id"].dtype == "int64" and set(pred["unique_id"]) == {0, 1, 2}

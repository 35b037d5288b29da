"""Regressions from a second user-side audit: ``cross_validation`` of a fitted model warns when its
scores are in-sample, CSV files keep text series ids, a ``RandomState``
as ``random_state`` and quantile levels with colliding column names are refused up front."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from xlstm_ts import XLSTMForecaster
from xlstm_ts.data import TimeSeries, predictions_frame, read_series_file
from xlstm_ts.tuning.runner import _read_data

FAST = {"model": "dlinear", "horizon": 4, "lookback": 8, "max_epochs": 1, "batch_size": 8, "calendar": False,
        "trainer_kwargs": {"limit_train_batches": 2, "logger": False, "enable_checkpointing": False,
                           "enable_model_summary": False}}
IN_SAMPLE = "in-sample"  # a phrase of the cross_validation warning


pytestmark = pytest.mark.one_thread  # tiny models (tests/conftest.py)


def panel(n: int = 60, ids=("s0", "s1")) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.concat([pd.DataFrame({"unique_id": uid, "ds": pd.date_range("2024-01-01", periods=n, freq="h"),
                                    "y": np.sin(np.arange(n) / 4) + i + 0.1 * rng.standard_normal(n)})
                      for i, uid in enumerate(ids)], ignore_index=True)


def in_sample_warnings(call) -> list[warnings.WarningMessage]:
    """Run ``call()`` and return its in-sample warnings (Lightning may add unrelated ones)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        call()
    return [w for w in caught if issubclass(w.category, UserWarning) and IN_SAMPLE in str(w.message)]


# ---------------------------------------------------------------- 1. in-sample cross_validation

def test_cross_validation_of_a_model_fitted_on_the_same_data_warns_and_keeps_its_results(tmp_path):
    df = panel()
    est = XLSTMForecaster(**FAST).fit(df)
    with pytest.warns(UserWarning, match=r"4 of 4 windows .* in-sample") as rec:
        cv = est.cross_validation(df, n_windows=2)
    warning = next(w for w in rec if IN_SAMPLE in str(w.message))
    assert warning.filename == __file__  # points at the user's call
    assert "refit=" in str(warning.message) and "unfitted estimator" in str(warning.message)
    # Only a warning: the forecasts are those of the fitted model, as before.
    last = cv[cv["cutoff"] == cv["cutoff"].max()].drop(columns=["cutoff", "y"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(last, est.predict(df.groupby("unique_id").head(56)))
    # The end of the fitted data is saved with the model.
    est.save(tmp_path / "m")
    loaded = XLSTMForecaster.load(tmp_path / "m")
    assert loaded.fit_end_ == est.fit_end_ == {"s0": df["ds"].iloc[59], "s1": df["ds"].iloc[59]}
    assert len(in_sample_warnings(lambda: loaded.cross_validation(df, n_windows=2))) == 1


def test_cross_validation_without_leak_does_not_warn():
    df = panel()
    est = XLSTMForecaster(**FAST)
    assert not in_sample_warnings(lambda: est.cross_validation(df, n_windows=2))  # unfitted: trains first
    assert not in_sample_warnings(lambda: est.cross_validation(df, n_windows=2))  # cutoffs from its fitted end on
    assert not in_sample_warnings(lambda: XLSTMForecaster(**FAST).fit(df).cross_validation(df, n_windows=2,
                                                                                            refit=True))


def test_cross_validation_after_the_fitted_data_does_not_warn_even_after_update():
    df = panel()
    first = df.groupby("unique_id").head(52)  # the 8 last rows (2 windows of 4) are not fitted on
    est = XLSTMForecaster(**FAST).fit(first)
    assert not in_sample_warnings(lambda: est.cross_validation(df, n_windows=2))
    # update() extends the history, not the data the model was fitted on.
    est.update(df.groupby("unique_id").tail(8))
    assert not in_sample_warnings(lambda: est.cross_validation(df, n_windows=2))
    warned = in_sample_warnings(lambda: est.cross_validation(df, n_windows=3))  # one cutoff per series inside
    assert len(warned) == 1 and "2 of 6 windows" in str(warned[0].message)


# ---------------------------------------------------------------- 3. CSV series ids

def test_csv_keeps_text_ids_with_leading_zeros(tmp_path):
    df = panel(40, ids=("001", "002"))
    df.to_csv(tmp_path / "ids.csv", index=False)
    est = XLSTMForecaster(**FAST).fit(tmp_path / "ids.csv")
    assert est.predict()["unique_id"].unique().tolist() == ["001", "002"]
    # Read as the estimator and the tuner read it (the tuner with its id_col).
    assert read_series_file(tmp_path / "ids.csv")["unique_id"].unique().tolist() == ["001", "002"]
    assert _read_data(str(tmp_path / "ids.csv"), {})["unique_id"].unique().tolist() == ["001", "002"]


def test_csv_ids_that_differ_only_in_leading_zeros_stay_two_series(tmp_path):
    panel(40, ids=("1", "01")).to_csv(tmp_path / "ids.csv", index=False)
    forecast = XLSTMForecaster(**FAST).fit(tmp_path / "ids.csv").predict()
    assert sorted(forecast["unique_id"].unique()) == ["01", "1"]


def test_csv_integer_ids_still_come_back_as_integers(tmp_path):
    panel(40, ids=(1, 2)).to_csv(tmp_path / "ids.csv", index=False)
    forecast = XLSTMForecaster(**FAST).fit(tmp_path / "ids.csv").predict()
    assert forecast["unique_id"].dtype == np.int64 and forecast["unique_id"].unique().tolist() == [1, 2]
    # Only canonical integer texts are integers: "+3" or "07" keep the column text.
    pd.DataFrame({"store": ["7", "+3", "07"], "ds": ["2024-01-01"] * 3, "y": 1.0}).to_csv(
        tmp_path / "mixed.csv", index=False)
    assert read_series_file(tmp_path / "mixed.csv", id_col="store")["store"].tolist() == ["7", "+3", "07"]


# ---------------------------------------------------------------- 4. random_state

def test_random_state_must_be_an_int_or_none():
    with pytest.raises(TypeError, match="random_state must be an int or None \\(a RandomState is not supported"):
        XLSTMForecaster(**FAST, random_state=np.random.RandomState(0)).fit(panel())


# ---------------------------------------------------------------- 5. quantile column names

def test_quantiles_with_colliding_column_names_are_refused():
    with pytest.raises(ValueError, match="0.1 and 0.1000001 would both be named 'y_hat_q0.1'"):
        XLSTMForecaster(**FAST, loss="quantile", quantiles=[0.1, 0.1000001, 0.9]).fit(panel())
    s = TimeSeries(unique_id="a", ds=pd.date_range("2024-01-01", periods=3, freq="h"), values=np.zeros((3, 1)),
                   channel_names=("y",), channel_ids=("a",), freq=pd.offsets.Hour())
    with pytest.raises(ValueError, match="would both be named"):
        predictions_frame([s], np.zeros((1, 2, 1)), quantiles=[0.1, 0.1000001],
                          y_quantiles=np.zeros((1, 2, 1, 2)))

"""Regression tests for the second audit: metrics input checks, scaler API, window counts."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.utils.estimator_checks import check_estimator

from xlstm_ts.data import SCALER_METHODS, ChannelScaler, PerSeriesScaler, count_windows
from xlstm_ts.metrics import evaluate, mae, mase, mse, smape

Y = np.array([1.0, 2.0, 3.0, 4.0])
Y_HAT = np.array([1.5, 2.0, 2.0, 5.0])

# ---------------------------------------------------------------------------- metrics


@pytest.mark.parametrize("metric", [mse, mae, smape])
def test_nan_in_gives_nan_out(metric):
    assert np.isnan(metric([np.nan, 1.0], [1.0, 1.0]))
    assert np.isnan(metric([1.0, 1.0], [1.0, np.nan]))


def test_smape_keeps_zero_over_zero_as_perfect():
    assert smape([0.0, 2.0], [0.0, 2.0]) == 0.0
    assert smape([0.0, 1.0], [0.0, 3.0]) == pytest.approx(50.0)  # (0 + 200 * 2/4) / 2


def test_mase_nan_forecast_on_constant_training_series_is_nan():
    assert np.isnan(mase([1.0, np.nan], [1.0, 1.0], [5.0, 5.0, 5.0]))
    assert mase([1.0, 2.0], [1.0, 2.0], [5.0, 5.0, 5.0]) == 0.0
    assert mase([1.0, 2.0], [1.0, 3.0], [5.0, 5.0, 5.0]) == np.inf


@pytest.mark.parametrize("metric", [mse, mae, smape])
@pytest.mark.parametrize("y_hat", [Y_HAT[:, None], np.array([2.5]), Y_HAT[:3]])
def test_metrics_refuse_mismatched_shapes(metric, y_hat):
    with pytest.raises(ValueError, match=r"y and y_hat must have the same shape, got \(4,\) and"):
        metric(Y, y_hat)


@pytest.mark.parametrize("metric", [mse, mae, smape])
def test_metrics_refuse_empty_input(metric):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "Mean of empty slice" on the way
        with pytest.raises(ValueError, match="y and y_hat are empty"):
            metric([], [])


def test_mase_checks_shapes_too():
    with pytest.raises(ValueError, match="same shape"):
        mase(Y, Y_HAT[:, None], [1.0, 3.0, 2.0, 5.0])


def test_values_unchanged_for_valid_input():
    assert mse(Y, Y_HAT) == 0.5625
    assert mae(Y, Y_HAT) == 0.625
    assert smape(Y, Y_HAT) == pytest.approx(25.555555555555554, abs=0)
    assert mase(Y, Y_HAT, [1.0, 3.0, 2.0, 5.0]) == 0.3125
    assert mase(pd.Series(Y), pd.Series(Y_HAT), pd.Series([1.0, 3.0, 2.0, 5.0]), 2) == 0.625 / 1.5


@pytest.mark.parametrize("season", [0, -1, np.int64(0)])
def test_mase_refuses_non_positive_season(season):
    with pytest.raises(ValueError, match="season must be a positive integer, got"):
        mase([1.0, 2.0], [1.0, 3.0], [1.0, 2.0, 4.0, 8.0, 16.0], season)


@pytest.mark.parametrize("season", [2.5, 2.0, True, "2", None])
def test_mase_refuses_non_integer_season(season):
    with pytest.raises(TypeError, match="season must be a positive integer, got"):
        mase([1.0, 2.0], [1.0, 3.0], [1.0, 2.0, 4.0, 8.0, 16.0], season)


def test_mase_accepts_numpy_int_season_and_needs_season_plus_one_points():
    assert mase([1.0, 2.0], [1.0, 3.0], [1.0, 2.0, 4.0], np.int32(2)) == 0.5 / 3.0
    with pytest.raises(ValueError, match="MASE needs more than season=3 training points; got 3"):
        mase([1.0, 2.0], [1.0, 3.0], [1.0, 2.0, 4.0], 3)


def test_mase_scales_each_channel_by_its_own_naive_error():
    y_train = np.array([[1.0, 10.0], [2.0, 20.0], [3.0, 30.0]])  # naive MAE 1 and 10
    y, y_hat = np.ones((2, 2)), np.zeros((2, 2))  # MAE 1 in both channels
    assert mase(y, y_hat, y_train) == pytest.approx((1.0 / 1.0 + 1.0 / 10.0) / 2)
    # Each channel alone gives the same number as a 1-D call.
    per_channel = [mase(y[:, c], y_hat[:, c], y_train[:, c]) for c in range(2)]
    assert mase(y, y_hat, y_train) == pytest.approx(np.mean(per_channel))


def test_mase_refuses_channel_mismatch_with_training_series():
    with pytest.raises(ValueError, match=r"channel axes must match"):
        mase(np.ones((2, 3)), np.zeros((2, 3)), np.ones((5, 2)))
    with pytest.raises(ValueError, match=r"y_train must be 1-D \(T,\) or 2-D \(T, C\)"):
        mase(np.ones(2), np.zeros(2), np.ones((5, 2, 1)))


def test_evaluate_refuses_a_series_named_like_the_aggregate_row():
    frame = pd.DataFrame(
        {"unique_id": ["a", "a", "overall", "overall"], "y": [1, 2, 3, 4], "y_hat": [1, 2, 0, 0]}
    )
    with pytest.raises(ValueError, match="a series is named 'overall'"):
        evaluate(frame)
    report = evaluate(frame.assign(unique_id=frame.unique_id.replace("overall", "b")))
    assert report["unique_id"].tolist() == ["a", "b", "overall"]
    assert report["smape"].tolist() == [0.0, 200.0, 100.0]


def test_evaluate_propagates_nan_in_every_metric():
    frame = pd.DataFrame({"unique_id": [1, 1, 2, 2], "y": [1, 2, 3, np.nan], "y_hat": [1, 2, 0, 0]})
    report = evaluate(frame).set_index("unique_id")
    assert report.loc[1].tolist() == [0.0, 0.0, 0.0]
    assert report.loc[2].isna().all() and report.loc["overall"].isna().all()


# ---------------------------------------------------------------------------- ChannelScaler

X = np.random.default_rng(0).normal(size=(50, 3)) * [1.0, 10.0, 100.0] + [0.0, 5.0, -3.0]


@pytest.mark.parametrize("method", SCALER_METHODS)
def test_channel_scaler_passes_check_estimator(method):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_estimator(ChannelScaler(method))


def test_channel_scaler_knows_feature_names():
    df = pd.DataFrame(X, columns=["a", "b", "c"])
    scaler = ChannelScaler().fit(df)
    assert scaler.feature_names_in_.tolist() == ["a", "b", "c"]
    assert scaler.get_feature_names_out().tolist() == ["a", "b", "c"]
    with pytest.raises(ValueError, match="same order as they were in fit"):
        scaler.transform(df[["c", "b", "a"]])
    out = ChannelScaler().set_output(transform="pandas").fit(df).transform(df)
    assert isinstance(out, pd.DataFrame) and out.columns.tolist() == ["a", "b", "c"]
    np.testing.assert_array_equal(out.to_numpy(), scaler.transform(df))


@pytest.mark.parametrize("method", SCALER_METHODS)
def test_channel_scaler_numbers_and_float32_unchanged(method):
    x32 = X.astype(np.float32)
    scaler = ChannelScaler(method).fit(x32)
    assert scaler.center_.dtype == scaler.scale_.dtype == np.float64  # stats in float64
    z = scaler.transform(x32)
    assert z.dtype == np.float32
    np.testing.assert_array_equal(z, ((x32 - scaler.center_) / scaler.scale_).astype(np.float32))
    back = scaler.inverse_transform(z)
    assert back.dtype == np.float32
    np.testing.assert_array_equal(back, (z * scaler.scale_ + scaler.center_).astype(np.float32))
    assert scaler.transform(np.arange(6).reshape(2, 3)).dtype == np.float64  # ints -> float64


def test_channel_scaler_refuses_nan_and_inf_everywhere():
    scaler = ChannelScaler().fit(X)
    for bad, word in ((np.nan, "NaN"), (np.inf, "infinity")):
        x = X.copy()
        x[3, 1] = bad
        for method in (scaler.transform, scaler.inverse_transform, ChannelScaler().fit):
            with pytest.raises(ValueError, match=word):
                method(x)


def test_channel_scaler_from_saved_statistics_still_works():
    # What XLSTMForecaster.load does: set the fitted arrays, no fit() call, no feature names.
    scaler = ChannelScaler("standard")
    scaler.center_, scaler.scale_ = np.array([1.0, 2.0]), np.array([2.0, 4.0])
    scaler.n_features_in_ = 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        z = scaler.transform(np.array([[3.0, 6.0]], dtype=np.float32))
    np.testing.assert_array_equal(z, np.array([[1.0, 1.0]], dtype=np.float32))
    with pytest.raises(ValueError, match="X has 3 features, but ChannelScaler is expecting 2"):
        scaler.transform(np.ones((1, 3)))


# ---------------------------------------------------------------------------- PerSeriesScaler


def test_per_series_refuses_duplicate_ids():
    with pytest.raises(ValueError, match=r"duplicate series ids \['a'\]"):
        PerSeriesScaler().fit([X, X], ids=["a", "a"])
    with pytest.raises(ValueError, match=r"duplicate series ids \['1'\]"):
        PerSeriesScaler().fit([X, X], ids=[1, "1"])  # the same once stored as str


@pytest.mark.parametrize("bad", [1.0, True, None, ("a",)])
def test_per_series_ids_must_be_str_or_int(bad):
    with pytest.raises(TypeError, match="series ids must be str or int, got"):
        PerSeriesScaler().fit([X, X], ids=["a", bad])


def test_per_series_accepts_str_and_int_ids():
    assert PerSeriesScaler().fit([X, X], ids=[np.int64(3), 4]).ids_ == ["3", "4"]
    assert PerSeriesScaler().fit([X, X], ids=[np.str_("a"), "b"]).ids_ == ["a", "b"]


@pytest.mark.parametrize("bad", [1.0, True, None])
def test_per_series_selector_must_be_str_or_int(bad):
    scaler = PerSeriesScaler().fit([X, X], ids=["a", "b"])
    with pytest.raises(TypeError, match="series must be a str id or an int index, got"):
        scaler.transform(X, bad)
    np.testing.assert_array_equal(scaler.transform(X, np.int64(1)), scaler.transform(X, "b"))


def test_per_series_channel_mismatch_is_a_clear_error():
    scaler = PerSeriesScaler().fit([X, X], ids=["a", "b"])
    msg = r"x has 2 channels \(last axis of shape \(50, 2\)\) but the scaler was fitted on 3"
    with pytest.raises(ValueError, match=msg):
        scaler.transform(X[:, :2], "a")
    with pytest.raises(ValueError, match=msg):
        scaler.inverse_transform(X[:, :2], 0)
    with pytest.raises(ValueError, match=r"x has 2 channels \(last axis of shape \(2, 5, 2\)\)"):
        scaler.transform_batch(np.stack([X[:5, :2], X[:5, :2]]), [0, 1])
    with pytest.raises(ValueError, match=r"x has 2 channels \(last axis of shape \(2, 2\)\)"):
        scaler.inverse_transform_batch(X[:2, :2], [0, 1])


def test_per_series_univariate_flat_arrays_still_work():
    scaler = PerSeriesScaler().fit([np.arange(10.0)])
    z = scaler.transform(np.arange(3.0), 0)
    assert z.shape == (3,)
    np.testing.assert_allclose(scaler.inverse_transform(z, "0"), np.arange(3.0))
    # A (C,) array is one time step of a multichannel series.
    wide = PerSeriesScaler().fit([X])
    np.testing.assert_array_equal(wide.transform(X[0], 0), wide.transform(X[:1], 0)[0])


# ---------------------------------------------------------------------------- windows


@pytest.mark.parametrize("stride", [0, -1])
def test_count_windows_validates_like_window_dataset(stride):
    with pytest.raises(ValueError, match="lookback, horizon and stride must be >= 1"):
        count_windows(100, 10, 5, stride)
    with pytest.raises(ValueError, match="lookback, horizon and stride must be >= 1"):
        count_windows(100, 0, 5)
    assert count_windows(100, 10, 5, 2) == 43

"""TSLib timeF calendar features."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from xlstm_ts.data import calendar_feature_names, calendar_features, future_index


def test_hourly_features_match_tslib_formulas():
    ds = pd.DatetimeIndex(["2024-01-01 00:00", "2024-12-31 23:00"])  # Monday, Tuesday (leap year)
    out = calendar_features(ds, "h")
    assert calendar_feature_names("h") == [
        "hour_of_day",
        "day_of_week",
        "day_of_month",
        "day_of_year",
    ]
    assert out.dtype == np.float32 and out.shape == (2, 4)
    np.testing.assert_allclose(out[0], [-0.5, -0.5, -0.5, -0.5])
    np.testing.assert_allclose(out[1], [0.5, 1 / 6 - 0.5, 0.5, 365 / 365 - 0.5], atol=1e-6)


@pytest.mark.parametrize(
    ("freq", "names"),
    [
        ("15min", ["minute_of_hour", "hour_of_day", "day_of_week", "day_of_month", "day_of_year"]),
        ("D", ["day_of_week", "day_of_month", "day_of_year"]),
        ("B", ["day_of_week", "day_of_month", "day_of_year"]),
        ("W", ["day_of_month", "week_of_year"]),
        ("ME", ["month_of_year"]),
        ("QE", ["month_of_year"]),
        ("YE", []),
        (
            "s",
            [
                "second_of_minute",
                "minute_of_hour",
                "hour_of_day",
                "day_of_week",
                "day_of_month",
                "day_of_year",
            ],
        ),
    ],
)
def test_features_depend_on_frequency(freq, names):
    ds = pd.date_range("2024-01-01", periods=50, freq=freq)
    assert calendar_feature_names(freq) == names
    out = calendar_features(ds)  # frequency taken from ds
    assert out.shape == (50, len(names))
    assert (out >= -0.5).all() and (out <= 0.5).all()


def test_future_timestamps_continue_the_history():
    ds = pd.date_range("2024-01-01", periods=30, freq="h")
    full = calendar_features(pd.date_range("2024-01-01", periods=35, freq="h"))
    np.testing.assert_array_equal(calendar_features(future_index(ds, 5)), full[30:])


def test_integer_steps_have_no_calendar():
    assert calendar_features(pd.RangeIndex(5)).shape == (5, 0)


def test_unknown_frequency_errors():
    with pytest.raises(ValueError, match="cannot infer the frequency"):
        calendar_features(pd.DatetimeIndex(["2024-01-01", "2024-01-05"]))
    with pytest.raises(ValueError, match="no calendar features are defined"):
        calendar_feature_names(pd.offsets.Easter())

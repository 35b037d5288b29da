"""Long/wide adapters, the TimeSeries item and the output frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from xlstm_ts.data import (
    from_long,
    from_wide,
    future_covariates,
    future_index,
    load_dataset,
    predictions_frame,
    to_long_frame,
)


def panel(n: int = 6) -> pd.DataFrame:
    ds = pd.date_range("2024-01-01", periods=n, freq="D")
    return pd.concat(
        [
            pd.DataFrame(
                {
                    "store": uid,
                    "date": ds,
                    "sales": np.arange(n, dtype=float) * (k + 1),
                    "visits": np.arange(n, dtype=float) + 100 * k,
                    "promo": (np.arange(n) % 2).astype(float),
                }
            )
            for k, uid in enumerate(["s1", "s2"])
        ],
        ignore_index=True,
    )


def test_from_long_custom_names_futr_and_static():
    static = pd.DataFrame({"store": ["s2", "s1"], "area": [20.0, 10.0], "age": [2, 1]})
    items = from_long(
        panel(),
        id_col="store",
        time_col="date",
        target_col="sales",
        futr_cols=["promo"],
        static_df=static,
        extra_cols="ignore",
    )
    s1, s2 = items
    assert s1.unique_id == "s1" and s1.values.shape == (6, 1) and s1.values.dtype == np.float32
    assert s1.channel_ids == ("s1",) and s1.channel_names == ("sales",)
    assert s1.futr.shape == (6, 1) and s1.futr_names == ("promo",)
    np.testing.assert_array_equal(s1.static, [10.0, 1.0])  # aligned by id, not row order
    np.testing.assert_array_equal(s2.static, [20.0, 2.0])
    assert s1.static_names == ("area", "age")
    assert s2.ds.freq == "D" and s2.freq == pd.tseries.frequencies.to_offset("D")


def test_from_long_several_targets_gives_channels():
    items = from_long(
        panel(),
        id_col="store",
        time_col="date",
        target_col=["sales", "visits"],
        extra_cols="ignore",
    )
    assert items[1].values.shape == (6, 2)
    assert items[1].channel_ids == ("s2/sales", "s2/visits")
    np.testing.assert_array_equal(items[1].values[:, 1], np.arange(6.0) + 100)


def test_from_long_nullable_integers():
    df = pd.DataFrame(
        {"unique_id": "a", "ds": pd.date_range("2024", periods=3, freq="h"), "y": [1, 2, 3]}
    )
    df["y"] = df["y"].astype("Int64")
    np.testing.assert_array_equal(from_long(df)[0].values[:, 0], [1.0, 2.0, 3.0])


def test_from_wide_keeps_column_order_and_ids():
    df = load_dataset("ETTh1")
    (item,) = from_wide(df)
    assert item.channel_names[-1] == "OT" and item.channel_ids == tuple(df.columns)
    assert item.values.shape == (17420, 7) and item.freq == "h"
    np.testing.assert_allclose(item.values, df.to_numpy(np.float32))


def test_from_wide_with_time_column_and_futr():
    df = pd.DataFrame(
        {
            "ds": pd.date_range("2024", periods=4, freq="15min"),
            "a": [1.0, 2, 3, 4],
            "hol": [0.0, 1, 0, 0],
            "OT": [5.0, 6, 7, 8],
        }
    )
    (item,) = from_wide(df, futr_cols=["hol"])
    assert item.channel_names == ("a", "OT") and item.futr_names == ("hol",)
    assert item.freq == "15min"


def test_from_wide_integer_steps():
    (item,) = from_wide(pd.DataFrame({"x": np.arange(5.0)}))
    assert item.freq == 1 and isinstance(item.ds, pd.RangeIndex)


def test_series_share_one_block_of_memory():
    items = from_long(
        panel(), id_col="store", time_col="date", target_col="sales", extra_cols="ignore"
    )
    assert np.shares_memory(items[0].values.base, items[1].values.base)


# ---------------------------------------------------------------------------- future index


def test_future_index_hourly_and_month_end():
    ds = pd.date_range("2024-01-01", periods=3, freq="h")
    assert list(future_index(ds, 2)) == [
        pd.Timestamp("2024-01-01 03:00"),
        pd.Timestamp("2024-01-01 04:00"),
    ]
    me = pd.date_range("2024-01-31", periods=2, freq="ME")
    out = future_index(me, 3)
    assert list(out.strftime("%Y-%m-%d")) == ["2024-03-31", "2024-04-30", "2024-05-31"]


def test_future_index_without_freq_infers_it_and_keeps_timezone():
    ds = pd.DatetimeIndex(
        pd.date_range("2024-03-30", periods=4, freq="D", tz="Europe/Berlin").tolist()
    )
    assert ds.freq is None
    out = future_index(ds, 2)
    assert str(out.tz) == "Europe/Berlin" and out[0] == pd.Timestamp(
        "2024-04-03", tz="Europe/Berlin"
    )


def test_future_index_integer_steps():
    assert list(future_index(pd.RangeIndex(3, 7), 2)) == [7, 8]


def test_future_index_errors():
    with pytest.raises(ValueError, match="horizon must be >= 1"):
        future_index(pd.RangeIndex(3), 0)
    with pytest.raises(ValueError, match="cannot infer the frequency"):
        future_index(pd.DatetimeIndex(["2024-01-01", "2024-01-02"]), 1)


# ---------------------------------------------------------------------------- output frames


def test_predictions_frame_long_univariate_with_quantiles():
    items = from_long(
        panel(), id_col="store", time_col="date", target_col="sales", extra_cols="ignore"
    )
    y_hat = np.stack([np.full((2, 1), 1.0), np.full((2, 1), 2.0)])
    yq = np.stack([np.full((2, 1, 2), 0.5), np.full((2, 1, 2), 3.0)])
    out = predictions_frame(items, y_hat, quantiles=[0.1, 0.9], y_quantiles=yq)
    assert list(out.columns) == ["unique_id", "ds", "y_hat", "y_hat_q0.1", "y_hat_q0.9"]
    assert list(out.unique_id) == ["s1", "s1", "s2", "s2"]
    assert list(out.ds) == [pd.Timestamp("2024-01-07"), pd.Timestamp("2024-01-08")] * 2
    assert list(out.y_hat) == [1.0, 1.0, 2.0, 2.0]


def test_predictions_frame_wide_multivariate_one_series_per_column():
    df = pd.DataFrame(
        {"HUFL": [1.0, 2, 3], "OT": [4.0, 5, 6]}, index=pd.date_range("2024", periods=3, freq="h")
    )
    items = from_wide(df)
    y_hat = np.array([[[10.0, 20.0], [11.0, 21.0]]])  # (N=1, H=2, C=2)
    out = predictions_frame(items, y_hat)
    assert list(out.unique_id) == ["HUFL", "HUFL", "OT", "OT"]
    assert list(out.y_hat) == [10.0, 11.0, 20.0, 21.0]
    assert out.ds.iloc[0] == pd.Timestamp("2024-01-01 03:00")


def test_predictions_frame_cutoffs_for_cross_validation():
    items = from_long(
        panel(), id_col="store", time_col="date", target_col="sales", extra_cols="ignore"
    )
    out = predictions_frame(items, [np.zeros(2), np.ones(2)], cutoffs=["2024-01-03", "2024-01-04"])
    assert list(out.columns) == ["unique_id", "cutoff", "ds", "y_hat"]
    assert out.ds.iloc[0] == pd.Timestamp("2024-01-04") and out.ds.iloc[2] == pd.Timestamp(
        "2024-01-05"
    )
    assert (out.cutoff.iloc[:2] == pd.Timestamp("2024-01-03")).all()


def test_predictions_frame_shape_errors():
    items = from_long(
        panel(), id_col="store", time_col="date", target_col="sales", extra_cols="ignore"
    )
    with pytest.raises(ValueError, match="forecast for series 's1' has shape"):
        predictions_frame(items, np.zeros((2, 3, 2)))
    with pytest.raises(ValueError, match="y_hat has 1 entries for 2 series"):
        predictions_frame(items, np.zeros((1, 3, 1)))


def test_to_long_frame_round_trip():
    items = from_long(
        panel(), id_col="store", time_col="date", target_col="sales", extra_cols="ignore"
    )
    again = from_long(to_long_frame(items))
    for a, b in zip(items, again, strict=True):
        assert a.unique_id == b.unique_id and a.ds.equals(b.ds)
        np.testing.assert_array_equal(a.values, b.values)


def test_future_covariates_lookup_and_missing_combination():
    items = from_long(
        panel(),
        id_col="store",
        time_col="date",
        target_col="sales",
        futr_cols=["promo"],
        extra_cols="ignore",
    )
    future = pd.DataFrame(
        {
            "unique_id": ["s1", "s1", "s2", "s2"],
            "ds": pd.to_datetime(["2024-01-07", "2024-01-08", "2024-01-08", "2024-01-07"]),
            "promo": [1.0, 2.0, 4.0, 3.0],
        }
    )
    out = future_covariates(future, items, 2)
    np.testing.assert_array_equal(out[1][:, 0], [3.0, 4.0])  # put in time order
    with pytest.raises(
        ValueError, match="lacks future covariates for series 's2'.*first missing 2024-01-07"
    ):
        future_covariates(future.iloc[:3], items, 2)

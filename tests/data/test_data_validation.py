"""One test per bad-input case: the error type and the informative part of the message."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from xlstm_ts.data import from_long, from_wide


def long_frame(n: int = 10, ids: tuple[str, ...] = ("a", "b"), freq: str = "h") -> pd.DataFrame:
    ds = pd.date_range("2024-01-01", periods=n, freq=freq)
    parts = [
        pd.DataFrame({"unique_id": uid, "ds": ds, "y": np.arange(n, dtype=float) + 10 * k})
        for k, uid in enumerate(ids)
    ]
    return pd.concat(parts, ignore_index=True)


def test_valid_frame_passes():
    items = from_long(long_frame())
    assert [s.unique_id for s in items] == ["a", "b"]


def test_not_a_dataframe():
    with pytest.raises(TypeError, match="must be a pandas DataFrame, got ndarray"):
        from_long(np.zeros((3, 3)))


def test_empty_frame():
    with pytest.raises(ValueError, match="empty"):
        from_long(long_frame().iloc[:0])


def test_missing_column_named_with_role():
    with pytest.raises(ValueError, match=r"missing column\(s\) 'y' \(target\)"):
        from_long(long_frame().drop(columns="y"))


def test_unknown_covariate_column():
    with pytest.raises(ValueError, match=r"'price' \(future covariate\)"):
        from_long(long_frame(), futr_cols=["price"])


def test_undeclared_extra_column_is_rejected_unless_ignored():
    df = long_frame().assign(price=1.0)
    with pytest.raises(ValueError, match="'price'.*futr_cols"):
        from_long(df)
    assert from_long(df, extra_cols="ignore")[0].futr is None


def test_column_in_two_roles():
    with pytest.raises(ValueError, match="'y' is used in two roles"):
        from_long(long_frame(), futr_cols=["y"])


def test_non_numeric_target_names_column_and_dtype():
    df = long_frame().assign(y=lambda d: d["y"].astype(str))
    with pytest.raises(TypeError, match="target column 'y' has non-numeric dtype str"):
        from_long(df)


def test_object_target():
    df = long_frame().assign(y=lambda d: d["y"].astype(object))
    df.loc[3, "y"] = "oops"
    with pytest.raises(TypeError, match="target column 'y' has non-numeric dtype object"):
        from_long(df)


def test_non_numeric_covariate():
    df = long_frame().assign(promo="yes")
    with pytest.raises(TypeError, match="future covariate column 'promo'"):
        from_long(df, futr_cols=["promo"])


def test_string_time_column():
    df = long_frame().assign(ds=lambda d: d["ds"].astype(str))
    with pytest.raises(TypeError, match=r"time column 'ds' has dtype str.*pd.to_datetime"):
        from_long(df)


def test_float_time_column():
    df = long_frame().assign(ds=lambda d: np.arange(len(d), dtype=float))
    with pytest.raises(TypeError, match="time column 'ds' has dtype float64"):
        from_long(df)


def test_missing_timestamp_nat():
    df = long_frame()
    df.loc[4, "ds"] = pd.NaT
    with pytest.raises(ValueError, match=r"missing timestamp\(s\) \(NaT\) at rows 4"):
        from_long(df)


def test_mixed_timezone_aware_and_naive():
    df = long_frame(n=3, ids=("a",))
    df["ds"] = pd.Series(
        [
            pd.Timestamp("2024-01-01 00:00", tz="UTC"),
            pd.Timestamp("2024-01-01 01:00"),
            pd.Timestamp("2024-01-01 02:00", tz="UTC"),
        ],
        dtype=object,
    )
    with pytest.raises(TypeError, match="mixes timezone-aware and naive timestamps"):
        from_long(df)


def test_several_time_zones():
    df = long_frame(n=2, ids=("a",))
    df["ds"] = pd.Series(
        [
            pd.Timestamp("2024-01-01", tz="UTC"),
            pd.Timestamp("2024-01-01 02:00", tz="Europe/Berlin"),
        ],
        dtype=object,
    )
    with pytest.raises(TypeError, match="mixes several time zones"):
        from_long(df)


def test_single_time_zone_is_kept():
    df = long_frame().assign(ds=lambda d: d["ds"].dt.tz_localize("Europe/Berlin"))
    assert str(from_long(df)[0].ds.tz) == "Europe/Berlin"


def test_nan_target_names_series_column_and_time():
    df = long_frame()
    df.loc[(df.unique_id == "b") & (df.ds == "2024-01-01 03:00"), "y"] = np.nan
    with pytest.raises(ValueError) as err:
        from_long(df)
    msg = str(err.value)
    assert "target column 'y'" in msg and "series 'b'" in msg and "2024-01-01 03:00:00" in msg
    assert "fill=" in msg


def test_inf_target():
    df = long_frame()
    df.loc[2, "y"] = np.inf
    with pytest.raises(ValueError, match="series 'a' has inf at 2024-01-01 02:00:00"):
        from_long(df)


def test_nan_in_covariate():
    df = long_frame().assign(price=1.0)
    df.loc[12, "price"] = np.nan
    with pytest.raises(ValueError, match="future covariate column 'price'.*series 'b'"):
        from_long(df, futr_cols=["price"])


@pytest.mark.parametrize(
    ("fill", "expected"), [("ffill", 2.0), ("interpolate", 3.0), ("zero", 0.0)]
)
def test_fill_strategies(fill, expected):
    df = long_frame(ids=("a",))
    df.loc[3, "y"] = np.nan
    items = from_long(df, fill=fill)
    assert items[0].values[3, 0] == pytest.approx(expected)
    assert np.isfinite(items[0].values).all()


def test_fill_leading_nan_with_ffill_backfills():
    df = long_frame(ids=("a",))
    df.loc[0, "y"] = np.nan
    assert from_long(df, fill="ffill")[0].values[0, 0] == 1.0


def test_fill_does_not_cross_series():
    df = long_frame(ids=("a", "b"))
    df.loc[10, "y"] = np.nan  # first row of 'b'; ffill must not take a's last value (9)
    assert from_long(df, fill="ffill")[1].values[0, 0] == 11.0


def test_all_nan_series_cannot_be_filled():
    df = long_frame(ids=("a", "b"))
    df.loc[df.unique_id == "b", "y"] = np.nan
    with pytest.raises(ValueError, match="column 'y' of series 'b'.*no finite value"):
        from_long(df, fill="interpolate")


def test_unknown_fill():
    with pytest.raises(ValueError, match="fill must be one of"):
        from_long(long_frame(), fill="mean")


def test_duplicate_timestamps():
    df = long_frame()
    df = pd.concat([df, df.iloc[[13]]], ignore_index=True)
    with pytest.raises(
        ValueError, match="series 'b' has timestamp 2024-01-01 03:00:00 more than once"
    ):
        from_long(df)


def test_unsorted_is_an_error_by_default():
    df = long_frame()
    df = df.iloc[[0, 2, 1, *range(3, len(df))]]
    with pytest.raises(
        ValueError,
        match=r"not sorted: in series 'a', 2024-01-01 02:00:00 is followed by the earlier 2024-01-01 01:00:00.*sort=True",
    ):
        from_long(df)


def test_unsorted_with_sort_true_is_sorted():
    df = long_frame()
    items = {s.unique_id: s for s in from_long(df.sample(frac=1.0, random_state=0), sort=True)}
    for want in from_long(df):
        assert items[want.unique_id].ds.equals(want.ds)
        np.testing.assert_array_equal(items[want.unique_id].values, want.values)


def test_interleaved_series_are_not_unsorted():
    df = long_frame().sort_values(["ds", "unique_id"])
    items = from_long(df)
    np.testing.assert_array_equal(items[0].values[:, 0], np.arange(10.0))


def test_missing_timestamps_name_the_first_gap():
    df = long_frame()
    df = df.drop(index=[15, 16])  # series b loses 05:00 and 06:00
    with pytest.raises(ValueError) as err:
        from_long(df)
    msg = str(err.value)
    assert "missing timestamps: series 'b'" in msg
    assert "lacks 2 step(s) at frequency 'h'" in msg
    assert "first gap after 2024-01-01 04:00:00, next observed 2024-01-01 07:00:00" in msg


def test_fill_missing_reindexes_and_fills():
    df = long_frame().drop(index=[15, 16])
    items = from_long(df, fill_missing=True, fill="interpolate")
    b = items[1]
    assert len(b) == 10 and b.ds.freq == "h"
    np.testing.assert_allclose(b.values[:, 0], np.arange(10.0) + 10)


def test_fill_missing_needs_a_fill_strategy():
    with pytest.raises(ValueError, match="fill_missing=True .* also pass fill="):
        from_long(long_frame(), fill_missing=True)


def test_off_grid_timestamp_is_irregular():
    df = long_frame(ids=("a",))
    df.loc[5, "ds"] = pd.Timestamp("2024-01-01 05:30")
    with pytest.raises(
        ValueError,
        match="irregular timestamps: series 'a'.*2024-01-01 05:30:00 .*not on the 'h' grid",
    ):
        from_long(df, fill_missing=True, fill="ffill")


def test_mixed_frequencies_in_a_panel():
    hourly = long_frame(ids=("a",))
    daily = long_frame(ids=("b",), freq="D")
    with pytest.raises(
        ValueError, match="mixed frequencies: series 'b'.*'D'.*panel frequency is 'h'"
    ):
        from_long(pd.concat([hourly, daily], ignore_index=True), fill_missing=True, fill="ffill")


def test_uninferable_frequency_asks_for_freq():
    df = pd.DataFrame(
        {
            "unique_id": "a",
            "ds": pd.to_datetime(["2024-01-31", "2024-03-31", "2024-04-30"]),
            "y": [1.0, 2.0, 3.0],
        }
    )
    with pytest.raises(ValueError, match="cannot infer the frequency.*pass freq="):
        from_long(df)
    with pytest.raises(ValueError, match="lacks 1 step"):
        from_long(df, freq="ME")


def test_bad_freq_string():
    with pytest.raises(ValueError, match="freq='fortnightly' is not a pandas frequency"):
        from_long(long_frame(), freq="fortnightly")


def test_series_too_short():
    df = pd.concat([long_frame(n=10, ids=("a",)), long_frame(n=4, ids=("b",))], ignore_index=True)
    with pytest.raises(ValueError) as err:
        from_long(df, min_length=8)
    msg = str(err.value)
    assert "series too short" in msg and "'b' (4 rows)" in msg and "fewer than 8 rows" in msg
    assert "2024-01-01 00:00:00 → 2024-01-01 03:00:00" in msg


def test_constant_series_is_allowed():
    df = long_frame().assign(y=5.0)
    assert (from_long(df)[0].values == 5.0).all()


def test_integer_steps_are_accepted_with_frequency_one():
    df = pd.DataFrame({"unique_id": "a", "ds": np.arange(5, 10), "y": np.arange(5.0)})
    (item,) = from_long(df)
    assert item.freq == 1 and list(item.ds) == [5, 6, 7, 8, 9]


def test_integer_steps_with_gap():
    df = pd.DataFrame({"unique_id": "a", "ds": [0, 1, 3], "y": [1.0, 2.0, 3.0]})
    with pytest.raises(ValueError, match="missing timestamps: series 'a'.*'1 step'"):
        from_long(df)


def test_null_unique_id():
    df = long_frame()
    df["unique_id"] = df["unique_id"].astype(object)
    df.loc[3, "unique_id"] = None
    with pytest.raises(
        ValueError, match=r"id column 'unique_id' has 1 missing value\(s\) \(rows 3\)"
    ):
        from_long(df)


def test_static_df_missing_series():
    static = pd.DataFrame({"unique_id": ["a"], "size": [1.0]})
    with pytest.raises(ValueError, match="static_df has no row for series 'b'"):
        from_long(long_frame(), static_df=static)


def test_static_df_duplicate_rows():
    static = pd.DataFrame({"unique_id": ["a", "a", "b"], "size": [1.0, 2.0, 3.0]})
    with pytest.raises(ValueError, match="several rows for unique_id"):
        from_long(long_frame(), static_df=static)


def test_static_df_non_numeric():
    static = pd.DataFrame({"unique_id": ["a", "b"], "kind": ["x", "y"]})
    with pytest.raises(TypeError, match="static covariate column 'kind'.*get_dummies"):
        from_long(long_frame(), static_df=static)


def test_static_df_nan():
    static = pd.DataFrame({"unique_id": ["a", "b"], "size": [1.0, np.nan]})
    with pytest.raises(ValueError, match="static covariate column 'size' has a NaN.*series 'b'"):
        from_long(long_frame(), static_df=static)


# ---------------------------------------------------------------------------- wide frames


def test_wide_without_time_axis_hints_time_col():
    df = pd.DataFrame({"date": ["2024-01-01", "2024-01-02", "2024-01-03"], "a": [1.0, 2.0, 3.0]})
    with pytest.raises(TypeError, match="target column 'date'.*time_col='date'"):
        from_wide(df)
    with pytest.raises(TypeError, match="time column 'date' has dtype str"):
        from_wide(df, time_col="date")


def test_wide_float_index_is_rejected():
    df = pd.DataFrame({"a": [1.0, 2.0]}, index=[0.5, 1.5])
    with pytest.raises(TypeError, match="needs a DatetimeIndex"):
        from_wide(df)


def test_wide_unknown_target():
    df = pd.DataFrame({"a": [1.0, 2.0, 3.0]}, index=pd.date_range("2024", periods=3, freq="h"))
    with pytest.raises(ValueError, match=r"missing column\(s\) 'b' \(target\)"):
        from_wide(df, target_cols=["b"])


def test_wide_duplicate_index():
    idx = pd.DatetimeIndex(["2024-01-01 00:00", "2024-01-01 01:00", "2024-01-01 01:00"])
    df = pd.DataFrame({"a": [1.0, 2.0, 3.0]}, index=idx)
    with pytest.raises(ValueError, match="has timestamp 2024-01-01 01:00:00 more than once"):
        from_wide(df)


def test_wide_nan_names_column():
    df = pd.DataFrame(
        {"a": [1.0, 2.0, 3.0], "OT": [1.0, np.nan, 3.0]},
        index=pd.date_range("2024", periods=3, freq="h"),
    )
    with pytest.raises(ValueError, match="target column 'OT'.*2024-01-01 01:00:00"):
        from_wide(df)

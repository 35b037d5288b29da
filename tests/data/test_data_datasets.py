"""Bundled dataset loaders and the CSV/Parquet reader."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from xlstm_ts.data import list_datasets, load_dataset, load_text, read_frame

EXPECTED = {
    # name: (rows, variables, first timestamp, last timestamp)
    "ETTh1": (17420, 7, "2016-07-01 00:00", "2018-06-26 19:00"),
    "ETTm1": (69680, 7, "2016-07-01 00:00", "2018-06-26 19:45"),
    "weather": (52696, 21, "2020-01-01 00:10", "2021-01-01 00:00"),
    "exchange_rate": (7588, 8, "1990-01-01", "2010-10-10"),
    "national_illness": (966, 7, "2002-01-01", "2020-06-30"),
}


def test_list_datasets():
    assert sorted(list_datasets()) == sorted(EXPECTED)


@pytest.mark.parametrize("name", list(EXPECTED))
def test_load_dataset(name):
    rows, cols, first, last = EXPECTED[name]
    df = load_dataset(name)
    assert df.shape == (rows, cols)
    assert isinstance(df.index, pd.DatetimeIndex) and df.index.name == "ds"
    assert df.index[0] == pd.Timestamp(first) and df.index[-1] == pd.Timestamp(last)
    assert df.columns[-1] == "OT" and "date" not in df.columns
    assert all(pd.api.types.is_numeric_dtype(t) for t in df.dtypes)


def test_values_are_as_in_the_file():
    df = load_dataset("ETTh1")
    assert list(df.columns) == ["HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL", "OT"]
    assert df["OT"].iloc[0] == pytest.approx(30.5310001373291)
    weather = load_dataset("weather")
    assert weather.index.duplicated().sum() == 1  # kept as in the file (TSLib uses it as is)
    assert (weather["OT"] == -9999).sum() == 50  # sentinel kept, not cleaned


def test_exchange_dates_parsed_daily():
    idx = load_dataset("exchange_rate").index
    assert (np.diff(idx.asi8) == np.diff(idx.asi8)[0]).all()
    assert idx[1] == pd.Timestamp("1990-01-02")


@pytest.mark.parametrize(
    ("alias", "canonical"),
    [
        ("ili", "national_illness"),
        ("exchange", "exchange_rate"),
        ("etth1", "ETTh1"),
        ("WEATHER", "weather"),
    ],
)
def test_aliases_and_case(alias, canonical):
    assert load_dataset(alias).shape == load_dataset(canonical).shape


def test_unknown_dataset_lists_choices():
    with pytest.raises(ValueError, match="unknown dataset 'ETTh3'.*ETTh1"):
        load_dataset("ETTh3")


def test_load_text():
    text = load_text()
    assert len(text) == 1_115_394 and text.startswith("First Citizen")
    with pytest.raises(ValueError, match="unknown text"):
        load_text("war_and_peace")


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz", ".parquet"])
def test_read_frame_round_trip(tmp_path, suffix):
    df = pd.DataFrame(
        {
            "date": pd.date_range("2024-01-01", periods=4, freq="h"),
            "a": [1.0, 2, 3, 4],
            "OT": [5, 6, 7, 8],
        }
    )
    path = tmp_path / f"data{suffix}"
    if suffix == ".parquet":
        df.to_parquet(path, engine="pyarrow")
    else:
        df.to_csv(path, index=False)
    out = read_frame(path, time_col="date")
    assert isinstance(out.index, pd.DatetimeIndex) and out.index.name == "date"
    assert list(out.columns) == ["a", "OT"]
    pd.testing.assert_index_equal(out.index, pd.DatetimeIndex(df["date"], name="date"), exact=False)
    plain = read_frame(path)
    assert "date" in plain.columns


def test_read_frame_integer_time_column_stays_steps(tmp_path):
    path = tmp_path / "steps.csv"
    pd.DataFrame({"t": [0, 1, 2], "y": [1.0, 2.0, 3.0]}).to_csv(path, index=False)
    assert list(read_frame(path, time_col="t").index) == [0, 1, 2]


def test_read_frame_errors(tmp_path):
    with pytest.raises(ValueError, match="cannot tell the format"):
        read_frame(tmp_path / "data.xlsx")
    path = tmp_path / "d.csv"
    pd.DataFrame({"a": [1]}).to_csv(path, index=False)
    with pytest.raises(ValueError, match="time column 'date' is not in d.csv"):
        read_frame(path, time_col="date")

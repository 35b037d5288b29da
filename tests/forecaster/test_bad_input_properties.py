"""Property-based bad-input tests for ``XLSTMForecaster`` (issue #9, item 3).

The contract: any DataFrame, however malformed, either gives a valid forecast (finite
``y_hat``, columns ``unique_id, ds, y_hat``, ``horizon`` future timestamps per series that
continue the series at its frequency) or a ``ValueError``/``TypeError`` raised by xlstm_ts
itself with a message -- never NaN, never another exception type (KeyError, IndexError,
MemoryError, torch/pandas/numpy errors leaking).

Hypothesis builds small clean panels (hourly, 15-minute, daily, weekly, month-end or integer
steps; naive or time-zone aware; known and unseen series ids) and then applies a random
list of corruptions (NaN/inf, duplicated/unsorted/missing/off-grid timestamps, mixed
frequencies, wrong dtypes of every column, mixed time zones, extreme magnitudes, missing,
extra and misnamed columns, empty frames, wide layouts ...).

For speed, three tiny estimators are fitted once per module (about 0.1 s each: with calendar
features; without, so that series of any frequency can be forecast; and one that repairs with
``fill``/``fill_missing``); ``predict(df=...)``, which takes series not seen in ``fit``, is then
property-tested. ``fit`` is property-tested up to the start of training (``_fit_series`` is
replaced by a stub that checks what validation let through), and a handful of full tiny fits
check that valid but extreme data (1e±30, constant series) give finite forecasts.

Examples are derandomized (a fixed sequence, no example database) so that the suite is
reproducible; set ``XLSTM_HYPOTHESIS_EXPLORE=1`` to draw fresh random examples, and
``XLSTM_HYPOTHESIS_FACTOR=10`` to run ten times as many.
"""

from __future__ import annotations

import datetime
import os
import warnings
from pathlib import Path
from unittest import mock

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import xlstm_ts
from xlstm_ts import XLSTMForecaster

from .conftest import seasonal_panel

torch.set_num_threads(1)

H, L = 3, 8
TINY = dict(
    horizon=H,
    lookback=L,
    model="xlstm_patch",
    model_params={"patch_len": 4, "stride": 4, "xlstm": {"embedding_dim": 8, "num_blocks": 1}},
    max_epochs=1,
    batch_size=16,
    val_size=0,
    verbose=False,
    trainer_kwargs={"limit_train_batches": 2, "enable_model_summary": False},
)

_FACTOR = float(os.environ.get("XLSTM_HYPOTHESIS_FACTOR", "1"))
_PACKAGE = str(Path(xlstm_ts.__file__).resolve().parent)


def _settings(n: int) -> settings:
    return settings(
        max_examples=max(1, int(n * _FACTOR)),
        deadline=None,
        derandomize=not os.environ.get("XLSTM_HYPOTHESIS_EXPLORE"),
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                               HealthCheck.filter_too_much, HealthCheck.function_scoped_fixture],
    )


# ---------------------------------------------------------------------- fitted estimators


def _fit_data() -> pd.DataFrame:
    d = seasonal_panel(n_series=2, lengths=(40, 36), period=6)
    return d.assign(unique_id=d["unique_id"].map({"s0": "a", "s1": "b"}))


def _fit(**kw) -> XLSTMForecaster:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return XLSTMForecaster(**{**TINY, **kw}).fit(_fit_data())


@pytest.fixture(scope="module")
def est_calendar() -> XLSTMForecaster:
    """Hourly model with calendar features: other frequencies must be refused clearly."""
    return _fit()


@pytest.fixture(scope="module")
def est_plain() -> XLSTMForecaster:
    """Hourly model without calendar features: forecasts series of any frequency."""
    return _fit(calendar=False)


@pytest.fixture(scope="module")
def est_fill() -> XLSTMForecaster:
    """Repairs instead of refusing: NaN/inf interpolated, missing timestamps inserted."""
    return _fit(calendar=False, fill="interpolate", fill_missing=True)


# ---------------------------------------------------------------------- the oracle


def _call(fn, df):
    """``fn(df)``; ``None`` for an accepted ValueError/TypeError, else the result.

    Any other exception propagates and fails the test (hypothesis then shrinks the input).
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fn(df)
    except (ValueError, TypeError) as err:
        _assert_clear_error(err)
        return None


def _assert_clear_error(err: BaseException) -> None:
    """A plain ValueError/TypeError (or an xlstm_ts subclass) raised by xlstm_ts with a message."""
    kind = type(err)
    assert kind.__module__ == "builtins" or kind.__module__.startswith("xlstm_ts"), (
        f"a {kind.__module__}.{kind.__name__} leaked: {err}")
    tb = err.__traceback__
    while tb.tb_next is not None:
        tb = tb.tb_next
    origin = str(Path(tb.tb_frame.f_code.co_filename).resolve())
    assert origin.startswith(_PACKAGE), (
        f"{kind.__name__} raised by a library, not by xlstm_ts validation "
        f"({origin}:{tb.tb_lineno}): {err}")
    assert len(str(err)) >= 20, f"uninformative message: {err!r}"


def _times(values) -> pd.Index:
    """The time column as the estimator reads it (only called on accepted input)."""
    if isinstance(values, pd.Index) and not isinstance(values, pd.DatetimeIndex):
        values = pd.Series(values)
    if pd.api.types.is_integer_dtype(values.dtype):
        return pd.Index(np.asarray(values, dtype=np.int64))
    return pd.DatetimeIndex(pd.to_datetime(pd.Series(values)))


def _input_series(df: pd.DataFrame, est: XLSTMForecaster) -> dict[str, pd.Index]:
    """Output id -> sorted timestamps of the input series behind it."""
    if est.id_col in df.columns:
        ids = df[est.id_col].astype(str).to_numpy()
        times = _times(df[est.time_col])
        return {u: times[ids == u].sort_values() for u in pd.unique(ids)}
    if est.time_col in df.columns:
        times, cols = _times(df[est.time_col]), [c for c in df.columns if c != est.time_col]
    else:
        times, cols = _times(df.index), list(df.columns)
    return {str(c): times.sort_values() for c in cols}


def _assert_valid_forecast(out: pd.DataFrame, df: pd.DataFrame, est: XLSTMForecaster,
                           repaired: bool = False) -> None:
    assert list(out.columns) == [est.id_col, est.time_col, "y_hat"]
    y = out["y_hat"].to_numpy()
    assert y.dtype == np.float64 and len(y) > 0
    assert np.isfinite(y).all(), f"non-finite forecast:\n{out}"
    inputs = _input_series(df, est)
    if est.id_col in df.columns and pd.api.types.is_integer_dtype(df[est.id_col].dtype):
        assert out[est.id_col].dtype == df[est.id_col].dtype  # integer ids come back as integers
    assert set(out[est.id_col].astype(str)) == set(inputs)
    for uid, part in out.groupby(est.id_col, sort=False):
        hist, future = inputs[str(uid)], pd.Index(part[est.time_col])
        assert len(future) == H, f"{uid}: {len(future)} forecast rows"
        if not isinstance(hist, pd.DatetimeIndex):
            assert list(future) == list(range(int(hist[-1]) + 1, int(hist[-1]) + 1 + H)), (uid, future)
            continue
        future = pd.DatetimeIndex(future)
        assert str(future.tz) == str(hist.tz), (uid, future.tz, hist.tz)
        assert future[0] > hist[-1] and future.is_monotonic_increasing and future.is_unique
        # The forecast continues the series at its frequency: history + future is regular
        # with the frequency of the history.
        if repaired:  # gaps were filled: only the spacing of the forecast itself is known
            assert len(future) < 3 or _infer_freq(future) is not None, (uid, future)
            continue
        freq = _infer_freq(hist)
        assert freq is not None, f"accepted an irregular series {uid!r}: {hist}"
        assert _infer_freq(hist.append(future)) == freq, (uid, freq, hist[-3:], future)


def _infer_freq(ds: pd.DatetimeIndex) -> str | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        freq = pd.infer_freq(ds)
    return None if freq is None else getattr(freq, "freqstr", freq)


# ---------------------------------------------------------------------- clean panels

FREQS = ["h", "h", "2h", "15min", "s", "D", "B", "W", "ME"]
TZS = [None, None, "UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"]
ID_POOLS = [("a", "b", "c"), ("b", "x", "y"), ("new1", "new2", "new3"), (0, 1, 2), ("a", 7, "x y")]
_TICKS = {"h", "2h", "15min", "s"}


def _datetimes(draw, n: int, freq: str, tz: str | None, unit: str) -> pd.DatetimeIndex:
    start = pd.Timestamp(draw(st.datetimes(min_value=datetime.datetime(1950, 1, 1),
                                           max_value=datetime.datetime(2100, 1, 1))))
    if freq in _TICKS:
        start = start.floor(freq)
        # Regular in absolute time, also across DST changes.
        ds = pd.date_range(start, periods=n, freq=freq, tz="UTC" if tz else None)
        ds = ds.tz_convert(tz) if tz else ds
    else:
        ds = pd.date_range(start.normalize(), periods=n, freq=freq, tz=tz)
    return ds.as_unit(unit)


@st.composite
def clean_long(draw, min_len: int = L, max_len: int = L + 6, max_series: int = 3) -> pd.DataFrame:
    """A valid long panel (before corruption): regular series, finite values."""
    n_series = draw(st.integers(1, max_series))
    steps = draw(st.integers(0, 5)) == 0
    freq, tz = draw(st.sampled_from(FREQS)), draw(st.sampled_from(TZS))
    unit = draw(st.sampled_from(["ns", "us", "s"]))
    ids = draw(st.sampled_from(ID_POOLS))
    frames = []
    for i in range(n_series):
        n = draw(st.integers(min_len, max_len))
        if steps:
            start = draw(st.sampled_from([0, 1, -50, 10**6, 2**40]))
            ds = pd.Index(np.arange(start, start + n, dtype=np.int64))
        else:
            ds = _datetimes(draw, n, freq, tz, unit)
        level = draw(st.sampled_from([0.0, 10.0, -3.0, 1e3]))
        t = np.arange(n)
        y = level + np.sin(t * draw(st.floats(0.2, 2.0))) + 0.01 * t * i
        frames.append(pd.DataFrame({"unique_id": ids[i], "ds": ds, "y": y}))
    return pd.concat(frames, ignore_index=True)


# ---------------------------------------------------------------------- corruptions
# Each takes (draw, df) and returns a new frame; they tolerate frames that earlier
# corruptions already broke (missing columns, odd dtypes, no rows).


def _rows(draw, df: pd.DataFrame, max_size: int = 3) -> list[int]:
    if len(df) == 0:
        return []
    return draw(st.lists(st.integers(0, len(df) - 1), min_size=1, max_size=max_size, unique=True))


def _set(df: pd.DataFrame, col: str, rows: list[int], value) -> pd.DataFrame:
    if col not in df.columns or not rows:
        return df
    df = df.copy()
    values = df[col].astype(object) if not pd.api.types.is_float_dtype(df[col].dtype) else df[col]
    values = values.copy()
    for r in rows:
        values.iloc[r] = value
    df[col] = values
    return df


def c_nonfinite(draw, df):
    return _set(df, "y", _rows(draw, df), draw(st.sampled_from([np.nan, np.inf, -np.inf, None, pd.NA])))


def c_duplicate_rows(draw, df):
    rows = _rows(draw, df, 2)
    if not rows:
        return df
    extra = df.iloc[rows].copy()
    if "y" in extra.columns and pd.api.types.is_float_dtype(extra["y"].dtype):
        extra["y"] = extra["y"] + draw(st.sampled_from([0.0, 1.0]))
    at = draw(st.sampled_from(["end", "next"]))
    if at == "end":
        return pd.concat([df, extra])
    return pd.concat([df.iloc[: rows[0] + 1], extra, df.iloc[rows[0] + 1:]])


def c_shuffle(draw, df):
    if len(df) < 2:
        return df
    how = draw(st.sampled_from(["swap", "reverse", "permute", "interleave"]))
    if how == "swap":
        i, j = draw(st.lists(st.integers(0, len(df) - 1), min_size=2, max_size=2, unique=True))
        order = list(range(len(df)))
        order[i], order[j] = order[j], order[i]
        return df.iloc[order]
    if how == "reverse":
        return df.iloc[::-1]
    if how == "interleave":  # rows of different series mixed, each series still in order
        return df.iloc[np.argsort(np.arange(len(df)) % 3, kind="stable")]
    return df.iloc[draw(st.permutations(list(range(len(df)))))]


def c_drop_rows(draw, df):
    rows = _rows(draw, df, 3)
    return df.drop(index=df.index[rows]) if rows else df


def c_jitter_time(draw, df):
    """Move one timestamp: off the grid, onto a neighbour, or far away (a huge gap)."""
    if "ds" not in df.columns or len(df) == 0:
        return df
    df = df.copy()
    r = draw(st.integers(0, len(df) - 1))
    col = df.columns.get_loc("ds")
    if pd.api.types.is_integer_dtype(df["ds"].dtype):
        shift = draw(st.sampled_from([1, -1, 2, 10**7, 10**12]))
        moved = int(df["ds"].iloc[r]) + shift
        if abs(moved) < 2**63:
            df["ds"] = df["ds"].astype(np.int64)
            df.iloc[r, col] = moved
        return df
    if not pd.api.types.is_datetime64_any_dtype(df["ds"].dtype):
        return df
    shift = pd.Timedelta(draw(st.sampled_from(["1ns", "1s", "7min", "30min", "1h", "13h", "1D", "-1D",
                                               "3650D", "36500D"])))
    if shift.value % 1000:
        df["ds"] = df["ds"].dt.as_unit("ns")
    try:
        df.iloc[r, col] = df["ds"].iloc[r] + shift
    except (OverflowError, ValueError):  # beyond the nanosecond range
        pass
    return df


def c_other_frequency(draw, df):
    """One series at another frequency (mixed frequencies in the panel)."""
    if "unique_id" not in df.columns or "ds" not in df.columns or len(df) == 0:
        return df
    if not pd.api.types.is_datetime64_any_dtype(df["ds"].dtype):
        return df
    uid = df["unique_id"].iloc[draw(st.integers(0, len(df) - 1))]
    mask = (df["unique_id"] == uid).to_numpy()
    freq = draw(st.sampled_from(["D", "15min", "W", "2h", "ME"]))
    known = df["ds"][mask].dropna()
    if known.empty:
        return df
    start, tz = known.iloc[0], df["ds"].dt.tz
    try:
        ds = pd.date_range(start.tz_localize(None).normalize(), periods=int(mask.sum()), freq=freq)
    except (OverflowError, ValueError):  # near the end of the nanosecond range
        return df
    if tz is not None:
        ds = ds.tz_localize(tz, nonexistent="shift_forward", ambiguous="NaT")
    values = list(df["ds"])
    for j, i in enumerate(np.flatnonzero(mask)):
        values[i] = ds[j]
    df = df.copy()
    df["ds"] = pd.Series(values, index=df.index)
    return df


def c_magnitude(draw, df):
    if "y" not in df.columns or not pd.api.types.is_float_dtype(df["y"].dtype) or len(df) == 0:
        return df
    df = df.copy()
    k = draw(st.sampled_from([1e-300, 1e-45, 1e-30, 1e30, 1e37, 1e39, 1e300, -1e30]))
    where = draw(st.sampled_from(["all", "one value", "one series", "offset"]))
    if where == "all":
        df["y"] = df["y"] * k
    elif where == "offset":
        df["y"] = df["y"] + k
    elif where == "one value":
        df.iloc[draw(st.integers(0, len(df) - 1)), df.columns.get_loc("y")] = k
    elif "unique_id" in df.columns:
        mask = (df["unique_id"] == df["unique_id"].iloc[0]).to_numpy()
        df.loc[mask, "y"] = df.loc[mask, "y"] * k
    return df


def c_constant(draw, df):
    if "y" not in df.columns:
        return df
    df = df.copy()
    c = draw(st.sampled_from([0.0, 1.0, -5.0, 1e30, 3e38, 1e-30]))
    if ("unique_id" in df.columns and draw(st.booleans()) and len(df)
            and pd.api.types.is_float_dtype(df["y"].dtype)):
        mask = (df["unique_id"] == df["unique_id"].iloc[0]).to_numpy()
        df.loc[mask, "y"] = c
    else:
        df["y"] = c
    return df


def c_columns(draw, df):
    cols = list(df.columns)
    how = draw(st.sampled_from(["drop", "rename", "extra num", "extra str", "duplicate",
                                "reorder", "int names", "only one", "no columns", "multiindex"]))
    if how == "drop" and cols:
        return df.drop(columns=draw(st.sampled_from(cols)))
    if how == "rename" and cols:
        col = draw(st.sampled_from(cols))
        return df.rename(columns={col: draw(st.sampled_from(["Y", "date", "id", "value", " y", "ds", "y"]))})
    if how == "extra num":
        return df.assign(extra=1.0)
    if how == "extra str":
        return df.assign(note="x")
    if how == "duplicate" and cols:
        col = draw(st.sampled_from(cols))
        return pd.concat([df, df[[col]]], axis=1)
    if how == "reorder":
        return df[cols[::-1]]
    if how == "int names":
        return df.set_axis(range(len(cols)), axis=1)
    if how == "only one" and cols:
        return df[[draw(st.sampled_from(cols))]]
    if how == "no columns":
        return df[[]]
    if how == "multiindex" and cols:
        return df.set_axis(pd.MultiIndex.from_tuples([("x", str(c)) for c in cols]), axis=1)
    return df


def _as_float(y: pd.Series) -> np.ndarray:
    """The column as float64 where it can be, else a ramp (the base of dtype corruptions)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = np.asarray(y, dtype=np.float64)
    except (TypeError, ValueError):
        out = np.arange(len(y), dtype=np.float64)
    return out


def c_target_dtype(draw, df):
    if "y" not in df.columns:
        return df
    df = df.copy()
    how = draw(st.sampled_from(["str", "numeric str", "object mixed", "object floats", "bool", "complex",
                                "category", "Int64 NA", "Float64", "datetime", "timedelta", "int",
                                "uint8", "float16", "decimal"]))
    y = df["y"]
    if how == "str":
        df["y"] = "x"
    elif how == "numeric str":
        df["y"] = y.astype(str)
    elif how == "object mixed":
        df["y"] = y.astype(object)
        if len(df):
            df.iloc[0, df.columns.get_loc("y")] = "oops"
    elif how == "object floats":
        df["y"] = y.astype(object)
    elif how == "bool":
        df["y"] = np.arange(len(df)) % 2 == 0
    elif how == "complex":
        df["y"] = _as_float(y) + 1j
    elif how == "category":
        df["y"] = y.astype(str).astype("category")
    elif how == "Int64 NA":
        v = pd.array(np.arange(len(df)), dtype="Int64")
        if len(df):
            v[draw(st.integers(0, len(df) - 1))] = pd.NA
        df["y"] = v
    elif how == "Float64":
        df["y"] = pd.array(_as_float(y), dtype="Float64")
    elif how == "datetime":
        df["y"] = pd.Timestamp("2024-01-01")
    elif how == "timedelta":
        df["y"] = pd.Timedelta("1h")
    elif how == "int":
        df["y"] = np.arange(len(df), dtype=np.int64) * draw(st.sampled_from([1, 10**15]))
    elif how == "uint8":
        df["y"] = (np.arange(len(df)) % 7).astype(np.uint8)
    elif how == "float16":
        df["y"] = _as_float(y).astype(np.float16)
    else:
        import decimal

        df["y"] = [decimal.Decimal(i) for i in range(len(df))]
    return df


def c_time_dtype(draw, df):
    if "ds" not in df.columns:
        return df
    df = df.copy()
    ds = df["ds"]
    n = len(df)
    how = draw(st.sampled_from(["steps", "global steps", "epoch ns", "epoch s", "float", "str parses",
                                "str junk", "dates", "period", "timedelta", "NaT", "object aware+naive",
                                "two zones", "all aware", "uint64 huge", "int near max", "bool",
                                "Int64", "py datetimes", "near ns max", "category"]))
    per_series = (df.groupby("unique_id", sort=False).cumcount().to_numpy()
                  if "unique_id" in df.columns and n and df["unique_id"].notna().all()
                  and df["unique_id"].map(lambda u: isinstance(u, (str, int))).all()
                  else np.arange(n))
    dt = pd.api.types.is_datetime64_any_dtype(ds.dtype)
    if how == "steps":
        df["ds"] = per_series
    elif how == "global steps":
        df["ds"] = np.arange(n)
    elif how == "epoch ns" and dt:
        df["ds"] = pd.DatetimeIndex(ds).as_unit("ns").asi8
    elif how == "epoch s":
        df["ds"] = 1_700_000_000 + 3600 * per_series
    elif how == "float":
        df["ds"] = per_series.astype(float)
    elif how == "str parses":
        df["ds"] = ds.astype(str)
    elif how == "str junk":
        df["ds"] = ["not a date"] * n
    elif how == "dates" and dt:
        df["ds"] = pd.Series([t.date() for t in ds], index=df.index, dtype=object)
    elif how == "period" and dt and ds.dt.tz is None:
        df["ds"] = ds.dt.to_period("h")
    elif how == "timedelta":
        df["ds"] = pd.to_timedelta(per_series, unit="h")
    elif how == "NaT" and dt and n:
        df.iloc[draw(st.integers(0, n - 1)), df.columns.get_loc("ds")] = pd.NaT
    elif how == "object aware+naive" and dt and n:
        aware = ds.dt.tz_localize("UTC") if ds.dt.tz is None else ds
        values = list(aware)
        r = draw(st.integers(0, n - 1))
        values[r] = values[r].tz_localize(None)
        df["ds"] = pd.Series(values, index=df.index, dtype=object)
    elif how == "two zones" and dt and n:
        aware = ds.dt.tz_localize("UTC") if ds.dt.tz is None else ds
        values = list(aware)
        r = draw(st.integers(0, n - 1))
        values[r] = values[r].tz_convert("Asia/Tokyo")
        df["ds"] = pd.Series(values, index=df.index, dtype=object)
    elif how == "all aware" and dt:
        df["ds"] = ds.dt.tz_localize("America/Sao_Paulo", nonexistent="shift_forward",
                                     ambiguous="NaT") if ds.dt.tz is None else ds.dt.tz_convert("Asia/Tokyo")
    elif how == "uint64 huge":
        df["ds"] = np.uint64(2**63) + per_series.astype(np.uint64)
    elif how == "int near max":
        df["ds"] = np.iinfo(np.int64).max - 20 + per_series
    elif how == "bool":
        df["ds"] = per_series % 2 == 0
    elif how == "Int64":
        df["ds"] = pd.array(per_series, dtype="Int64")
    elif how == "py datetimes" and dt:
        df["ds"] = pd.Series(list(ds.dt.to_pydatetime()), index=df.index, dtype=object)
    elif how == "near ns max":  # hourly series ending at the last nanosecond-resolution hour
        rest = per_series.max() - per_series if n else per_series
        df["ds"] = pd.Timestamp("2262-04-11 23:00").as_unit("ns") - pd.to_timedelta(rest, unit="h")
    elif how == "category":
        df["ds"] = ds.astype(str).astype("category")
    return df


def c_ids(draw, df):
    if "unique_id" not in df.columns or len(df) == 0:
        return df
    df = df.copy()
    how = draw(st.sampled_from(["None", "NaN", "1 and '1'", "lists", "category unused", "all same",
                                "float", "empty string", "tuple"]))
    r = draw(st.integers(0, len(df) - 1))
    uid = df["unique_id"].astype(object)
    if how == "None":
        uid.iloc[r] = None
    elif how == "NaN":
        uid.iloc[r] = np.nan
    elif how == "1 and '1'":
        uid = pd.Series([1 if i % 2 else "1" for i in range(len(df))], index=df.index, dtype=object)
    elif how == "lists":
        uid.iloc[r] = [1, 2]
    elif how == "category unused":
        uid = uid.astype(str)
        uid = uid.astype(pd.CategoricalDtype(list(uid.dropna().unique()) + ["unused"]))
    elif how == "all same":
        uid = pd.Series("a", index=df.index)
    elif how == "float":
        uid = pd.Series(np.arange(len(df)) // max(1, len(df) // 2) + 0.5, index=df.index)
    elif how == "empty string":
        uid.iloc[:] = ""
    else:
        uid = pd.Series([("a", 1)] * len(df), index=df.index, dtype=object)
    df["unique_id"] = uid
    return df


def c_empty(draw, df):
    how = draw(st.sampled_from(["no rows", "no frame columns", "empty frame", "one row"]))
    if how == "no rows":
        return df.iloc[:0]
    if how == "no frame columns":
        return df[[]]
    if how == "one row":
        return df.iloc[:1]
    return pd.DataFrame()


def c_short(draw, df):
    """Keep only the first k rows of every series (very short series)."""
    k = draw(st.integers(1, L))
    if "unique_id" in df.columns and df["unique_id"].map(lambda u: isinstance(u, (str, int))).all():
        return df.groupby("unique_id", sort=False).head(k)
    return df.iloc[:k]


def c_wide(draw, df):
    """Drop the id column: a wide frame (time column or DatetimeIndex, one column per variable)."""
    if "unique_id" not in df.columns or len(df) == 0:
        return df
    first = df["unique_id"].iloc[0]
    part = df[df["unique_id"] == first] if draw(st.booleans()) else df
    part = part.drop(columns="unique_id")
    how = draw(st.sampled_from(["ds column", "ds index", "range index", "two targets"]))
    if how == "ds index" and "ds" in part.columns:
        return part.set_index("ds")
    if how == "range index" and "ds" in part.columns:
        return part.drop(columns="ds").reset_index(drop=True)
    if how == "two targets" and "y" in part.columns:
        return part.assign(z=part["y"])
    return part


CORRUPTIONS = [c_nonfinite, c_duplicate_rows, c_shuffle, c_drop_rows, c_jitter_time, c_other_frequency,
               c_magnitude, c_constant, c_columns, c_target_dtype, c_time_dtype, c_ids, c_empty, c_short,
               c_wide]


@st.composite
def malformed(draw, corruptions=CORRUPTIONS, max_corruptions: int = 3, **clean) -> pd.DataFrame:
    df = draw(clean_long(**clean))
    for corrupt in draw(st.lists(st.sampled_from(corruptions), min_size=1, max_size=max_corruptions)):
        if not df.columns.is_unique or isinstance(df.columns, pd.MultiIndex):
            break  # df["y"] would be a frame: broken enough
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            df = corrupt(draw, df)
    return df


# ---------------------------------------------------------------------- predict


@_settings(250)
@given(df=malformed())
def test_predict_any_frame_forecasts_or_raises_clearly(est_plain, df):
    out = _call(est_plain.predict, df)
    if out is not None:
        _assert_valid_forecast(out, df, est_plain)


@_settings(120)
@given(df=malformed())
def test_predict_with_calendar_any_frame_forecasts_or_raises_clearly(est_calendar, df):
    out = _call(est_calendar.predict, df)
    if out is not None:
        _assert_valid_forecast(out, df, est_calendar)


@_settings(80)
@given(df=malformed(corruptions=[c_nonfinite, c_magnitude, c_constant, c_target_dtype], max_corruptions=2))
def test_predict_values_never_nan(est_plain, df):
    """Targets: NaN/inf anywhere, huge/tiny magnitudes, constant series, odd dtypes."""
    out = _call(est_plain.predict, df)
    if out is not None:
        _assert_valid_forecast(out, df, est_plain)


@_settings(120)
@given(df=malformed(corruptions=[c_duplicate_rows, c_shuffle, c_drop_rows, c_jitter_time,
                                 c_other_frequency, c_time_dtype, c_short], max_corruptions=2))
def test_predict_time_column_problems(est_plain, df):
    """Timestamps: duplicates, order, gaps, off-grid, mixed frequencies, dtypes, zones."""
    out = _call(est_plain.predict, df)
    if out is not None:
        _assert_valid_forecast(out, df, est_plain)


@_settings(120)
@given(df=malformed(corruptions=[c_time_dtype, c_time_dtype, c_ids, c_columns, c_wide], max_corruptions=2))
def test_predict_column_dtypes_and_names(est_plain, df):
    """Time column as ints/epochs/floats/strings/dates/periods/mixed zones, odd ids and names."""
    out = _call(est_plain.predict, df)
    if out is not None:
        _assert_valid_forecast(out, df, est_plain)


@_settings(120)
@given(df=malformed(corruptions=[c_nonfinite, c_drop_rows, c_jitter_time, c_time_dtype, c_magnitude,
                                 c_constant, c_short], max_corruptions=3))
def test_predict_with_repair_options(est_fill, df):
    """fill= / fill_missing=True: gaps and NaN are repaired, or refused clearly (all-NaN series,
    off-grid timestamps, absurd gaps), never passed on as NaN."""
    out = _call(est_fill.predict, df)
    if out is not None:
        _assert_valid_forecast(out, df, est_fill, repaired=True)


@_settings(40)
@given(df=clean_long())
def test_predict_clean_panels_forecast(est_plain, df):
    """The generator's clean panels are accepted (else the properties above test little)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = est_plain.predict(df)
    _assert_valid_forecast(out, df, est_plain)


# ---------------------------------------------------------------------- fit (validation)


class _ReachedTraining(Exception):
    pass


def _stop_before_training(self, series, *args, **kwargs):
    raise _ReachedTraining(series)


@pytest.mark.parametrize("options", [{}, {"fill": "ffill", "fill_missing": True}], ids=["strict", "repair"])
@_settings(80)
@given(df=malformed(min_len=L + H, max_len=L + H + 4))
def test_fit_validation_rejects_or_passes_clean_series(options, df):
    """``fit`` either raises a clear error before training or hands training clean series."""
    est = XLSTMForecaster(**{**TINY, **options})
    with mock.patch.object(XLSTMForecaster, "_fit_series", _stop_before_training):
        try:
            _call(est.fit, df)
        except _ReachedTraining as reached:
            (series,) = reached.args
            assert series
            for s in series:
                assert len(s) >= L + H
                assert np.isfinite(s.values).all()
                assert s.futr is None or np.isfinite(s.futr).all()
                assert isinstance(s.ds, pd.RangeIndex) or s.ds.freq is not None
                if isinstance(s.ds, pd.DatetimeIndex):
                    assert s.ds.equals(pd.date_range(s.ds[0], periods=len(s), freq=s.freq))


# ---------------------------------------------------------------------- full tiny fits


@st.composite
def valid_extreme(draw) -> pd.DataFrame:
    """Valid data with extreme magnitudes or constant series (must be forecast, finitely)."""
    df = draw(clean_long(min_len=L + H + 4, max_len=L + H + 8, max_series=2))
    how = draw(st.sampled_from(["scale", "offset", "constant", "per series"]))
    k = draw(st.sampled_from([1e-30, 1e30, -1e30, 1e-38, 1e34]))
    if how == "scale":
        df["y"] = df["y"] * k
    elif how == "offset":
        df["y"] = df["y"] + k
    elif how == "constant":
        df["y"] = k
    else:
        first = (df["unique_id"] == df["unique_id"].iloc[0]).to_numpy()
        df.loc[first, "y"] = df.loc[first, "y"] * k
        df.loc[~first, "y"] = draw(st.sampled_from([0.0, 7.0, 1e-30]))
    return df


@pytest.mark.slow
@_settings(8)
@given(df=valid_extreme())
def test_fit_extreme_but_valid_data_forecasts_finite(df):
    kw = {"calendar": False, "val_size": None}
    est = XLSTMForecaster(**{**TINY, **kw})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(df)
        out = est.predict()
        again = est.predict(df)
    _assert_valid_forecast(out, df, est)
    pd.testing.assert_frame_equal(out, again)

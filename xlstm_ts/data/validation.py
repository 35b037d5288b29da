"""Input validation at the public boundary of the data layer.

Every check raises ``ValueError`` (bad values) or ``TypeError`` (bad types) with a
message that names the problem, the column, the series (``unique_id``) and the time
range where relevant, and says how to fix it. Silent repair happens only when the
caller asked for it (``sort=True``, ``fill=...``, ``fill_missing=True``), because the
most common complaints about forecasting toolkits are silent NaN propagation and
surprising gap handling (see ``toolkits.md`` §3, rows 7-8).

The functions work on whole columns at once (numpy/pandas vectorised) so that a panel
of many short series is validated without a Python loop per row; loops per *series*
happen only for series that actually need repair.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd
from pandas.tseries.frequencies import to_offset
from pandas.tseries.offsets import BaseOffset

FillMethod = Literal["ffill", "interpolate", "zero"]
FILL_METHODS: tuple[str, ...] = ("ffill", "interpolate", "zero")

#: The frequency of a series: a pandas offset for timestamps, ``1`` for an integer step index.
Frequency = BaseOffset | int

_MAX_LISTED = 5  # how many offending items a message lists before summarising


def listing(items: Sequence[object]) -> str:
    """Show at most a few items so that messages stay readable on large panels."""
    shown = ", ".join(repr(i) for i in list(items)[:_MAX_LISTED])
    more = len(items) - _MAX_LISTED
    return shown + (f" (and {more} more)" if more > 0 else "")


def time_range(ds: pd.Index) -> str:
    """Format ``first → last`` of a time index for error messages."""
    if len(ds) == 0:
        return "(empty)"
    return f"{ds[0]} → {ds[-1]}"


def freq_name(freq: Frequency) -> str:
    """Human-readable name of a frequency (``'h'``, ``'15min'``, ``'ME'`` or ``'1 step'``)."""
    if isinstance(freq, BaseOffset):
        return freq.freqstr
    return f"{freq} step"


# --------------------------------------------------------------------------- frames / columns


def check_frame(df: object, name: str = "df") -> pd.DataFrame:
    """Check that ``df`` is a non-empty DataFrame.

    Raises
    ------
    TypeError
        If ``df`` is not a ``pandas.DataFrame``.
    ValueError
        If it has no rows or no columns.
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(
            f"{name} must be a pandas DataFrame, got {type(df).__name__}; "
            "read files with xlstm_ts.data.read_frame(path)"
        )
    if df.shape[0] == 0 or df.shape[1] == 0:
        # Also the covariate frames (futr_df, static_df): "nothing to forecast" would mislead there.
        what = {"futr_df": "the future covariates of every series at each forecast step",
                "static_df": "one row of static covariates per series"}.get(name, "the series' rows")
        raise ValueError(f"{name} is empty (shape {df.shape}); it must hold {what}")
    if isinstance(df.columns, pd.MultiIndex):
        raise ValueError(
            f"{name} has MultiIndex columns ({df.columns.nlevels} levels, e.g. "
            f"{df.columns[0]!r}); flatten them to single names first, e.g. "
            "df.columns = ['_'.join(map(str, c)) for c in df.columns]"
        )
    if not df.columns.is_unique:
        dup = df.columns[df.columns.duplicated()].unique().tolist()
        raise ValueError(f"{name} has duplicated column names: {listing(dup)}")
    return df


def check_columns(
    df: pd.DataFrame,
    *,
    required: Sequence[str],
    declared: Sequence[str] = (),
    role: dict[str, str] | None = None,
    extra_cols: Literal["error", "ignore"] = "error",
    name: str = "df",
) -> None:
    """Check that required and declared columns exist and that nothing is left unexplained.

    Parameters
    ----------
    df
        The frame to check.
    required
        Columns the caller must provide (id, time, target).
    declared
        Optional columns the caller named explicitly (covariates); each must exist.
    role
        Column -> role name ("target", "future covariate", ...) used in messages.
    extra_cols
        ``"error"`` (default) rejects columns that are neither required nor declared,
        because silently ignoring a covariate the user meant to use is a known pitfall;
        ``"ignore"`` drops them.
    name
        Name of the frame in messages.
    """
    if extra_cols not in ("error", "ignore"):
        raise ValueError(f"extra_cols must be 'error' or 'ignore', got {extra_cols!r}")
    role = role or {}
    available = [str(c) for c in df.columns]
    for group in (required, declared):
        missing = [c for c in group if c not in df.columns]
        if missing:
            roles = ", ".join(f"{c!r} ({role.get(c, 'column')})" for c in missing)
            raise ValueError(
                f"{name} is missing column(s) {roles}; available columns: {listing(available)}"
            )
    wanted = list(required) + list(declared)
    seen: set[str] = set()
    for c in wanted:
        if c in seen:
            raise ValueError(
                f"column {c!r} is used in two roles ({role.get(c, 'column')} and another); "
                "each column may be the id, the time, a target or a covariate, not several"
            )
        seen.add(c)
    extra = [c for c in df.columns if c not in seen]
    if extra and extra_cols == "error":
        raise ValueError(
            f"{name} has column(s) {listing([str(c) for c in extra])} that are neither the id, "
            "the time nor a target column; declare future-known covariates with "
            "futr_cols=[...] or drop the columns (xlstm_ts.data.from_long/from_wide also take "
            "extra_cols='ignore')"
        )


def check_numeric(df: pd.DataFrame, cols: Sequence[str], role: str = "target") -> None:
    """Raise ``TypeError`` naming the first column of ``cols`` that is not numeric."""
    for c in cols:
        dtype = df[c].dtype
        if pd.api.types.is_complex_dtype(dtype):
            raise TypeError(
                f"{role} column {c!r} has complex dtype {dtype}; {role} values must be real "
                "numbers: forecast the real and imaginary parts as two columns "
                "(np.real / np.imag) or use the magnitude (np.abs)"
            )
        if not pd.api.types.is_numeric_dtype(dtype):
            hint = (
                f"pass it as time_col={c!r} if it is the time column"
                if pd.api.types.is_datetime64_any_dtype(dtype)
                else "convert it with pd.to_numeric(df[col]), drop it, or, if it holds "
                f"timestamps, pass it as time_col={c!r}"
            )
            raise TypeError(
                f"{role} column {c!r} has non-numeric dtype {dtype}; {role} values must be "
                f"numbers (int/float/bool): {hint}"
            )


def check_ids(ids: pd.Series, col: str) -> None:
    """Raise ``ValueError`` if the id column has missing values."""
    n_null = int(ids.isna().sum())
    if n_null:
        rows = np.flatnonzero(ids.isna().to_numpy())
        raise ValueError(
            f"id column {col!r} has {n_null} missing value(s) (rows {listing(rows.tolist())}); "
            "every row must belong to a series"
        )


# --------------------------------------------------------------------------- time column


def coerce_time(values: pd.Series | pd.Index, col: str) -> pd.Index:
    """Return the time column as a ``DatetimeIndex`` or an integer step ``Index``.

    Accepted: ``datetime64`` (naive or with one time zone) and integers (a plain step
    index with frequency 1). Strings are *not* parsed here, so that the date format is
    the caller's explicit choice.

    Raises
    ------
    TypeError
        Strings, floats, mixed time-zone-aware and naive timestamps, several time zones.
    ValueError
        Missing timestamps (NaT).
    """
    dtype = values.dtype
    if pd.api.types.is_datetime64_any_dtype(dtype):
        index = pd.DatetimeIndex(values)
    elif pd.api.types.is_integer_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
        if isinstance(dtype, pd.api.extensions.ExtensionDtype) and pd.isna(values).any():
            raise ValueError(f"time column {col!r} has missing values")
        if len(values) and pd.api.types.is_unsigned_integer_dtype(dtype):
            top = np.asarray(values).max()
            if top > np.iinfo(np.int64).max:
                raise ValueError(
                    f"time column {col!r} has integer steps up to {top}, beyond the int64 "
                    "range of step indexes; renumber the steps from 0"
                )
        index = pd.Index(np.asarray(values, dtype=np.int64))
    elif pd.api.types.is_object_dtype(dtype) and pd.api.types.infer_dtype(values, skipna=True) in (
        "datetime",
        "datetime64",
        "date",
    ):
        index = _timestamps_from_objects(values, col)
    else:
        raise TypeError(
            f"time column {col!r} has dtype {dtype}; expected datetime64 timestamps "
            f"(convert with pd.to_datetime(df[{col!r}], format=...)) or integer steps"
        )
    if isinstance(index, pd.DatetimeIndex) and index.hasnans:
        rows = np.flatnonzero(index.isna())
        raise ValueError(
            f"time column {col!r} has {len(rows)} missing timestamp(s) (NaT) at rows "
            f"{listing(rows.tolist())}"
        )
    return index


def _timestamps_from_objects(values: pd.Series | pd.Index, col: str) -> pd.DatetimeIndex:
    """Object columns of datetimes: pandas keeps them as objects when time zones differ."""
    # Positions, not labels: the frame's index may be anything (filtered rows, strings).
    stamps = pd.Series(np.asarray(values, dtype=object)).dropna()
    zones = stamps.map(lambda v: str(getattr(v, "tzinfo", None)))
    aware = (zones != "None").to_numpy()
    if aware.any() and not aware.all():
        first_naive = stamps.iloc[int(np.flatnonzero(~aware)[0])]
        first_aware = stamps.iloc[int(np.flatnonzero(aware)[0])]
        raise TypeError(
            f"time column {col!r} mixes timezone-aware and naive timestamps "
            f"(e.g. {first_aware} and {first_naive}); localise the naive ones with "
            ".dt.tz_localize(...) or drop the zone with .dt.tz_localize(None)"
        )
    if aware.any() and zones.nunique() > 1:
        raise TypeError(
            f"time column {col!r} mixes several time zones ({listing(sorted(zones.unique()))}); "
            "convert them to one zone, e.g. pd.to_datetime(df[col], utc=True)"
        )
    try:
        return pd.DatetimeIndex(pd.to_datetime(pd.Series(np.asarray(values, dtype=object))))
    except (ValueError, TypeError, OverflowError) as err:
        raise ValueError(
            f"time column {col!r} holds Python date/datetime objects that pandas cannot turn "
            f"into timestamps ({err}); convert the column with pd.to_datetime(df[{col!r}]) first"
        ) from err


# --------------------------------------------------------------------------- order / duplicates


def time_ints(ds: pd.Index) -> np.ndarray:
    """Timestamps as int64 (epoch units of the index, UTC for aware ones) for fast checks."""
    if isinstance(ds, pd.DatetimeIndex):
        return ds.asi8
    return ds.to_numpy(np.int64)


def time_values(ds: pd.Index) -> np.ndarray:
    """Timestamps as a numpy datetime64 array (UTC for aware ones) or integer steps."""
    if isinstance(ds, pd.DatetimeIndex):
        return (ds.tz_convert(None) if ds.tz is not None else ds).to_numpy()
    return ds.to_numpy(np.int64)


def check_duplicates(codes: np.ndarray, t: np.ndarray, ds: pd.Index, uids: Sequence[str]) -> None:
    """Raise ``ValueError`` naming the first series with a repeated timestamp."""
    frame = pd.DataFrame({"c": codes, "t": t})
    dup = frame.duplicated(keep=False).to_numpy()
    if not dup.any():
        return
    first = int(np.flatnonzero(dup)[0])
    uid = uids[codes[first]]
    n_rows = int(dup.sum())
    n_series = len(np.unique(codes[dup]))
    raise ValueError(
        f"duplicate timestamps: series {uid!r} has timestamp {ds[first]} more than once "
        f"({n_rows} rows in {n_series} series are duplicates); aggregate or drop the duplicated rows first, "
        "e.g. df.drop_duplicates([id_col, time_col]) (wide: df[~df.index.duplicated()])"
    )


def first_unsorted(codes: np.ndarray, t: np.ndarray) -> int | None:
    """Position ``i`` where ``t[i + 1] < t[i]`` inside one series, or ``None`` if sorted.

    ``codes``/``t`` must be grouped by series (the input order kept inside each).
    """
    back = (codes[1:] == codes[:-1]) & (t[1:] < t[:-1])
    return int(np.flatnonzero(back)[0]) if back.any() else None


def unsorted_error(i: int, codes: np.ndarray, ds: pd.Index, uids: Sequence[str]) -> ValueError:
    """The error for the timestamp at grouped position ``i`` going backwards."""
    return ValueError(
        f"timestamps are not sorted: in series {uids[codes[i]]!r}, {ds[i]} is followed by the "
        f"earlier {ds[i + 1]}; sort the rows first (long frame: df.sort_values([id_col, "
        "time_col]); wide frame: df.sort_index()), or read with from_long/from_wide(..., sort=True)"
    )


# --------------------------------------------------------------------------- frequency


def infer_frequency(ds: pd.Index) -> Frequency | None:
    """Infer the frequency of one regular series; ``None`` if pandas cannot tell.

    Integer step indexes have frequency ``1``. Uses ``pd.infer_freq`` (needs at least
    three timestamps and a gap-free series).
    """
    if not isinstance(ds, pd.DatetimeIndex):
        return 1
    if ds.freq is not None:
        return ds.freq
    if len(ds) < 3:
        return None
    with warnings.catch_warnings():
        # pandas >= 3.1 warns that infer_freq will return an offset; to_offset takes both.
        warnings.simplefilter("ignore", FutureWarning)
        warnings.filterwarnings("ignore", message=".*infer_freq.*")
        try:
            inferred = pd.infer_freq(ds)
        except (TypeError, ValueError):
            return None
    return None if inferred is None else to_offset(inferred)


def parse_frequency(freq: str | BaseOffset | int | None, kind: str) -> Frequency | None:
    """Turn a user-supplied frequency into an offset (or ``1`` for integer steps)."""
    if freq is None:
        return None
    if kind == "integer":
        if freq != 1:
            raise ValueError(
                f"integer time steps must advance by 1, so freq must be None or 1, got {freq!r}"
            )
        return 1
    try:
        return to_offset(freq)
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"freq={freq!r} is not a pandas frequency (e.g. 'h', '15min', 'D', 'W', 'ME')"
        ) from err


#: Nanoseconds per unit of a datetime64 resolution.
NANOS_PER_UNIT = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}


def fixed_step(freq: Frequency, ds: pd.Index) -> np.timedelta64 | int | None:
    """The constant step between timestamps, or ``None`` for calendar offsets.

    Month ends, weeks anchored on a weekday and days across DST changes have no fixed
    duration, so their grids are checked with ``pd.date_range`` instead.
    """
    if not isinstance(freq, BaseOffset):
        return int(freq)
    tz = getattr(ds, "tz", None)
    if isinstance(freq, pd.offsets.Tick) or (isinstance(freq, pd.offsets.Day) and tz is None):
        # In the resolution of the index where the step is a whole number of its units
        # (differences of second-resolution timestamps more than 292 years apart overflow
        # in nanoseconds); np.timedelta64(pd.Timedelta(...)) may round a nanosecond to 0.
        nanos = int(pd.Timedelta(freq).value)
        unit = getattr(ds, "unit", "ns")
        per_unit = NANOS_PER_UNIT.get(unit, 1)
        if nanos % per_unit == 0:
            return np.timedelta64(nanos // per_unit, unit)
        return np.timedelta64(nanos, "ns")
    return None


def grid(first: object, last: object, freq: Frequency) -> pd.Index:
    """All timestamps from ``first`` to ``last`` at ``freq`` (the expected regular index)."""
    if isinstance(freq, BaseOffset):
        return date_grid(first, freq, end=last)
    return pd.RangeIndex(int(first), int(last) + 1, int(freq))


def date_grid(
    start: object, freq: BaseOffset, *, end: object = None, periods: int | None = None
) -> pd.DatetimeIndex:
    """``pd.date_range`` that also works when a calendar step hits a DST change.

    Time-zone-aware calendar offsets (days, month ends ...) step in wall-clock time, and
    pandas refuses to generate a wall-clock time that is ambiguous (it happens twice when
    the clocks go back) or does not exist (skipped when they go forward): a daily series
    at 01:00 in New York, say. Such times take their first occurrence (summer time), and
    skipped ones move forward to the first time that exists.
    """
    try:
        return pd.date_range(start, end, periods=periods, freq=freq)
    except ValueError:
        tz = getattr(start, "tz", None)
        if tz is None:
            raise
    wall = pd.date_range(
        pd.Timestamp(start).tz_localize(None),
        None if end is None else pd.Timestamp(end).tz_localize(None),
        periods=periods,
        freq=freq,
    )
    return wall.tz_localize(tz, ambiguous=np.ones(len(wall), dtype=bool), nonexistent="shift_forward")


def describe_irregularity(uid: str, ds: pd.Index, freq: Frequency, source: str) -> tuple[str, bool]:
    """Explain why one series does not lie on the regular grid of ``freq``.

    Returns
    -------
    message, fixable
        ``fixable`` is ``True`` when the only problem is missing timestamps (which
        ``fill_missing=True`` can insert); ``False`` for off-grid timestamps or a
        different frequency.
    """
    own = infer_frequency(ds)
    if own is not None and own != freq and isinstance(own, BaseOffset):
        return (
            f"mixed frequencies: series {uid!r} ({time_range(ds)}) has frequency "
            f"{freq_name(own)!r} but the panel frequency is {freq_name(freq)!r} ({source}); "
            "resample the series to one frequency (df.resample) or pass freq=...",
            False,
        )
    step = fixed_step(freq, ds)
    if step is not None:
        return _describe_fixed_step(uid, ds, freq, source, step)
    expected = grid(ds[0], ds[-1], freq)
    off = ~ds.isin(expected)
    if off.any() or (len(expected) and expected[0] != ds[0]):
        bad = ds[off][0] if off.any() else ds[0]
        return _off_grid_message(uid, ds, bad, freq, source), False
    present = expected.isin(ds)
    if present.all():  # nothing missing after all: report rather than fail on an empty gap list
        return _off_grid_message(uid, ds, ds[0], freq, source), False
    n_missing = int((~present).sum())
    j = int(np.flatnonzero(~present)[0])
    after = expected[j - 1]
    nxt = ds[ds > after][0]
    return _missing_message(uid, ds, n_missing, after, nxt, freq, source), True


def _describe_fixed_step(
    uid: str, ds: pd.Index, freq: Frequency, source: str, step: np.timedelta64 | int
) -> tuple[str, bool]:
    """:func:`describe_irregularity` for fixed-duration steps and integer steps.

    Works on the timestamps as exact Python integers (nanoseconds or steps) instead of
    generating the regular grid, which for a few far-apart timestamps (epoch seconds or
    nanoseconds given as integer steps, say) would not fit in memory.
    """
    if isinstance(ds, pd.DatetimeIndex):
        per_unit = NANOS_PER_UNIT.get(ds.unit, 1)
        t = [int(x) * per_unit for x in ds.asi8.tolist()]
        k = int(pd.Timedelta(freq).value)
    else:
        t = [int(x) for x in ds.to_numpy(np.int64).tolist()]
        k = int(step)
    diffs = [b - a for a, b in zip(t[:-1], t[1:], strict=True)]
    off = [i for i, x in enumerate(t) if (x - t[0]) % k]
    if off:
        return _off_grid_message(uid, ds, ds[off[0]], freq, source), False
    if not isinstance(ds, pd.DatetimeIndex) and len(diffs) >= 2 and len(set(diffs)) == 1:
        return (
            f"integer time steps must advance by 1: series {uid!r} ({time_range(ds)}) advances "
            f"by {diffs[0]} at every row; if these are epoch timestamps convert them with "
            "pd.to_datetime(df[time_col], unit='s'|'ms'|'us'|'ns'), otherwise number the steps "
            "0, 1, 2, ...",
            False,
        )
    gaps = [i for i, d in enumerate(diffs) if d != k]
    if not gaps:
        return _off_grid_message(uid, ds, ds[0], freq, source), False
    n_missing = (t[-1] - t[0]) // k + 1 - len(t)
    j = gaps[0]
    return _missing_message(uid, ds, n_missing, ds[j], ds[j + 1], freq, source), True


def _off_grid_message(uid: str, ds: pd.Index, bad: object, freq: Frequency, source: str) -> str:
    return (
        f"irregular timestamps: series {uid!r} ({time_range(ds)}) has timestamp {bad} "
        f"that is not on the {freq_name(freq)!r} grid ({source}); resample or round the "
        "timestamps (e.g. df.resample(freq).mean()) or pass the right freq="
    )


def _missing_message(
    uid: str, ds: pd.Index, n_missing: int, after: object, nxt: object, freq: Frequency, source: str
) -> str:
    return (
        f"missing timestamps: series {uid!r} ({time_range(ds)}) lacks {n_missing} step(s) at "
        f"frequency {freq_name(freq)!r} ({source}); first gap after {after}, next observed "
        f"{nxt}; pass fill_missing=True with fill='ffill'|'interpolate'|'zero' to insert and "
        "fill them"
    )


# --------------------------------------------------------------------------- values


def check_fill(fill: str | None, fill_missing: bool) -> None:
    """Validate the fill options together (one needs the other)."""
    if fill is not None and fill not in FILL_METHODS:
        raise ValueError(f"fill must be one of {FILL_METHODS} or None, got {fill!r}")
    if fill_missing and fill is None:
        raise ValueError(
            "fill_missing=True inserts the missing timestamps as empty rows, which then need "
            "values: also pass fill='ffill', 'interpolate' or 'zero'"
        )


def non_finite_error(
    values: np.ndarray,
    cols: Sequence[str],
    codes: np.ndarray,
    ds: pd.Index,
    uids: Sequence[str],
    role: str,
) -> ValueError | None:
    """Build an error for NaN/inf in ``values`` (rows × cols), or ``None`` if all finite."""
    bad = ~np.isfinite(values)
    if not bad.any():
        return None
    row, col = (int(v) for v in np.argwhere(bad)[0])
    n_bad = int(bad.sum())
    n_series = len(np.unique(codes[bad.any(axis=1)]))
    kind = "inf" if np.isinf(values[row, col]) else "NaN"
    return ValueError(
        f"{role} column {cols[col]!r} has NaN or inf values: series {uids[codes[row]]!r} has "
        f"{kind} at {ds[row]} ({n_bad} non-finite value(s) in {n_series} series in total); "
        "clean them or pass fill='ffill', 'interpolate' or 'zero'"
    )


def fill_non_finite(
    values: np.ndarray,
    method: FillMethod,
    cols: Sequence[str],
    uid: str,
    ds: pd.Index,
    before: np.ndarray | None = None,
) -> np.ndarray:
    """Fill NaN/inf of one series (T, K) column by column.

    ``ffill`` carries the last value forward and back-fills leading gaps (a series has
    no earlier value to carry); ``interpolate`` is linear in the step position (the
    grid is regular) with constant extension at the edges; ``zero`` writes 0.
    Written with numpy rather than ``DataFrame.ffill``/``interpolate`` because it runs
    once per gappy series and pandas' per-call overhead dominated on large panels.

    ``before`` (K,) is the row just before ``values`` when they continue known data
    (NaN for a column without one). The fill then starts from it: leading gaps take
    that earlier value (``ffill``) or are interpolated from it, exactly as a fill of the
    whole history would, instead of being filled from later rows (look-ahead).
    """
    if before is not None and method != "zero":
        anchored = np.concatenate([np.asarray(before, dtype=values.dtype)[None], values])
        return fill_non_finite(anchored, method, cols, uid, ds)[1:]
    finite = np.isfinite(values)
    if method == "zero":
        return np.where(finite, values, 0).astype(values.dtype)
    empty = ~finite.any(axis=0)
    if empty.any():
        col = cols[int(np.flatnonzero(empty)[0])]
        raise ValueError(
            f"column {col!r} of series {uid!r} ({time_range(ds)}) has no finite value, so "
            f"fill={method!r} has nothing to fill from; drop the series or use fill='zero'"
        )
    out = values.copy()
    rows = np.arange(len(values))
    for k in np.flatnonzero(~finite.all(axis=0)):
        ok = finite[:, k]
        if method == "ffill":
            # Index of the last finite row at or before each row; leading gaps take the
            # first finite value (back-fill).
            last = np.maximum.accumulate(np.where(ok, rows, -1))
            last[last < 0] = int(np.flatnonzero(ok)[0])
            out[:, k] = values[last, k]
        else:
            out[:, k] = np.interp(rows, rows[ok], values[ok, k])
    return out


def check_min_length(
    lengths: np.ndarray,
    min_length: int | None,
    uids: Sequence[str],
    times: Sequence[pd.Index],
    rule: str | None = None,
) -> None:
    """Raise ``ValueError`` listing the series shorter than ``min_length`` rows.

    ``rule`` says what ``min_length`` is made of (``"lookback + horizon"``) for the message.
    """
    if min_length is None:
        return
    short = np.flatnonzero(lengths < min_length)
    if short.size == 0:
        return
    first = int(short[0])
    listed = [f"{uids[i]!r} ({lengths[i]} rows)" for i in short[:_MAX_LISTED]]
    more = f" and {short.size - _MAX_LISTED} more" if short.size > _MAX_LISTED else ""
    why = f" ({rule})" if rule else ""
    fix = f"reduce {rule} or drop the short series" if rule else "drop the short series"
    raise ValueError(
        f"series too short: {short.size} series have fewer than {min_length} rows{why}: "
        f"{', '.join(listed)}{more}; the first, {uids[first]!r}, spans "
        f"{time_range(times[first])}; {fix}"
    )


def check_static_frame(
    static_df: object, id_col: str, uids: Sequence[str]
) -> tuple[np.ndarray, list[str]]:
    """Validate ``static_df`` (one row per series, numeric columns) and align it to ``uids``.

    Returns
    -------
    values, names
        ``values`` has shape (n_series, S) in the order of ``uids``.
    """
    static_df = check_frame(static_df, "static_df")
    if id_col not in static_df.columns:
        raise ValueError(
            f"static_df is missing the id column {id_col!r}; available columns: "
            f"{listing([str(c) for c in static_df.columns])}"
        )
    names = [str(c) for c in static_df.columns if c != id_col]
    if not names:
        raise ValueError(f"static_df has no covariate columns besides {id_col!r}")
    cols = [c for c in static_df.columns if c != id_col]
    for c in cols:
        if not pd.api.types.is_numeric_dtype(static_df[c].dtype):
            raise TypeError(
                f"static covariate column {c!r} has non-numeric dtype {static_df[c].dtype}; "
                "encode categories as numbers first, e.g. pd.get_dummies(static_df, "
                f"columns=[{c!r}], dtype=float)"
            )
    keys = static_df[id_col].astype(str)
    if keys.duplicated().any():
        raise ValueError(
            f"static_df has several rows for unique_id(s) "
            f"{listing(keys[keys.duplicated()].unique().tolist())}; it needs one row per series"
        )
    table = static_df.set_index(keys)[cols]
    missing = [u for u in uids if u not in table.index]
    if missing:
        raise ValueError(
            f"static_df has no row for series {listing(missing)}; it needs one row per "
            "unique_id of the data"
        )
    values = table.loc[list(uids)].to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        r, c = (int(v) for v in np.argwhere(bad)[0])
        raise ValueError(
            f"static covariate column {names[c]!r} has a NaN or inf value for series "
            f"{uids[r]!r}; static covariates cannot be filled, clean them first"
        )
    return values.astype(np.float32), names


# --------------------------------------------------------------------------- model boundary

#: Largest magnitude of a *scaled* value the float32 networks are fed. Above about 1e19
#: squares (losses, normalisation statistics) overflow float32 to inf and the loss or the
#: forecast becomes NaN; 1e15 leaves a margin. With the standard scaler a value this far
#: out is an outlier many orders of magnitude beyond the rest of its series.
MAX_SCALED = 1e15


def check_scaled_range(
    scaled: Sequence[np.ndarray],
    raw: Sequence[np.ndarray],
    uids: Sequence[str],
    times: Sequence[pd.Index],
    hint: str,
) -> None:
    """Raise ``ValueError`` for the first series whose scaled values exceed ``MAX_SCALED``.

    Parameters
    ----------
    scaled, raw
        Per series, the (T, C) values the network gets and the user's values.
    uids, times
        Per series, its id and the timestamps of the T rows.
    hint
        What the user can do (depends on where the values come from: fit or predict).
    """
    for k, z in enumerate(scaled):
        z = np.asarray(z)
        with np.errstate(invalid="ignore"):
            bad = ~(np.abs(z) <= MAX_SCALED)  # also NaN/inf
        if not bad.any():
            continue
        row, col = (int(i) for i in np.argwhere(bad.reshape(len(z), -1))[0])
        value = np.asarray(raw[k]).reshape(len(z), -1)[row, col]
        ratio = np.abs(z.reshape(len(z), -1)[row, col])
        raise ValueError(
            f"series {uids[k]!r} has value {value:g} at {times[k][row]}, {ratio:.3g} times "
            f"the scale of the data its scaler was fitted on: the network computes in float32 "
            f"and would overflow (scaled values must stay within ±{MAX_SCALED:g}); {hint}"
        )


def check_like_fit(
    series: Sequence[object], futr_names: Sequence[str], freq: Frequency
) -> None:
    """Series to forecast need the covariates of the fit, calendar features included.

    The calendar features depend on the frequency (hour of day for hourly data, none for
    integer steps), so a series at another frequency than the fitted data would feed the
    network inputs it was not trained on.

    Parameters
    ----------
    series
        Objects with ``unique_id``, ``ds``, ``freq`` and ``futr_names`` (``TimeSeries``).
    futr_names, freq
        Those of the data the model was fitted on.
    """
    for s in series:
        names = tuple(s.futr_names)  # type: ignore[attr-defined]
        if names == tuple(futr_names):
            continue
        own = s.freq  # type: ignore[attr-defined]
        raise ValueError(
            f"series {s.unique_id!r} ({time_range(s.ds)}) has frequency "  # type: ignore[attr-defined]
            f"{freq_name(own)!r} but the model was fitted on data at frequency "
            f"{freq_name(freq)!r}: its inputs (calendar features "
            f"{[n for n in names if n.startswith('cal_')]} instead of "
            f"{[n for n in futr_names if n.startswith('cal_')]}) differ from those the model "
            "was trained on; forecast series at the fitted frequency, or fit with "
            "calendar=False to forecast series of any frequency"
        )

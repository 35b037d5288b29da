"""Adapters between user DataFrames and the internal panel of regular series.

Input formats
-------------
Long
    One row per (series, timestamp): ``unique_id``, ``ds``, ``y`` by default (the
    neuralforecast/statsforecast convention). ``target_col`` may be a list, giving a
    multivariate series per id. Future-known covariates are extra columns named in
    ``futr_cols``, past-only covariates (observed with the targets, unknown ahead) in
    ``hist_cols``; static covariates come from ``static_df`` (one row per id).
Wide
    A frame with a ``DatetimeIndex`` (or a time column), one column per variable: the
    whole frame is ONE multivariate series (the TSLib benchmark layout).

Output format
-------------
Forecasts are returned long: ``unique_id, ds, y_hat`` (+ ``y_hat_q0.1``...), one row per
(channel, timestamp). Each channel of a :class:`TimeSeries` has its own output id
(``TimeSeries.channel_ids``):

* long input, one target: the series' ``unique_id``;
* long input, several targets: ``"<unique_id>/<target column>"``;
* wide input: the column name (each variable is one series in the long output).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from pandas.tseries.offsets import BaseOffset

from xlstm_ts.data import validation as v
from xlstm_ts.data.validation import FillMethod, Frequency

__all__ = [
    "TimeSeries",
    "from_long",
    "from_wide",
    "future_index",
    "future_covariates",
    "predictions_frame",
    "quantile_columns",
    "to_long_frame",
]


@dataclass(frozen=True, eq=False, repr=False)
class TimeSeries:
    """One regular (multivariate) series of the panel.

    Attributes
    ----------
    unique_id
        The series id (``str``).
    ds
        Regular time index: a ``DatetimeIndex`` whose ``freq`` is set, or a
        ``RangeIndex`` for integer steps.
    values
        Targets, shape (T, C), float32. Several series of one panel may be views of a
        single block of memory.
    channel_names
        Target column names, length C.
    channel_ids
        The ``unique_id`` each channel gets in long output frames (see module docs).
    freq
        The frequency: a pandas offset, or ``1`` for integer steps.
    futr
        Dynamic covariates over the same timestamps, shape (T, F), float32, or None: the
        future-known ones, then the past-only ones (``hist_cols``, the last ``n_hist``
        columns; only their rows up to a forecast origin are ever read by a model).
    futr_names
        Their column names, length F.
    n_hist
        How many of the ``futr`` columns (the last ones) are past-only.
    static
        Static covariates, shape (S,), float32, or None.
    static_names
        Their column names, length S.
    """

    unique_id: str
    ds: pd.Index
    values: np.ndarray
    channel_names: tuple[str, ...]
    channel_ids: tuple[str, ...]
    freq: Frequency
    futr: np.ndarray | None = None
    futr_names: tuple[str, ...] = ()
    static: np.ndarray | None = None
    static_names: tuple[str, ...] = ()
    n_hist: int = 0

    def __post_init__(self) -> None:
        # Internal invariants: a violation here is a bug in the caller inside the library.
        t, c = self.values.shape
        if len(self.ds) != t or len(self.channel_names) != c or len(self.channel_ids) != c:
            raise ValueError(
                f"inconsistent TimeSeries {self.unique_id!r}: values {self.values.shape}, "
                f"{len(self.ds)} timestamps, {len(self.channel_names)} channel names"
            )
        if self.futr is not None and self.futr.shape != (t, len(self.futr_names)):
            raise ValueError(f"futr of {self.unique_id!r} must have shape (T, F)")
        if not 0 <= self.n_hist <= len(self.futr_names):
            raise ValueError(f"n_hist of {self.unique_id!r} must count some of its {len(self.futr_names)} futr columns")
        if self.static is not None and self.static.shape != (len(self.static_names),):
            raise ValueError(f"static of {self.unique_id!r} must have shape (S,)")

    def __len__(self) -> int:
        return self.values.shape[0]

    @property
    def n_channels(self) -> int:
        """Number of target channels C."""
        return self.values.shape[1]

    def __repr__(self) -> str:
        extras = f", futr={len(self.futr_names) - self.n_hist}" if self.futr is not None else ""
        extras += f", hist={self.n_hist}" if self.n_hist else ""
        extras += f", static={len(self.static_names)}" if self.static is not None else ""
        return (
            f"TimeSeries({self.unique_id!r}, T={len(self)}, C={self.n_channels}, "
            f"freq={v.freq_name(self.freq)!r}, {v.time_range(self.ds)}{extras})"
        )


# --------------------------------------------------------------------------- input adapters


def from_long(
    df: pd.DataFrame,
    *,
    id_col: str = "unique_id",
    time_col: str = "ds",
    target_col: str | Sequence[str] = "y",
    futr_cols: Sequence[str] | None = None,
    hist_cols: Sequence[str] | None = None,
    static_df: pd.DataFrame | None = None,
    freq: str | BaseOffset | int | None = None,
    fill: FillMethod | None = None,
    fill_missing: bool = False,
    sort: bool = False,
    min_length: int | None = None,
    length_rule: str | None = None,
    extra_cols: Literal["error", "ignore"] = "error",
    fill_from: Mapping[str, Mapping[str, float]] | None = None,
) -> list[TimeSeries]:
    """Validate a long frame and split it into regular series.

    Parameters
    ----------
    df
        Long frame, one row per (series, timestamp). Rows of different series may be
        interleaved; within a series they must be in time order unless ``sort=True``.
    id_col, time_col, target_col
        Column names; ``target_col`` may be a list (one channel per column).
    futr_cols
        Future-known covariate columns (e.g. holidays, prices set in advance).
    hist_cols
        Past-only covariate columns (observed like the targets, unknown ahead: e.g. a
        measured temperature); they follow ``futr_cols`` in ``TimeSeries.futr``.
    static_df
        One row per ``unique_id`` (column ``id_col``) with numeric static covariates.
    freq
        Frequency of all series (``'h'``, ``'15min'``, ``'ME'`` ...). Inferred with
        ``pd.infer_freq`` when None; integer time steps always have frequency 1.
    fill
        How to fill NaN/inf in targets and covariates: ``'ffill'``, ``'interpolate'``,
        ``'zero'``. None (default) raises on any non-finite value.
    fill_missing
        Insert missing timestamps (then filled with ``fill``). False raises on gaps.
    sort
        Sort each series by time instead of raising on unsorted input.
    min_length
        Minimum rows per series (``lookback + horizon`` for training).
    length_rule
        What ``min_length`` is made of (e.g. ``"lookback + horizon"``), for the message
        that lists the short series.
    extra_cols
        ``'error'`` rejects undeclared columns; ``'ignore'`` drops them.
    fill_from
        For series that continue known data (``XLSTMForecaster.update``): per series id,
        the last known value of each target and covariate column, by name. ``fill``
        then fills leading NaN from these values, as a fill of the whole history would,
        instead of from later rows (no look-ahead).

    Returns
    -------
    list of TimeSeries
        In order of first appearance of each id.

    Raises
    ------
    TypeError
        Non-DataFrame input, non-numeric targets/covariates, a non-datetime time
        column, mixed time zones.
    ValueError
        Empty frame, missing/unknown columns, NaN/inf, duplicated, unsorted, missing
        or off-grid timestamps, mixed frequencies, short series, bad ``static_df``.
    """
    v.check_frame(df)
    targets = [target_col] if isinstance(target_col, str) else list(target_col)
    futr, hist = column_list(futr_cols), column_list(hist_cols)
    if not targets:
        raise ValueError("target_col must name at least one column")
    role = {id_col: "id", time_col: "time"}
    role.update({c: "target" for c in targets})
    role.update({c: "future covariate" for c in futr})
    role.update({c: "past covariate" for c in hist})
    v.check_columns(
        df, required=[id_col, time_col, *targets], declared=futr + hist, role=role, extra_cols=extra_cols
    )
    v.check_ids(df[id_col], id_col)
    time = v.coerce_time(df[time_col], time_col)
    v.check_numeric(df, targets, "target")
    v.check_numeric(df, futr, "future covariate")
    v.check_numeric(df, hist, "past covariate")
    v.check_fill(fill, fill_missing)

    try:
        codes, uniques = pd.factorize(df[id_col], sort=False)
    except TypeError as err:  # unhashable ids (lists, dicts, arrays)
        raise TypeError(
            f"id column {id_col!r} holds values that cannot identify a series ({err}); ids "
            f"must be strings or numbers, e.g. df[{id_col!r}] = df[{id_col!r}].astype(str)"
        ) from err
    uids = [str(u) for u in uniques]
    if len(set(uids)) != len(uids):
        raise ValueError(
            f"id column {id_col!r} has distinct values with the same text (e.g. 1 and '1'); "
            "make the ids unique as strings"
        )
    multi = len(targets) > 1

    def where(row: int) -> str:
        return f"series {uids[codes[row]]!r}, {time_col} {time[row]}"

    items = _assemble(
        codes=codes,
        uids=uids,
        time=time,
        values=_float32(df, targets, "target", where),
        futr=_covariate_block(df, futr, hist, where),
        channel_names=targets,
        channel_ids=lambda uid: tuple(f"{uid}/{c}" for c in targets) if multi else (uid,),
        futr_names=futr + hist,
        n_hist=len(hist),
        freq=freq,
        fill=fill,
        fill_missing=fill_missing,
        sort=sort,
        min_length=min_length,
        length_rule=length_rule,
        fill_from=fill_from,
    )
    if static_df is not None:
        static, names = v.check_static_frame(static_df, id_col, uids)
        items = [
            _replace(s, static=static[i], static_names=tuple(names)) for i, s in enumerate(items)
        ]
    return items


def from_wide(
    df: pd.DataFrame,
    *,
    time_col: str | None = None,
    target_cols: Sequence[str] | None = None,
    futr_cols: Sequence[str] | None = None,
    hist_cols: Sequence[str] | None = None,
    unique_id: str = "series",
    freq: str | BaseOffset | int | None = None,
    fill: FillMethod | None = None,
    fill_missing: bool = False,
    sort: bool = False,
    min_length: int | None = None,
    length_rule: str | None = None,
    fill_from: Mapping[str, Mapping[str, float]] | None = None,
) -> list[TimeSeries]:
    """Turn a wide frame (one column per variable) into ONE multivariate series.

    Parameters
    ----------
    df
        Wide frame. The time axis is ``time_col`` if given, else a ``DatetimeIndex``
        (or an integer index, taken as steps), else a column named ``ds``.
    target_cols
        Variables to forecast, in this channel order; default: every column except
        the time column, ``futr_cols`` and ``hist_cols`` (so a TSLib file keeps ``OT`` last).
    futr_cols
        Future-known covariate columns.
    hist_cols
        Past-only covariate columns (as in :func:`from_long`).
    unique_id
        Id of the series; in long output each channel's id is its column name.
    freq, fill, fill_missing, sort, min_length, length_rule, fill_from
        As in :func:`from_long`.

    Returns
    -------
    list of TimeSeries
        A single item with C = ``len(target_cols)`` channels.
    """
    v.check_frame(df)
    futr = [str(c) for c in column_list(futr_cols)]
    hist = [str(c) for c in column_list(hist_cols)]
    frame = df
    if time_col is None and not isinstance(df.index, pd.DatetimeIndex) and "ds" in df.columns:
        time_col = "ds"
    if time_col is not None:
        if time_col not in df.columns:
            raise ValueError(
                f"time column {time_col!r} is not a column of df; available columns: "
                f"{v.listing([str(c) for c in df.columns])}"
            )
        frame = df.set_index(time_col)
        index_name = time_col
    else:
        if not _usable_index(df.index):
            raise TypeError(
                f"a wide frame needs a DatetimeIndex, an integer step index or a time column; "
                f"its index has dtype {df.index.dtype}: pass time_col=... or set the index "
                "with df.set_index(pd.to_datetime(df['date']))"
            )
        index_name = str(df.index.name or "index")
    frame = frame.rename(columns=str)
    targets = (
        [str(c) for c in target_cols]
        if target_cols is not None
        else [c for c in frame.columns if c not in futr and c not in hist]
    )
    role = {c: "target" for c in targets} | {c: "future covariate" for c in futr}
    role |= {c: "past covariate" for c in hist}
    v.check_columns(frame, required=targets, declared=futr + hist, role=role, extra_cols="ignore")
    if not targets:
        raise ValueError("a wide frame needs at least one target column")
    v.check_numeric(frame, targets, "target")
    v.check_numeric(frame, futr, "future covariate")
    v.check_numeric(frame, hist, "past covariate")
    v.check_fill(fill, fill_missing)
    time = v.coerce_time(frame.index, index_name)
    return _assemble(
        codes=np.zeros(len(frame), dtype=np.intp),
        uids=[str(unique_id)],
        time=time,
        values=_float32(frame, targets, "target", lambda row: f"{index_name} {time[row]}"),
        futr=_covariate_block(frame, futr, hist, lambda row: f"{index_name} {time[row]}"),
        channel_names=targets,
        channel_ids=lambda uid: tuple(targets),
        futr_names=futr + hist,
        n_hist=len(hist),
        freq=freq,
        fill=fill,
        fill_missing=fill_missing,
        sort=sort,
        min_length=min_length,
        length_rule=length_rule,
        fill_from=fill_from,
    )


def _usable_index(index: pd.Index) -> bool:
    """A DatetimeIndex or integer steps (objects: datetimes with mixed zones, rejected later).

    A default RangeIndex is accepted as steps; a forgotten string date column is then
    caught by the numeric check, whose message suggests ``time_col``.
    """
    if isinstance(index, pd.DatetimeIndex):
        return True
    if index.dtype == object:
        return pd.api.types.infer_dtype(index, skipna=True) == "datetime"
    return pd.api.types.is_integer_dtype(index.dtype) and not pd.api.types.is_bool_dtype(
        index.dtype
    )


def _float32(
    df: pd.DataFrame,
    cols: Sequence[str],
    role: str = "target",
    where: Callable[[int], str] | None = None,
) -> np.ndarray:
    """Columns as one (N, K) float32 block; nullable NA becomes NaN (checked later).

    Finite values beyond the float32 range (about 3.4e38) would silently become inf here
    and then be reported (or filled) as if the data had inf; they are rejected instead.
    ``where(row)`` describes a row (series and timestamp) for the message.
    """
    wide = df[list(cols)].to_numpy(dtype=np.float64, na_value=np.nan)
    with np.errstate(invalid="ignore"):
        big = np.isfinite(wide) & (np.abs(wide) > np.finfo(np.float32).max)
    if big.any():
        row, col = (int(i) for i in np.argwhere(big)[0])
        at = where(row) if where is not None else f"row {row}"
        raise ValueError(
            f"{role} column {cols[col]!r} has values too large for float32 (|x| > 3.4e38), "
            f"e.g. {wide[row, col]:g} at {at} ({int(big.sum())} such value(s)); the model "
            "computes in float32: rescale the column (e.g. divide by a power of 10)"
        )
    return wide.astype(np.float32)


def column_list(cols: str | Sequence[str] | None) -> list[str]:
    """Column names as a list; one name may come as a plain string (not as its characters)."""
    return [] if cols is None else [cols] if isinstance(cols, str) else list(cols)


def _covariate_block(
    df: pd.DataFrame, futr: Sequence[str], hist: Sequence[str], where: Callable[[int], str]
) -> np.ndarray | None:
    """The future-known then the past-only covariate columns as one (N, F + P) float32 block."""
    parts = [_float32(df, cols, role, where)
             for cols, role in ((futr, "future covariate"), (hist, "past covariate")) if cols]
    return None if not parts else parts[0] if len(parts) == 1 else np.hstack(parts)


def _replace(item: TimeSeries, **changes: object) -> TimeSeries:
    fields = dict(item.__dict__)
    fields.update(changes)
    return TimeSeries(**fields)


def _assemble(
    *,
    codes: np.ndarray,
    uids: list[str],
    time: pd.Index,
    values: np.ndarray,
    futr: np.ndarray | None,
    channel_names: Sequence[str],
    channel_ids: Callable[[str], tuple[str, ...]],
    futr_names: Sequence[str],
    freq: str | BaseOffset | int | None,
    fill: FillMethod | None,
    n_hist: int = 0,
    fill_missing: bool,
    sort: bool,
    min_length: int | None,
    length_rule: str | None = None,
    fill_from: Mapping[str, Mapping[str, float]] | None = None,
) -> list[TimeSeries]:
    """Shared pipeline of the long and wide adapters (checks in a documented order)."""
    kind = "datetime" if isinstance(time, pd.DatetimeIndex) else "integer"
    # Group rows by series, keeping the input order inside each series (stable sort);
    # factorize numbers ids by first appearance, so already grouped input is monotone.
    if len(codes) > 1 and (np.diff(codes) < 0).any():
        order = np.argsort(codes, kind="stable")
        codes, time, values = codes[order], time[order], values[order]
        futr = None if futr is None else futr[order]
    t = v.time_ints(time)
    v.check_duplicates(codes, t, time, uids)
    bad = v.first_unsorted(codes, t)
    if bad is not None:
        if not sort:
            raise v.unsorted_error(bad, codes, time, uids)
        order = np.lexsort((t, codes))
        codes, time, values, t = codes[order], time[order], values[order], t[order]
        futr = None if futr is None else futr[order]
    counts = np.bincount(codes, minlength=len(uids))
    bounds = np.concatenate([[0], np.cumsum(counts)])
    spans = [(int(bounds[i]), int(bounds[i + 1])) for i in range(len(uids))]

    offset, source = _resolve_frequency(freq, kind, time, spans, codes, uids)
    irregular = _irregular_series(offset, time, codes, spans)
    step = v.fixed_step(offset, time)
    if fill is None:
        n_futr = len(futr_names) - n_hist
        for block, names, role in (
            (values, channel_names, "target"),
            (None if futr is None else futr[:, :n_futr], futr_names[:n_futr], "future covariate"),
            (None if futr is None else futr[:, n_futr:], futr_names[n_futr:], "past covariate"),
        ):
            if block is not None:
                err = v.non_finite_error(block, names, codes, time, uids, role)
                if err is not None:
                    raise err

    items: list[TimeSeries] = []
    lengths = np.empty(len(uids), dtype=np.int64)
    all_names = list(channel_names) + list(futr_names)
    n_targets = len(channel_names)
    for i, (b0, b1) in enumerate(spans):
        ds = time[b0:b1]
        vals = values[b0:b1]
        fut = None if futr is None else futr[b0:b1]
        if i in irregular:
            if not fill_missing:
                raise ValueError(v.describe_irregularity(uids[i], ds, offset, source)[0])
            full, position = _grid_positions(ds, offset, step, uids[i])
            if full is None:  # off-grid timestamps or another frequency: not fixable
                raise ValueError(v.describe_irregularity(uids[i], ds, offset, source)[0])
            block = np.full(
                (len(full), vals.shape[1] + (0 if fut is None else fut.shape[1])),
                np.nan,
                np.float32,
            )
            block[position] = vals if fut is None else np.hstack([vals, fut])
            ds = full
            vals, fut = block[:, :n_targets], (None if fut is None else block[:, n_targets:])
        if fill is not None:
            block = vals if fut is None else np.hstack([vals, fut])
            if not np.isfinite(block).all():
                known = None if fill_from is None else fill_from.get(uids[i])
                before = None if known is None else np.array(
                    [known.get(c, np.nan) for c in all_names], dtype=block.dtype
                )
                block = v.fill_non_finite(block, fill, all_names, uids[i], ds, before=before)
                vals, fut = block[:, :n_targets], (None if fut is None else block[:, n_targets:])
        lengths[i] = len(ds)
        items.append(
            TimeSeries(
                unique_id=uids[i],
                ds=_with_freq(ds, offset),
                values=vals,
                channel_names=tuple(channel_names),
                channel_ids=channel_ids(uids[i]),
                freq=offset,
                futr=fut,
                futr_names=tuple(futr_names),
                n_hist=n_hist,
            )
        )
    v.check_min_length(lengths, min_length, uids, [s.ds for s in items], length_rule)
    return items


def _resolve_frequency(
    freq: str | BaseOffset | int | None,
    kind: str,
    time: pd.Index,
    spans: list[tuple[int, int]],
    codes: np.ndarray,
    uids: list[str],
) -> tuple[Frequency, str]:
    """The panel frequency and where it came from (for messages)."""
    given = v.parse_frequency(freq, kind)
    if given is not None:
        return given, "given as freq="
    if kind == "integer":
        return 1, "integer steps"
    for i, (b0, b1) in enumerate(spans):
        inferred = v.infer_frequency(time[b0:b1])
        if inferred is not None:
            return inferred, f"inferred from series {uids[i]!r}"
    # No gap-free series of 3+ rows: fall back to the most common step, which is right
    # for fixed-duration frequencies with a few gaps but not for calendar ones.
    same = codes[1:] == codes[:-1]
    steps = pd.Series(np.diff(v.time_values(time))[same])
    steps = steps[steps > pd.Timedelta(0)]
    if steps.empty or steps.mode().iloc[0] >= pd.Timedelta(days=28):
        raise ValueError(
            f"cannot infer the frequency of the series ({v.time_range(time.sort_values())}); "
            "pass freq=... (e.g. 'h', 'D', 'W', 'ME')"
        )
    return pd.tseries.frequencies.to_offset(steps.mode().iloc[0]), "most common step"


def _irregular_series(
    freq: Frequency, time: pd.Index, codes: np.ndarray, spans: list[tuple[int, int]]
) -> set[int]:
    """Indices of series whose timestamps are not exactly the regular grid at ``freq``."""
    step = v.fixed_step(freq, time)
    if step is not None:
        raw = v.time_values(time)
        same = codes[1:] == codes[:-1]
        wrong = same & (np.diff(raw) != step)
        return {int(c) for c in np.unique(codes[1:][wrong])}
    # Calendar frequencies (month ends, anchored weeks, days across DST): compare with
    # the generated grid series by series. A one-row series too: an off-grid timestamp
    # (the 1st of a month at "ME") would otherwise be moved onto the grid silently.
    return {
        i
        for i, (b0, b1) in enumerate(spans)
        if b1 > b0 and not time[b0:b1].equals(v.grid(time[b0], time[b1 - 1], freq))
    }


#: ``fill_missing=True`` refuses to insert more rows than this (and 10x the observed ones)
#: into one series: such a grid is a wrong time unit or frequency, not gaps to fill.
MAX_INSERTED_ROWS = 1_000_000


def _grid_positions(
    ds: pd.Index, freq: Frequency, step: np.timedelta64 | int | None, uid: str = ""
) -> tuple[pd.Index | None, np.ndarray | None]:
    """The full regular grid of a gappy series and the row of each observed timestamp.

    Returns ``(None, None)`` when the series cannot be fixed by inserting rows: a
    timestamp off the grid, or a constant step that is a multiple of ``freq`` (the
    series has another frequency; inserting rows would silently upsample it).

    Raises
    ------
    ValueError
        If the grid would need more than ``MAX_INSERTED_ROWS`` (and 10x the observed
        rows) inserted rows.
    """
    if step is None:  # calendar offsets: compare with the generated grid
        full = v.grid(ds[0], ds[-1], freq)
        position = full.get_indexer(ds)
        ok = (position >= 0).all() and full[0] == ds[0]
        return (full, position) if ok else (None, None)
    # The span in steps, with exact Python integers (int64 differences can overflow).
    if isinstance(ds, pd.DatetimeIndex):
        per_unit = v.NANOS_PER_UNIT.get(ds.unit, 1)
        span = (int(ds.asi8[-1]) - int(ds.asi8[0])) * per_unit
        n_full = span // int(pd.Timedelta(freq).value) + 1
    else:
        n_full = int(ds[-1]) - int(ds[0]) + 1
    inserted = n_full - len(ds)
    if inserted > max(MAX_INSERTED_ROWS, 10 * len(ds)):
        raise ValueError(
            f"series {uid!r} ({v.time_range(ds)}) has {len(ds)} rows but spans {n_full} steps at "
            f"frequency {v.freq_name(freq)!r}: fill_missing=True would insert {inserted} rows; "
            "check the time column (a wrong unit, e.g. epoch seconds given as steps?) or "
            "resample the series to a coarser frequency"
        )
    raw = v.time_values(ds)
    offset = raw - raw[0]
    if (offset % step != 0).any():
        return None, None
    diffs = np.diff(raw)
    if len(diffs) >= 2 and (diffs == diffs[0]).all():
        return None, None
    position = (offset // step).astype(np.int64)
    if isinstance(ds, pd.DatetimeIndex):
        full = pd.date_range(ds[0], periods=int(position[-1]) + 1, freq=freq, name=ds.name)
        full = full.as_unit(ds.unit)
    else:
        full = pd.RangeIndex(int(ds[0]), int(ds[0]) + int(position[-1]) + 1)
    return full, position


def _with_freq(ds: pd.Index, freq: Frequency) -> pd.Index:
    """Attach the (already verified) frequency to the index."""
    if isinstance(ds, pd.DatetimeIndex):
        # Regenerating the verified grid is ~2x cheaper than DatetimeIndex(ds, freq=...),
        # which re-validates; it matters for panels of many short series.
        if len(ds) == 0:
            return ds
        return v.date_grid(ds[0], freq, periods=len(ds)).rename(ds.name).as_unit(ds.unit)
    return pd.RangeIndex(int(ds[0]), int(ds[0]) + len(ds)) if len(ds) else pd.RangeIndex(0)


# --------------------------------------------------------------------------- output adapters


def future_index(
    ds: pd.Index,
    horizon: int,
    freq: str | BaseOffset | int | None = None,
    series: str | None = None,
) -> pd.Index:
    """The ``horizon`` timestamps following the last one of ``ds``.

    Parameters
    ----------
    ds
        A regular ``DatetimeIndex`` (its ``freq``, or ``freq``, or an inferred one is
        used) or an integer step index.
    horizon
        Number of future steps (>= 1).
    freq
        Overrides the frequency of ``ds``.
    series
        Id of the series, for error messages.

    Returns
    -------
    pandas.Index
        A ``DatetimeIndex`` with ``freq`` set (time zone kept) or a ``RangeIndex``.

    Raises
    ------
    ValueError
        Also when the future timestamps lie beyond what the index can represent (the
        int64 range of steps, or the last timestamp of its datetime resolution).
    """
    if horizon < 1:
        raise ValueError(f"horizon must be >= 1, got {horizon}")
    name = "" if series is None else f" of series {series!r}"
    if len(ds) == 0:
        raise ValueError(f"cannot extend an empty time index{name}")
    if not isinstance(ds, pd.DatetimeIndex):
        last = int(ds[-1])
        if last + horizon > np.iinfo(np.int64).max:
            raise ValueError(
                f"the {horizon} forecast steps after step {last}{name} exceed the int64 range "
                "of step indexes; renumber the steps from 0"
            )
        return pd.RangeIndex(last + 1, last + 1 + horizon)
    offset = v.parse_frequency(freq, "datetime") or v.infer_frequency(ds)
    if offset is None:
        raise ValueError(
            f"cannot infer the frequency of {v.time_range(ds)}{name}; pass freq=... "
            "(e.g. 'h', 'ME')"
        )
    try:
        out = v.date_grid(_step_after(ds[-1], offset), offset, periods=horizon)
    except (OverflowError, pd.errors.OutOfBoundsDatetime) as err:
        raise ValueError(
            f"the {horizon} forecast timestamps after {ds[-1]}{name} at frequency "
            f"{v.freq_name(offset)!r} lie beyond the latest timestamp pandas can represent at "
            f"{ds.unit!r} resolution; convert the time column to a coarser resolution, e.g. "
            "df[time_col].dt.as_unit('s')"
        ) from err
    return out


def _step_after(stamp: pd.Timestamp, offset: BaseOffset) -> pd.Timestamp:
    """``stamp + offset``, also when the result is a wall-clock time that a DST change makes
    ambiguous or skips (see :func:`~xlstm_ts.data.validation.date_grid`)."""
    try:
        return stamp + offset
    except ValueError:
        if stamp.tz is None:
            raise
    wall = stamp.tz_localize(None) + offset
    return wall.tz_localize(stamp.tz, ambiguous=True, nonexistent="shift_forward")


def to_long_frame(
    series: Sequence[TimeSeries],
    *,
    id_col: str = "unique_id",
    time_col: str = "ds",
    target_col: str = "y",
) -> pd.DataFrame:
    """History of ``series`` as a long frame ``unique_id, ds, y`` (ids = channel ids)."""
    parts = []
    for s in series:
        for c, cid in enumerate(s.channel_ids):
            parts.append(
                pd.DataFrame(
                    {id_col: cid, time_col: s.ds, target_col: s.values[:, c].astype(np.float64)}
                )
            )
    return pd.concat(parts, ignore_index=True)


def quantile_columns(levels: Sequence[float], value_name: str = "y_hat") -> list[str]:
    """The forecast columns of quantile ``levels``: ``f"{value_name}_q{level:g}"`` (``y_hat_q0.1``).

    Raises
    ------
    ValueError
        Two different levels get the same name (``:g`` keeps 6 significant digits, so 0.1 and
        0.1000001 are both ``y_hat_q0.1``): one column would silently replace the other.
    """
    names = [f"{value_name}_q{level:g}" for level in levels]
    first: dict[str, float] = {}
    for name, level in zip(names, levels, strict=True):
        if first.setdefault(name, level) != level:
            raise ValueError(
                f"quantile levels {first[name]!r} and {level!r} would both be named {name!r} (column "
                "names keep 6 significant digits): drop one of them, or pass levels that differ "
                "within 6 significant digits"
            )
    return names


def predictions_frame(
    series: Sequence[TimeSeries],
    y_hat: np.ndarray | Sequence[np.ndarray],
    *,
    quantiles: Sequence[float] | None = None,
    y_quantiles: np.ndarray | Sequence[np.ndarray] | None = None,
    cutoffs: Sequence[object] | None = None,
    id_col: str = "unique_id",
    time_col: str = "ds",
    value_name: str = "y_hat",
) -> pd.DataFrame:
    """Build the long forecast frame ``unique_id, ds, y_hat`` (+ quantile columns).

    Parameters
    ----------
    series
        The series that were forecast (gives ids, frequency and last timestamps).
    y_hat
        Point forecasts in original units: shape (N, H, C), or one (H, C) (or (H,)
        when C = 1) array per series.
    quantiles
        Quantile levels, e.g. ``[0.1, 0.5, 0.9]``; columns are named
        ``f"{value_name}_q{level:g}"`` (``y_hat_q0.1``; levels whose names collide are a
        ``ValueError``, see :func:`quantile_columns`).
    y_quantiles
        Quantile forecasts, shape (N, H, C, Q) or one (H, C, Q) array per series.
    cutoffs
        Per series, the last observed timestamp before the forecast (cross-validation);
        a ``cutoff`` column is added. Default: the end of each series, no column.

    Returns
    -------
    pandas.DataFrame
        One row per (channel id, future timestamp), grouped by id, in time order.
    """
    if len(y_hat) != len(series):
        raise ValueError(f"y_hat has {len(y_hat)} entries for {len(series)} series")
    if (quantiles is None) != (y_quantiles is None):
        raise ValueError("pass quantiles and y_quantiles together")
    levels = list(quantiles or [])
    qnames = quantile_columns(levels, value_name)
    if y_quantiles is not None and len(y_quantiles) != len(series):
        raise ValueError(f"y_quantiles has {len(y_quantiles)} entries for {len(series)} series")
    if cutoffs is not None and len(cutoffs) != len(series):
        raise ValueError(f"cutoffs has {len(cutoffs)} entries for {len(series)} series")
    ids, times, points, cut = [], [], [], []
    qcols: list[np.ndarray] = []
    for i, s in enumerate(series):
        point = np.asarray(y_hat[i], dtype=np.float64)
        if point.ndim == 1:
            point = point[:, None]
        if point.ndim != 2 or point.shape[1] != s.n_channels:
            raise ValueError(
                f"forecast for series {s.unique_id!r} has shape {point.shape}; expected "
                f"(horizon, {s.n_channels})"
            )
        horizon = point.shape[0]
        anchor = s.ds if cutoffs is None else _index_ending_at(cutoffs[i], s)
        future = future_index(anchor, horizon, s.freq, s.unique_id)
        ids.append(np.repeat(np.asarray(s.channel_ids, dtype=object), horizon))
        times.append(future[np.tile(np.arange(horizon), s.n_channels)])
        # (H, C) -> channel-major rows so that each id's rows are contiguous.
        points.append(point.T.reshape(-1))
        if cutoffs is not None:
            cut.append(anchor[-1:].repeat(horizon * s.n_channels))
        if y_quantiles is not None:
            q = np.asarray(y_quantiles[i], dtype=np.float64)
            if q.ndim == 2 and s.n_channels == 1:
                q = q[:, None, :]
            if q.shape != (horizon, s.n_channels, len(levels)):
                raise ValueError(
                    f"quantile forecast for series {s.unique_id!r} has shape {q.shape}; "
                    f"expected {(horizon, s.n_channels, len(levels))}"
                )
            qcols.append(q.transpose(1, 0, 2).reshape(-1, len(levels)))
    out = pd.DataFrame({id_col: np.concatenate(ids).astype(str)})
    if cutoffs is not None:
        out["cutoff"] = _concat_index(cut)
    out[time_col] = _concat_index(times)
    out[value_name] = np.concatenate(points)
    if levels:
        block = np.concatenate(qcols)
        for k, name in enumerate(qnames):
            out[name] = block[:, k]
    return out


def _index_ending_at(cutoff: object, s: TimeSeries) -> pd.Index:
    """A one-element index holding ``cutoff`` in the series' time type (tz kept)."""
    if isinstance(s.ds, pd.DatetimeIndex):
        stamp = pd.Timestamp(cutoff)
        if s.ds.tz is not None and stamp.tz is None:
            stamp = stamp.tz_localize(s.ds.tz)
        return pd.DatetimeIndex([stamp])
    return pd.Index([int(cutoff)])


def _concat_index(parts: list[pd.Index]) -> pd.Index:
    return parts[0].append(parts[1:]) if len(parts) > 1 else parts[0]


def future_covariates(
    futr_df: pd.DataFrame,
    series: Sequence[TimeSeries],
    horizon: int,
    *,
    id_col: str = "unique_id",
    time_col: str = "ds",
) -> list[np.ndarray]:
    """Future values of the covariates of each series for the next ``horizon`` steps.

    Parameters
    ----------
    futr_df
        Long frame with ``id_col``, ``time_col`` and the series' ``futr_names`` columns
        covering every future timestamp of every series (extra rows are ignored).

    Returns
    -------
    list of numpy.ndarray
        One (horizon, F) float32 array per series.

    Raises
    ------
    ValueError
        A missing (id, timestamp) combination, a missing column, NaN/inf values.
    """
    v.check_frame(futr_df, "futr_df")
    names = list(series[0].futr_names) if series else []
    if not names:
        raise ValueError("the series have no future covariates (futr_cols) to look up")
    v.check_columns(
        futr_df,
        required=[id_col, time_col, *names],
        role={c: "future covariate" for c in names},
        extra_cols="ignore",
        name="futr_df",
    )
    v.check_numeric(futr_df, names, "future covariate")
    time = v.coerce_time(futr_df[time_col], time_col)
    for s in series:
        if str(getattr(time, "tz", None)) != str(getattr(s.ds, "tz", None)):
            raise TypeError(
                f"futr_df column {time_col!r} has time zone {getattr(time, 'tz', None)} but "
                f"series {s.unique_id!r} has {getattr(s.ds, 'tz', None)}; use the same zone"
            )
    keys = pd.MultiIndex.from_arrays(
        [futr_df[id_col].astype(str).to_numpy(), v.time_ints(_as_unit(time))]
    )
    if keys.has_duplicates:
        first = keys[keys.duplicated()][0]
        raise ValueError(f"futr_df has several rows for series {first[0]!r} at one timestamp")
    table = pd.DataFrame(_float32(futr_df, names, "future covariate"), index=keys)
    out = []
    for s in series:
        future = future_index(s.ds, horizon, s.freq, s.unique_id)
        wanted = pd.MultiIndex.from_arrays(
            [np.repeat(s.unique_id, horizon), v.time_ints(_as_unit(future))]
        )
        position = table.index.get_indexer(wanted)
        if (position < 0).any():
            missing = future[position < 0]
            raise ValueError(
                f"futr_df lacks future covariates for series {s.unique_id!r} at "
                f"{int((position < 0).sum())} of the {horizon} forecast timestamps "
                f"({v.time_range(future)}), first missing {missing[0]}"
            )
        block = table.to_numpy()[position]
        if not np.isfinite(block).all():
            raise ValueError(
                f"futr_df has NaN or inf future covariates for series {s.unique_id!r} in "
                f"{v.time_range(future)}"
            )
        out.append(block)
    return out


def _as_unit(ds: pd.Index) -> pd.Index:
    """Compare timestamps in one resolution (pandas 3 defaults to microseconds)."""
    return ds.as_unit("ns") if isinstance(ds, pd.DatetimeIndex) else ds

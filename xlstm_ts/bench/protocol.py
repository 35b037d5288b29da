"""The TSLib long-horizon protocol on raw arrays: load, put the target last, split, scale, window.

What this module guarantees (benchmarks.md §1):

* the file is used **as is** (no de-duplication, no gap filling; weather's duplicated row
  and gap stay, as in TSLib);
* ``features=M``: every non-date column in and out, the target column moved **last**
  (``Dataset_Custom`` order ``others + [target]``);
* split borders of :func:`xlstm_ts.data.tslib_borders` (``ett-hour``, ``ett-minute``,
  ``ratio``); validation/test spans start ``L`` rows before their border;
* a per-channel z-score (population std, as ``StandardScaler``) fitted on the **training
  rows only**, applied to the whole series;
* stride-1 windows on every split and no dropped windows (``len = span - L - H + 1``).

Validation folds (``val_fold=k >= 1``) are for choosing hyper-parameters only: the validation
window moves ``k`` validation lengths back in time (fold 1 ends where the training rows of the
protocol end), training keeps the rows before it, the scaler is refitted on them, and there is
**no test split** — a fold never reads a row at or after the protocol's validation border.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from xlstm_ts.data import (
    ChannelScaler,
    SplitSpans,
    WindowDataset,
    calendar_features,
    load_dataset,
    protocol_for,
    read_frame,
    tslib_borders,
    tslib_spans,
)
from xlstm_ts.data.datasets import _canonical
from xlstm_ts.models.baselines import season_length_for  # the estimator's "auto" rule too

__all__ = [
    "BenchData",
    "PreparedSplits",
    "check_grid_fits",
    "dataset_label",
    "fold_spans",
    "load_bench_data",
    "prepare_splits",
    "season_length_for",
    "split_spans",
    "windowless_splits",
]

PROTOCOLS = ("ett-hour", "ett-minute", "ratio")


@dataclass(frozen=True)
class BenchData:
    """One benchmark dataset as raw arrays, target column last.

    Attributes
    ----------
    name
        Label used in tables and paths (``ETTh1``, ``weather``, or a file's stem).
    values
        ``(T, C)`` float64 values exactly as stored (target last).
    columns
        Channel names in the order of ``values``.
    index
        Timestamps (or integer steps) of the rows.
    protocol
        ``ett-hour`` / ``ett-minute`` / ``ratio``.
    source
        ``bundled:<name>`` or the file path.
    digest
        sha1 of the values and column names (first 12 hex digits): identifies the data.
    """

    name: str
    values: np.ndarray = field(repr=False)
    columns: tuple[str, ...]
    index: pd.Index = field(repr=False)
    protocol: str
    source: str
    digest: str

    @property
    def n_rows(self) -> int:
        return int(self.values.shape[0])

    @property
    def n_channels(self) -> int:
        return int(self.values.shape[1])

    @property
    def target(self) -> str:
        return self.columns[-1]


def dataset_label(name: str) -> str:
    """Canonical name of a bundled dataset (``ili`` -> ``national_illness``), else ``name``."""
    try:
        return _canonical(name)
    except ValueError:
        return name


def _frame_to_data(frame: pd.DataFrame, name: str, protocol: str | None, target: str | None,
                   source: str) -> BenchData:
    if target is None:
        target = str(frame.columns[-1])
    if target not in frame.columns:
        raise ValueError(f"target column {target!r} is not in {name}; columns: {list(frame.columns)}")
    non_numeric = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c].dtype)]
    if non_numeric:
        raise ValueError(
            f"{name}: non-numeric columns {non_numeric}; pass --time-col for the date column and "
            "keep only numeric variables"
        )
    cols = [c for c in frame.columns if c != target] + [target]
    values = frame[cols].to_numpy(dtype=np.float64, copy=True)
    if not np.isfinite(values).all():
        bad = int((~np.isfinite(values)).sum())
        raise ValueError(
            f"{name}: {bad} missing or infinite values; the TSLib protocol uses complete files "
            "(fill them before benchmarking)"
        )
    index = frame.index
    if isinstance(index, pd.DatetimeIndex) and not index.is_monotonic_increasing:
        # The protocol splits by row position: shuffled rows would leak the future into training.
        # (Repeated timestamps stay allowed: the Weather file has one duplicated row.)
        back = int(np.flatnonzero(np.diff(index.asi8) < 0)[0])
        raise ValueError(
            f"{name}: rows are not in time order ({index[back]} is followed by {index[back + 1]}); "
            "sort the file by its date column before benchmarking"
        )
    protocol = protocol or protocol_for(name)
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; choose one of {PROTOCOLS}")
    h = hashlib.sha1()
    h.update("\x1f".join(map(str, cols)).encode())
    h.update(np.ascontiguousarray(values).tobytes())
    return BenchData(name, values, tuple(map(str, cols)), frame.index, protocol, source,
                     h.hexdigest()[:12])


@lru_cache(maxsize=8)
def _bundled(name: str, protocol: str | None, target: str | None) -> BenchData:
    canonical = _canonical(name)
    return _frame_to_data(load_dataset(canonical), canonical, protocol, target, f"bundled:{canonical}")


def _guess_time_col(path: Path) -> str | None:
    head = read_frame(path, nrows=5) if not path.name.lower().endswith((".parquet", ".pq", ".parq")) \
        else read_frame(path).head(5)
    for cand in ("date", "ds", "time", "timestamp", "datetime"):
        if cand in head.columns:
            return cand
    first = head.columns[0]
    if not pd.api.types.is_numeric_dtype(head[first].dtype):
        return str(first)
    return None


def load_bench_data(name: str | None = None, *, path: str | Path | None = None,
                    protocol: str | None = None, target: str | None = None,
                    time_col: str | None = None) -> BenchData:
    """A bundled dataset by ``name`` or any wide CSV/Parquet file by ``path``.

    Parameters
    ----------
    name
        Bundled dataset (``ETTh1``, ``ETTm1``, ``weather``, ``exchange_rate``, ``ili``).
    path
        A wide file: one date column plus numeric variables (one row per time step).
    protocol
        Split protocol; default from the name (``ETTh*`` -> ett-hour, ``ETTm*`` ->
        ett-minute, else ratio), for files from the file stem.
    target
        Target column, moved last (default: the last column, ``OT`` in the TSLib files).
    time_col
        Date column of a file (default: ``date``/``ds``/``time``/... or a non-numeric first
        column).
    """
    if (name is None) == (path is None):
        raise ValueError("give exactly one of a dataset name or a data file path")
    if name is not None:
        return _bundled(str(name), protocol, target)
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"data file not found: {p}")
    time_col = time_col or _guess_time_col(p)
    frame = read_frame(p, time_col=time_col)
    stem = p.name.split(".")[0]
    return _frame_to_data(frame, stem, protocol, target, str(p))


@dataclass
class PreparedSplits:
    """Scaled series, TSLib spans and the three window datasets of one (data, L, H)."""

    data: BenchData
    lookback: int
    horizon: int
    spans: SplitSpans
    borders: tuple[list[int], list[int]]
    scaler: ChannelScaler
    scaled: np.ndarray = field(repr=False)
    train: WindowDataset = field(repr=False)
    val: WindowDataset = field(repr=False)
    test: WindowDataset | None = field(repr=False)
    val_fold: int = 0
    calendar: bool = False

    @property
    def n_futr(self) -> int:
        """Future-known covariates per window (the calendar features, or none)."""
        return 0 if self.train.futr is None else self.train.futr[0].shape[1]

    def window_counts(self) -> dict[str, int]:
        counts = {"train": len(self.train), "val": len(self.val)}
        if self.test is not None:
            counts["test"] = len(self.test)
        return counts


def fold_spans(n_rows: int, lookback: int, protocol: str, val_fold: int) -> SplitSpans:
    """Spans of validation fold ``val_fold``: the protocol's validation length, ``val_fold``
    lengths earlier; training is every row before it; the test span is empty.

    Examples
    --------
    >>> fold_spans(17420, 336, "ett-hour", 1)   # ETTh1: validate on months 8-12, train on 0-8
    SplitSpans(train=(0, 5760), val=(5424, 8640), test=(8640, 8640), lookback=336)
    """
    if val_fold < 1:
        raise ValueError(f"val_fold must be >= 1 (0 is the protocol's own split), got {val_fold}")
    b1, b2 = tslib_borders(n_rows, lookback, protocol)
    val_rows = b2[1] - b2[0]
    start = b2[0] - val_fold * val_rows          # first target row of the fold's validation
    if start - lookback < 1:
        raise ValueError(
            f"validation fold {val_fold} leaves no training rows: the protocol's training split has "
            f"{b2[0]} rows, {val_fold} validation lengths of {val_rows} rows do not fit with L={lookback}"
        )
    end = start + val_rows
    return SplitSpans((0, start), (start - lookback, end), (end, end), lookback)


def split_spans(n_rows: int, lookback: int, protocol: str, val_fold: int = 0,
                ) -> tuple[SplitSpans, tuple[list[int], list[int]]]:
    """Spans and TSLib borders (``border1s``, ``border2s``) of the protocol's split, or of
    validation fold ``val_fold >= 1`` (:func:`fold_spans`; its test span is empty).

    Raises ``ValueError`` where the rows do not make the split at all (an ETT file shorter than
    the published borders, ``L`` longer than the training rows, a fold too far back).
    """
    if val_fold:
        spans = fold_spans(n_rows, lookback, protocol, val_fold)
        return spans, ([0, spans.val[0], spans.test[0]], [spans.train[1], spans.val[1], spans.test[1]])
    return tslib_spans(n_rows, lookback, protocol), tslib_borders(n_rows, lookback, protocol)


def windowless_splits(spans: SplitSpans, horizon: int, val_fold: int = 0) -> list[str]:
    """The splits of ``spans`` that hold no stride-1 window of ``L + H`` rows.

    A window needs ``L + H`` rows of its span (:meth:`SplitSpans.window_counts`): the training
    split ``L + H`` rows, validation and test ``H`` rows after their border (their ``L`` input
    rows are the rows before it). A fold has no test split: its empty test span is not counted.
    """
    counts = spans.window_counts(horizon)
    return [split for split in ("train", "val", "test")
            if counts[split] < 1 and not (split == "test" and val_fold)]


def _split_lengths(data: BenchData, val_fold: int) -> tuple[str, str | None]:
    """``("train 280 / val 40 / test 80 rows", None)``, or ``("", why)`` where the protocol
    makes no split of these rows; a fold that exists adds its own lengths.

    Target rows do not depend on ``L`` (val/test borrow their look-back from the rows before
    their border), so the spans of ``L = 0`` give them.
    """
    text = ""
    for k in (0, val_fold) if val_fold else (0,):
        try:
            spans, _ = split_spans(data.n_rows, 0, data.protocol, k)
        except ValueError as e:
            if not k:
                return "", str(e)
            break   # a fold too far back: each pair's reason says so
        rows = spans.target_rows()
        text += (f", validation fold {k}: " if k else "") + " / ".join(
            f"{s} {rows[s]}" for s in ("train", "val", "test") if not (s == "test" and k)) + " rows"
    return text, None


def check_grid_fits(data_by_name: Mapping[str, BenchData],
                    combos: Iterable[tuple[str, int, int, int]]) -> None:
    """Refuse, before any cell runs, a grid whose data is too short for some of its cells.

    ``combos`` are the grid's ``(dataset, L, H, val_fold)``. Each must make the protocol's
    split (:func:`split_spans`) and give every split at least one window
    (:func:`windowless_splits`), as :func:`prepare_splits` requires of each cell; otherwise
    the cells would fail one by one, hours into a grid. Raises one ``ValueError`` naming each
    dataset, its rows, its split lengths and the (L, H) pairs that do not fit.
    """
    misfits: dict[tuple[str, int], list[str]] = {}
    for name, lookback, horizon, val_fold in dict.fromkeys(combos):
        data = data_by_name[name]
        try:
            spans, _ = split_spans(data.n_rows, lookback, data.protocol, val_fold)
        except ValueError as e:
            why = str(e)
        else:
            short = windowless_splits(spans, horizon, val_fold)
            if not short:
                continue
            rows = spans.target_rows()
            why = "; ".join(f"{s} {rows[s]} rows < " + (f"L + H = {lookback + horizon}" if s == "train"
                                                         else f"H = {horizon}") for s in short)
        misfits.setdefault((name, val_fold), []).append(f"L={lookback} H={horizon} ({why})")
    if not misfits:
        return
    lines = ["the data is too short for part of the grid (no cell ran): each of train, val and test "
             "must hold at least one window, i.e. train at least L + H rows, val and test at least "
             "H rows after their border (their L look-back rows come before it)"]
    for (name, val_fold), pairs in misfits.items():
        data = data_by_name[name]
        lengths, no_split = _split_lengths(data, val_fold)
        if no_split:   # the same reason for every pair: say it once
            pairs = [p.replace(f" ({no_split})", "") for p in pairs]
        lines.append(f"{name} ({data.source}): {data.n_rows} rows, protocol {data.protocol}, "
                     f"{lengths or no_split}; does not fit: {', '.join(pairs)}")
    flags = "--lookback, --horizons" + (", --val-folds" if any(k for _, k in misfits) else "")
    lines.append(f"drop those pairs ({flags}) or use a longer file")
    raise ValueError("\n".join(lines))


def _dominant_step(index: pd.Index) -> str | None:
    """The most common step between timestamps as a frequency string (``None`` for integer
    steps): decides the calendar features where a few timestamps are irregular (Weather)."""
    if not isinstance(index, pd.DatetimeIndex) or len(index) < 2:
        return None
    step = pd.Series(index).diff().mode().iloc[0]
    for unit, name in ((pd.Timedelta(weeks=1), "W"), (pd.Timedelta(days=1), "D")):
        if step >= unit and step % unit == pd.Timedelta(0):  # else the offset reads e.g. '168h'
            return f"{step // unit}{name}"
    return pd.tseries.frequencies.to_offset(step).freqstr


def prepare_splits(data: BenchData, lookback: int, horizon: int, val_fold: int = 0,
                   calendar: bool = False) -> PreparedSplits:
    """Borders, train-only z-score and stride-1 windows for look-back ``L`` and horizon ``H``.

    ``val_fold >= 1`` prepares a validation fold (:func:`fold_spans`; no test split) instead
    of the protocol's split. ``calendar=True`` adds the calendar features of the timestamps
    (:func:`~xlstm_ts.data.calendar_features`, in [-0.5, 0.5] as TSLib's ``timeF`` marks that
    its models receive) as future-known covariates ``x_futr`` of every window: known in
    advance, they leak nothing of the targets.
    """
    spans, borders = split_spans(data.n_rows, lookback, data.protocol, val_fold)
    short = windowless_splits(spans, horizon, val_fold)
    if short:
        span = spans.as_dict()[short[0]]
        raise ValueError(
            f"{data.name}: the {short[0]} split ({span[1] - span[0]} rows with the look-back) holds "
            f"no window of L={lookback} + H={horizon}"
        )
    t0, t1 = spans.train
    scaler = ChannelScaler("standard").fit(data.values[t0:t1])
    scaled = scaler.transform(data.values).astype(np.float32)
    expected = spans.window_counts(horizon)
    futr = None
    if calendar:
        futr = [calendar_features(data.index, _dominant_step(data.index))]
        if futr[0].shape[1] == 0:
            raise ValueError(f"{data.name}: calendar features need timestamps; the rows have integer steps")
    sets: dict[str, WindowDataset | None] = {"test": None}
    for split, span in spans.as_dict().items():
        if split == "test" and val_fold:
            continue
        sets[split] = WindowDataset([scaled], lookback, horizon, stride=1, spans=[span], futr=futr)
        if len(sets[split]) != expected[split]:  # pragma: no cover - guards the data layer
            raise AssertionError(f"{split}: {len(sets[split])} windows, expected {expected[split]}")
    return PreparedSplits(data, lookback, horizon, spans, borders, scaler, scaled,
                          sets["train"], sets["val"], sets["test"], val_fold, calendar)

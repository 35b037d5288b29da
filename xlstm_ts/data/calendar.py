"""Calendar features from timestamps, TSLib ``timeF`` style.

Each feature is a position in a calendar cycle scaled to [-0.5, 0.5] (the gluonts
formulas that TSLib's ``utils/timefeatures.py`` uses with ``embed='timeF'``). Which
features are produced depends on the frequency: cycles shorter than one step carry
no information (hour-of-day is constant for daily data), so they are left out, in the
same order as TSLib. The features depend only on the timestamps, so they can be
computed for future timestamps (:func:`xlstm_ts.data.future_index`) as well.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from pandas.tseries.frequencies import to_offset
from pandas.tseries.offsets import BaseOffset

from xlstm_ts.data.validation import infer_frequency

__all__ = ["calendar_features", "calendar_feature_names"]

_Feature = Callable[[pd.DatetimeIndex], np.ndarray]

_FEATURES: dict[str, _Feature] = {
    "second_of_minute": lambda ds: ds.second / 59.0 - 0.5,
    "minute_of_hour": lambda ds: ds.minute / 59.0 - 0.5,
    "hour_of_day": lambda ds: ds.hour / 23.0 - 0.5,
    "day_of_week": lambda ds: ds.day_of_week / 6.0 - 0.5,
    "day_of_month": lambda ds: (ds.day - 1) / 30.0 - 0.5,
    "day_of_year": lambda ds: (ds.day_of_year - 1) / 365.0 - 0.5,
    "month_of_year": lambda ds: (ds.month - 1) / 11.0 - 0.5,
    "week_of_year": lambda ds: (ds.isocalendar().week.to_numpy(np.float64) - 1) / 52.0 - 0.5,
}

_DAY = ["day_of_week", "day_of_month", "day_of_year"]
# Checked in this order: the first matching offset family decides (TSLib's table).
_BY_OFFSET: list[tuple[tuple[type, ...], list[str]]] = [
    ((pd.offsets.YearEnd, pd.offsets.YearBegin, pd.offsets.BYearEnd, pd.offsets.BYearBegin), []),
    (
        (
            pd.offsets.QuarterEnd,
            pd.offsets.QuarterBegin,
            pd.offsets.BQuarterEnd,
            pd.offsets.BQuarterBegin,
            pd.offsets.MonthEnd,
            pd.offsets.MonthBegin,
            pd.offsets.BusinessMonthEnd,
            pd.offsets.BusinessMonthBegin,
        ),
        ["month_of_year"],
    ),
    ((pd.offsets.Week,), ["day_of_month", "week_of_year"]),
    ((pd.offsets.Day, pd.offsets.BusinessDay, pd.offsets.CustomBusinessDay), _DAY),
    ((pd.offsets.Hour, pd.offsets.BusinessHour), ["hour_of_day", *_DAY]),
    ((pd.offsets.Minute,), ["minute_of_hour", "hour_of_day", *_DAY]),
    (
        (pd.offsets.Second, pd.offsets.Milli, pd.offsets.Micro, pd.offsets.Nano),
        ["second_of_minute", "minute_of_hour", "hour_of_day", *_DAY],
    ),
]


def calendar_feature_names(freq: str | BaseOffset) -> list[str]:
    """Names of the features :func:`calendar_features` produces at ``freq``, in order.

    Examples
    --------
    >>> calendar_feature_names("h")
    ['hour_of_day', 'day_of_week', 'day_of_month', 'day_of_year']
    """
    offset = to_offset(freq)
    for families, names in _BY_OFFSET:
        if isinstance(offset, families):
            return list(names)
    raise ValueError(
        f"no calendar features are defined for frequency {offset.freqstr!r}; supported: "
        "yearly, quarterly, monthly, weekly, (business) daily, hourly, minutely, secondly"
    )


def calendar_features(ds: pd.Index, freq: str | BaseOffset | None = None) -> np.ndarray:
    """Calendar features of the timestamps ``ds``, shape (T, F), float32 in [-0.5, 0.5].

    Parameters
    ----------
    ds
        Timestamps (history or future). An integer step index has no calendar, so the
        result then has zero columns.
    freq
        Frequency deciding which features are used; default ``ds.freq`` or the inferred
        one.

    Returns
    -------
    numpy.ndarray
        Columns as named by :func:`calendar_feature_names` (e.g. hourly data: hour of
        day, day of week, day of month, day of year).
    """
    if not isinstance(ds, pd.DatetimeIndex):
        if pd.api.types.is_integer_dtype(ds.dtype):
            return np.zeros((len(ds), 0), dtype=np.float32)
        raise TypeError(f"ds must be a DatetimeIndex or integer steps, got dtype {ds.dtype}")
    offset = to_offset(freq) if freq is not None else infer_frequency(ds)
    if offset is None:
        raise ValueError(
            "cannot infer the frequency of the timestamps to choose calendar features; "
            "pass freq=... (e.g. 'h')"
        )
    names = calendar_feature_names(offset)
    out = np.empty((len(ds), len(names)), dtype=np.float32)
    for j, name in enumerate(names):
        out[:, j] = np.asarray(_FEATURES[name](ds), dtype=np.float64)
    return out

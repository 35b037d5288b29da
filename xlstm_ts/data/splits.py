"""Train/validation/test row spans: the TSLib long-horizon borders and tail splits.

TSLib (``data_provider/data_loader.py``) cuts each dataset by rows:

* ``ett-hour`` (ETTh1/ETTh2): 12/4/4 "months" of 30 days of hourly rows;
* ``ett-minute`` (ETTm1/ETTm2): the same in 15-minute rows (× 4);
* ``ratio`` (Weather, ECL, Traffic, Exchange, ILI, ...): 0.7/0.1/0.2 of the rows,
  rounded with ``int()``.

Validation and test spans start ``lookback`` rows before their border so that the
first target step sits exactly on it; a span of ``n`` rows holds ``n - L - H + 1``
stride-1 windows (:func:`xlstm_ts.data.count_windows`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from xlstm_ts.data.windows import count_windows

__all__ = ["SplitSpans", "protocol_for", "tail_spans", "tslib_borders", "tslib_spans"]

Protocol = Literal["ett-hour", "ett-minute", "ratio"]
Span = tuple[int, int]

_MONTH_HOURS = 30 * 24


def tslib_borders(n_rows: int, lookback: int, protocol: Protocol) -> tuple[list[int], list[int]]:
    """TSLib's ``border1s`` (span starts) and ``border2s`` (span ends) for train/val/test.

    Parameters
    ----------
    n_rows
        Rows of the dataset file.
    lookback
        Look-back L (``seq_len``): val and test start L rows before their border.
    protocol
        ``"ett-hour"``, ``"ett-minute"`` or ``"ratio"`` (see :func:`protocol_for`).

    Returns
    -------
    border1s, border2s
        Lists of three row numbers each, exactly as TSLib computes them.

    Examples
    --------
    >>> tslib_borders(17420, 96, "ett-hour")
    ([0, 8544, 11424], [8640, 11520, 14400])
    """
    if lookback < 0:
        raise ValueError(f"lookback must be >= 0, got {lookback}")
    if protocol in ("ett-hour", "ett-minute"):
        per_month = _MONTH_HOURS * (4 if protocol == "ett-minute" else 1)
        border1s = [0, 12 * per_month - lookback, 12 * per_month + 4 * per_month - lookback]
        border2s = [12 * per_month, 12 * per_month + 4 * per_month, 12 * per_month + 8 * per_month]
        if n_rows < border2s[-1]:
            raise ValueError(
                f"the {protocol!r} protocol needs at least {border2s[-1]} rows, got {n_rows}"
            )
    elif protocol == "ratio":
        num_train = int(n_rows * 0.7)
        num_test = int(n_rows * 0.2)
        num_vali = n_rows - num_train - num_test
        border1s = [0, num_train - lookback, n_rows - num_test - lookback]
        border2s = [num_train, num_train + num_vali, n_rows]
    else:
        raise ValueError(
            f"unknown protocol {protocol!r}; choose 'ett-hour', 'ett-minute' or 'ratio'"
        )
    if min(border1s) < 0:
        raise ValueError(
            f"lookback {lookback} is longer than the training part ({border2s[0]} rows)"
        )
    return border1s, border2s


@dataclass(frozen=True)
class SplitSpans:
    """Row spans ``[start, end)`` of the three splits of one series.

    ``val`` and ``test`` include the ``lookback`` rows before their border, so their
    lengths are not the number of target rows; see :meth:`target_rows`.
    """

    train: Span
    val: Span
    test: Span
    lookback: int

    def as_dict(self) -> dict[str, Span]:
        """``{"train": ..., "val": ..., "test": ...}``."""
        return {"train": self.train, "val": self.val, "test": self.test}

    def target_rows(self) -> dict[str, int]:
        """Rows whose values can be targets: train all rows, val/test without the L-row prefix."""
        return {
            "train": self.train[1] - self.train[0],
            "val": self.val[1] - self.val[0] - self.lookback,
            "test": self.test[1] - self.test[0] - self.lookback,
        }

    def window_counts(self, horizon: int, stride: int = 1) -> dict[str, int]:
        """Windows per split (stride-1: ``span - L - H + 1``, as TSLib's ``__len__``)."""
        return {
            name: count_windows(end - start, self.lookback, horizon, stride)
            for name, (start, end) in self.as_dict().items()
        }


def tslib_spans(n_rows: int, lookback: int, protocol: Protocol) -> SplitSpans:
    """The TSLib borders as :class:`SplitSpans` (train, val, test).

    Examples
    --------
    >>> tslib_spans(17420, 336, "ett-hour").window_counts(96)["test"]
    2785
    """
    b1, b2 = tslib_borders(n_rows, lookback, protocol)
    return SplitSpans((b1[0], b2[0]), (b1[1], b2[1]), (b1[2], b2[2]), lookback)


def protocol_for(dataset: str) -> Protocol:
    """The TSLib split protocol of a dataset name (``ETTh*``, ``ETTm*``, else ratio)."""
    key = dataset.lower()
    if key.startswith("etth"):
        return "ett-hour"
    if key.startswith("ettm"):
        return "ett-minute"
    return "ratio"


def tail_spans(n_rows: int, lookback: int, val_size: int, test_size: int = 0) -> SplitSpans:
    """Split one series by time: the last ``test_size`` rows are test, the ``val_size``
    rows before them validation, the rest training.

    Parameters
    ----------
    n_rows
        Length of the series.
    lookback
        L; val/test spans start L rows before their first target row.
    val_size, test_size
        Target rows of validation and test (0 gives an empty span).
    """
    if min(val_size, test_size, lookback) < 0:
        raise ValueError("lookback, val_size and test_size must be >= 0")
    train_end = n_rows - val_size - test_size
    if train_end <= lookback:
        raise ValueError(
            f"series of {n_rows} rows is too short for val_size={val_size}, "
            f"test_size={test_size} and lookback={lookback}: {train_end} training rows left"
        )
    val_end = n_rows - test_size
    val = (train_end - lookback, val_end) if val_size else (train_end, train_end)
    test = (val_end - lookback, n_rows) if test_size else (n_rows, n_rows)
    return SplitSpans((0, train_end), val, test, lookback)

"""Forecast plots (history, point forecast, quantile bands, backtest windows) with matplotlib.

Figures are drawn on a :class:`matplotlib.figure.Figure` with an Agg canvas of its own, not
through pyplot: plotting neither switches the session's backend (a notebook's inline one, Qt,
pdf, ...) nor leaves figures open in pyplot's registry.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from xlstm_ts._atomic import atomic_write
from xlstm_ts._scalars import is_int

from .data.validation import listing

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

#: The column of :meth:`~xlstm_ts.XLSTMForecaster.cross_validation` output with each window's
#: forecast origin.
CUTOFF_COL = "cutoff"


def agg_figure(figsize: tuple[float, float], nrows: int = 1, ncols: int = 1) -> tuple[Figure, Any]:
    """A figure with an ``(nrows, ncols)`` array of axes on its own Agg canvas.

    No pyplot state: the user's matplotlib backend (a notebook's inline one, Qt) is left as it
    is, and nothing stays open. Every plot of the package is drawn on one of these.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig, fig.subplots(nrows, ncols, squeeze=False)


def _figure(n_panels: int) -> tuple[Figure, list[Axes]]:
    """A figure of ``n_panels`` stacked axes (:func:`agg_figure`)."""
    fig, axes = agg_figure((10, 2.6 * n_panels), n_panels)
    return fig, list(axes[:, 0])


def _long_history(history: pd.DataFrame, ids: set[str], id_col: str, time_col: str,
                  target_col: str | Sequence[str]) -> pd.DataFrame:
    """``history`` as rows ``id, time, value`` under the ids forecasts carry (see
    :mod:`xlstm_ts.data.frames`), with ids as text: forecasts of integer ids come back as
    integers, while the ids of several targets (``"<id>/<target>"``) are text.

    Long input (with ``id_col``): one target keeps the id, several give ``"<id>/<target>"``.
    Wide input (a time index or ``time_col``, one column per variable): the columns named like
    the forecast ``ids``.
    """
    targets = [target_col] if isinstance(target_col, str) else list(target_col)
    if id_col in history.columns:
        missing = [c for c in (time_col, *targets) if c not in history.columns]
        if missing:
            raise ValueError(f"plot: the history frame has no column(s) {missing} (time_col / target_col); "
                             f"its columns: {listing([str(c) for c in history.columns])}")
        uid = history[id_col].astype(str)
        parts = [pd.DataFrame({"id": uid if len(targets) == 1 else uid + f"/{c}",
                               "time": history[time_col], "value": history[c]}) for c in targets]
    else:
        time = np.asarray(history[time_col] if time_col in history.columns else history.index)
        parts = [pd.DataFrame({"id": str(c), "time": time, "value": history[c].to_numpy()})
                 for c in history.columns if str(c) in ids]
    if not parts:
        return pd.DataFrame({"id": pd.Series(dtype=str), "time": [], "value": []})
    return pd.concat(parts, ignore_index=True)


def _actual_line(f: pd.DataFrame, cutoffs: list, time_col: str, actual_col: str) -> tuple[pd.Index, np.ndarray]:
    """The actuals of a series' backtest windows as one line: overlapping windows repeat
    values, so each timestamp is taken once; a NaN breaks the line where windows leave a gap."""
    xs: list = []
    ys: list[float] = []
    end = None
    for cut in cutoffs:
        w = f[f[CUTOFF_COL] == cut].sort_values(time_col, kind="stable")
        if end is not None:
            if cut > end:  # the window starts after a step without actuals: do not bridge it
                xs.append(cut)
                ys.append(np.nan)
            w = w[w[time_col] > end]
        if not w.empty:
            xs.extend(w[time_col])
            ys.extend(w[actual_col].astype(float))
            end = w[time_col].iloc[-1] if end is None else max(end, w[time_col].iloc[-1])
    return pd.Index(xs), np.asarray(ys, dtype=float)


def plot_forecast(
    history: pd.DataFrame | None,
    forecast: pd.DataFrame,
    path: str | os.PathLike | None = None,
    *,
    unique_ids: Sequence[str | int] | str | None = None,
    n_history: int | None = 200,
    max_series: int | None = 8,
    id_col: str = "unique_id",
    time_col: str = "ds",
    target_col: str | Sequence[str] = "y",
    pred_col: str = "y_hat",
    actual_col: str = "y",
) -> Path | Figure:
    """One panel per series: the last ``n_history`` observations, the forecast, quantile bands.

    Quantile columns ``<pred_col>_q<level>`` are paired outside-in (e.g. 0.1 with 0.9) into
    shaded bands. Actuals in ``forecast[actual_col]`` are drawn dashed. Cross-validation output
    (a ``cutoff`` column) is drawn per cutoff: each window's forecast and bands as a segment of
    their own, a dotted line at each cutoff, the windows' actuals as one dashed line, and the
    history only up to the first cutoff.

    Series ids are matched as text, so integer ids of a forecast find those of the history.

    Args:
        history: the series' past, long (``id_col``, ``time_col``, ``target_col``; a list of
            targets gives the ids ``"<id>/<target>"`` of a multi-target forecast) or wide (a
            time index or ``time_col``, a column per forecast id); None draws no history.
            Series with no history rows (before their first cutoff, for cross-validation
            output) are drawn without it, and a ``UserWarning`` names them.
        forecast: ``id_col, time_col, pred_col`` (+ quantile columns, ``cutoff``, ``actual_col``).
        path: file to write (the format follows the extension; ``.png`` is added when there is
            none); None returns the figure instead.
        unique_ids: series to draw, in this order; an id without forecast rows is a ValueError.
            None: the forecast's series in their order.
        n_history: observations drawn before each forecast (None: all).
        max_series: most panels (None: no limit). More series, whether all of the forecast's or
            the ``unique_ids`` given, are cut to the first ``max_series`` with a ``UserWarning``.

    Returns:
        The path written, or the :class:`~matplotlib.figure.Figure` when ``path`` is None.
    """
    if max_series is not None and (not is_int(max_series) or max_series < 1):
        raise ValueError(f"max_series must be a positive int or None; got {max_series!r}")
    if forecast.empty:
        raise ValueError("nothing to plot: the forecast frame is empty")
    fids = forecast[id_col].astype(str)
    available = list(pd.unique(fids))
    if unique_ids is None:
        ids = available
    else:
        ids = list(dict.fromkeys(str(u) for u in ([unique_ids] if isinstance(unique_ids, str) else unique_ids)))
        known = set(available)
        unknown = [u for u in ids if u not in known]
        if unknown or not ids:
            what = f"no forecast rows for unique_ids {listing(unknown)}" if unknown else "unique_ids is empty"
            raise ValueError(f"plot: {what}; the forecast has {len(available)} series: {listing(available)}")
    if max_series is not None and len(ids) > max_series:
        warnings.warn(f"plot: drawing the first {max_series} of {len(ids)} series ({len(ids) - max_series} "
                      "left out); pass unique_ids=[...] to choose which, or max_series=... to draw more",
                      UserWarning, stacklevel=2)
        ids = ids[:max_series]
    hist = None if history is None else _long_history(history, set(ids), id_col, time_col, target_col)
    is_cv = CUTOFF_COL in forecast.columns
    qcols = sorted(
        (float(m.group(1)), c) for c in forecast.columns if (m := re.fullmatch(rf"{re.escape(pred_col)}_q([0-9.]+)", c))
    )
    fig, axes = _figure(len(ids))
    no_history = []
    for ax, uid in zip(axes, ids, strict=True):
        f = forecast[(fids == uid).to_numpy()]
        cutoffs = sorted(pd.unique(f[CUTOFF_COL])) if is_cv else [None]
        if hist is not None:
            h = hist[hist["id"] == uid].sort_values("time", kind="stable")
            if is_cv:  # the data after the first cutoff is what the windows forecast
                h = h[h["time"] <= cutoffs[0]]
            if h.empty:
                no_history.append(uid)
            if n_history is not None:
                h = h.tail(n_history)
            if not h.empty:
                ax.plot(h["time"], h["value"], color="0.25", lw=1.0, label="history")
        if is_cv and actual_col in f.columns:
            ax.plot(*_actual_line(f, cutoffs, time_col, actual_col), color="0.25", lw=1.0, ls="--",
                    label="actual")
        for k, cut in enumerate(cutoffs):
            w = (f if cut is None else f[f[CUTOFF_COL] == cut]).sort_values(time_col, kind="stable")
            hide = "_" if k else ""  # a leading "_" keeps later windows out of the legend
            for j in range(len(qcols) // 2):
                (lo, lo_col), (hi, hi_col) = qcols[j], qcols[-1 - j]
                ax.fill_between(w[time_col], w[lo_col], w[hi_col], color="tab:blue", alpha=0.15 + 0.1 * j,
                                label=f"{hide}{lo:g}-{hi:g} quantiles")
            if not is_cv and actual_col in w.columns:
                ax.plot(w[time_col], w[actual_col], color="0.25", lw=1.0, ls="--", label="actual")
            ax.plot(w[time_col], w[pred_col], color="tab:blue", lw=1.5, label=f"{hide}forecast")
            if cut is not None:
                ax.axvline(cut, color="0.6", lw=0.8, ls=":", label=f"{hide}cutoff")
        ax.set_title(uid, fontsize=9)
        ax.legend(fontsize=7, loc="upper left")
    if no_history:
        where = " before their first cutoff" if is_cv else ""
        warnings.warn(f"plot: the history has no rows{where} for series {listing(no_history)}, so only their "
                      "forecast is drawn; pass history=... with these series to draw theirs",
                      UserWarning, stacklevel=2)
    fig.tight_layout()
    if path is None:
        return fig
    path = Path(path)
    if not path.suffix:  # savefig would append ".png" itself: return the name it writes
        path = path.with_name(path.name + ".png")
    # The format comes from the suffix (matplotlib's rule); the temporary file has none.
    return atomic_write(path, lambda p: fig.savefig(p, dpi=110, format=path.suffix[1:]))

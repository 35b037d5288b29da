"""Forecast plots (history, point forecast, quantile band) written to PNG with matplotlib."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

import pandas as pd


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only; works without a display
    import matplotlib.pyplot as plt

    return plt


def plot_forecast(
    history: pd.DataFrame,
    forecast: pd.DataFrame,
    path: str | os.PathLike,
    *,
    unique_ids: Sequence[str] | None = None,
    n_history: int | None = 200,
    max_series: int = 6,
    id_col: str = "unique_id",
    time_col: str = "ds",
    target_col: str = "y",
    pred_col: str = "y_hat",
) -> Path:
    """One panel per series: the last ``n_history`` observations, the forecast, quantile bands.

    Quantile columns ``<pred_col>_q<level>`` are paired outside-in (e.g. 0.1 with 0.9) into
    shaded bands. Actuals in ``forecast[target_col]`` (cross-validation output) are drawn too.
    """
    plt = _pyplot()
    ids = list(unique_ids) if unique_ids is not None else list(pd.unique(forecast[id_col]))[:max_series]
    if not ids:
        raise ValueError("nothing to plot: the forecast frame is empty")
    qcols = sorted(
        (float(m.group(1)), c) for c in forecast.columns if (m := re.fullmatch(rf"{re.escape(pred_col)}_q([0-9.]+)", c))
    )
    fig, axes = plt.subplots(len(ids), 1, figsize=(10, 2.6 * len(ids)), squeeze=False)
    for ax, uid in zip(axes[:, 0], ids, strict=True):
        h = history[history[id_col] == uid]
        if n_history is not None:
            h = h.tail(n_history)
        f = forecast[forecast[id_col] == uid]
        ax.plot(h[time_col], h[target_col], color="0.25", lw=1.0, label="history")
        for k in range(len(qcols) // 2):
            (lo, lo_col), (hi, hi_col) = qcols[k], qcols[-1 - k]
            ax.fill_between(f[time_col], f[lo_col], f[hi_col], color="tab:blue", alpha=0.15 + 0.1 * k,
                            label=f"{lo:g}-{hi:g} quantiles")
        if target_col in f.columns:
            ax.plot(f[time_col], f[target_col], color="0.25", lw=1.0, ls="--", label="actual")
        ax.plot(f[time_col], f[pred_col], color="tab:blue", lw=1.5, label="forecast")
        ax.set_title(str(uid), fontsize=9)
        ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path

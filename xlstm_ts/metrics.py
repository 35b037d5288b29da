"""Point-forecast metrics: MSE, MAE, sMAPE, MASE; and per-series evaluation of a forecast frame."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


def mse(y: np.ndarray, y_hat: np.ndarray) -> float:
    """Mean squared error."""
    return float(np.mean((np.asarray(y, float) - np.asarray(y_hat, float)) ** 2))


def mae(y: np.ndarray, y_hat: np.ndarray) -> float:
    """Mean absolute error."""
    return float(np.mean(np.abs(np.asarray(y, float) - np.asarray(y_hat, float))))


def smape(y: np.ndarray, y_hat: np.ndarray) -> float:
    """Symmetric MAPE in percent, ``200 * mean(|y - y_hat| / (|y| + |y_hat|))``; 0/0 counts as 0."""
    y, y_hat = np.asarray(y, float), np.asarray(y_hat, float)
    den = np.abs(y) + np.abs(y_hat)
    ratio = np.divide(np.abs(y - y_hat), den, out=np.zeros_like(den), where=den > 0)
    return float(200.0 * ratio.mean())


def mase(y: np.ndarray, y_hat: np.ndarray, y_train: np.ndarray, season: int = 1) -> float:
    """Mean absolute scaled error: MAE over the in-sample MAE of the seasonal-naive forecast.

    A constant training series has scale 0: the result is 0 for a perfect forecast, else inf.
    """
    y_train = np.asarray(y_train, float)
    if len(y_train) <= season:
        raise ValueError(f"MASE needs more than season={season} training points; got {len(y_train)}")
    scale = np.mean(np.abs(y_train[season:] - y_train[:-season]))
    err = mae(y, y_hat)
    if scale == 0:
        return 0.0 if err == 0 else float("inf")
    return float(err / scale)


METRICS = {"mse": mse, "mae": mae, "smape": smape}


def evaluate(
    forecasts: pd.DataFrame,
    metrics: Sequence[str] = ("mse", "mae", "smape"),
    *,
    id_col: str = "unique_id",
    target_col: str = "y",
    pred_col: str = "y_hat",
) -> pd.DataFrame:
    """Metrics per series of a frame with actuals and forecasts (e.g. from ``cross_validation``).

    Returns one row per ``unique_id`` plus a final ``"overall"`` row (pooled over all rows).
    """
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise ValueError(f"unknown metrics {unknown}; available: {sorted(METRICS)} (MASE: use mase())")
    missing = [c for c in (id_col, target_col, pred_col) if c not in forecasts.columns]
    if missing:
        raise ValueError(f"forecast frame lacks columns {missing}; it has {list(forecasts.columns)}")
    rows = []
    for uid, g in forecasts.groupby(id_col, sort=False):
        rows.append({id_col: uid, **{m: METRICS[m](g[target_col], g[pred_col]) for m in metrics}})
    rows.append({id_col: "overall", **{m: METRICS[m](forecasts[target_col], forecasts[pred_col]) for m in metrics}})
    return pd.DataFrame(rows)

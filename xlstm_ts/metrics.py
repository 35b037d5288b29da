"""Point-forecast metrics: MSE, MAE, sMAPE, MASE; and per-series evaluation of a forecast frame.

All metrics take ``y`` and ``y_hat`` of the same, non-empty shape (no broadcasting: a
``(H,)`` against ``(H, 1)`` pair would silently average ``H * H`` differences) and
propagate NaN: one NaN actual or forecast makes the result NaN, as ``numpy.mean`` does.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from xlstm_ts._scalars import is_int

#: Label of the aggregate row of :func:`evaluate` (a series may not be called so).
OVERALL = "overall"


def _check_targets(y: np.ndarray, y_hat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``y`` and ``y_hat`` as float arrays of one non-empty shape (as scikit-learn's
    ``_check_reg_targets``), so that no metric broadcasts or averages an empty slice."""
    y, y_hat = np.asarray(y, float), np.asarray(y_hat, float)
    if y.shape != y_hat.shape:
        raise ValueError(f"y and y_hat must have the same shape, got {y.shape} and {y_hat.shape}")
    if y.size == 0:
        raise ValueError("y and y_hat are empty: a metric needs at least one value")
    return y, y_hat


def mse(y: np.ndarray, y_hat: np.ndarray) -> float:
    """Mean squared error."""
    y, y_hat = _check_targets(y, y_hat)
    return float(np.mean((y - y_hat) ** 2))


def mae(y: np.ndarray, y_hat: np.ndarray) -> float:
    """Mean absolute error."""
    y, y_hat = _check_targets(y, y_hat)
    return float(np.mean(np.abs(y - y_hat)))


def smape(y: np.ndarray, y_hat: np.ndarray) -> float:
    """Symmetric MAPE in percent, ``200 * mean(|y - y_hat| / (|y| + |y_hat|))``.

    A pair with ``y = y_hat = 0`` (0/0, a perfect forecast) counts as 0; NaN gives NaN.
    """
    y, y_hat = _check_targets(y, y_hat)
    den = np.abs(y) + np.abs(y_hat)
    # Only a genuine zero denominator is replaced (its numerator is 0 too): a NaN one must
    # stay NaN, which ``np.divide(..., where=den > 0)`` would have turned into a 0 error.
    ratio = np.abs(y - y_hat) / np.where(den == 0, 1.0, den)
    return float(200.0 * ratio.mean())


def mase(y: np.ndarray, y_hat: np.ndarray, y_train: np.ndarray, season: int = 1) -> float:
    """Mean absolute scaled error: MAE over the in-sample MAE of the seasonal-naive forecast.

    ``y_train`` is one series ``(T,)`` with ``y``/``y_hat`` ``(H,)``, or ``C`` channels
    ``(T, C)`` with ``(H, C)`` forecasts: each channel is scaled by its own naive error and
    the result is the mean of the per-channel MASEs (channels of different units would
    otherwise share the scale of the largest one). ``season`` is a positive integer.

    A constant training channel has scale 0: its MASE is 0 for a perfect forecast, else inf.
    """
    y, y_hat = _check_targets(y, y_hat)
    if not is_int(season):
        raise TypeError(f"season must be a positive integer, got {season!r}")
    if season < 1:
        raise ValueError(f"season must be a positive integer, got {season!r}")
    y_train = np.asarray(y_train, float)
    if y_train.ndim not in (1, 2):
        raise ValueError(f"y_train must be 1-D (T,) or 2-D (T, C), got shape {y_train.shape}")
    if y.shape[1:] != y_train.shape[1:]:
        raise ValueError(
            f"y has shape {y.shape} but y_train {y_train.shape}: the channel axes must match"
        )
    if len(y_train) <= season:
        raise ValueError(f"MASE needs more than season={season} training points; got {len(y_train)}")
    scale = np.mean(np.abs(y_train[season:] - y_train[:-season]), axis=0)
    err = np.mean(np.abs(y - y_hat), axis=0)
    # Where the scale is 0: a positive error gives inf, 0 gives 0 and NaN stays NaN.
    zero = scale == 0
    ratio = np.where(zero, np.where(err > 0, np.inf, err), err / np.where(zero, 1.0, scale))
    return float(np.mean(ratio))


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
    A series named ``"overall"`` is refused, so that row cannot be mistaken for a series.
    """
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise ValueError(f"unknown metrics {unknown}; available: {sorted(METRICS)} (MASE: use mase())")
    missing = [c for c in (id_col, target_col, pred_col) if c not in forecasts.columns]
    if missing:
        raise ValueError(f"forecast frame lacks columns {missing}; it has {list(forecasts.columns)}")
    if (forecasts[id_col] == OVERALL).any():
        raise ValueError(
            f"a series is named {OVERALL!r}, the label of evaluate()'s aggregate row; "
            f"rename it in column {id_col!r}"
        )
    rows = []
    for uid, g in forecasts.groupby(id_col, sort=False):
        rows.append({id_col: uid, **{m: METRICS[m](g[target_col], g[pred_col]) for m in metrics}})
    rows.append({id_col: OVERALL, **{m: METRICS[m](forecasts[target_col], forecasts[pred_col]) for m in metrics}})
    return pd.DataFrame(rows)

"""Point-forecast metrics (MSE, MAE, sMAPE, MASE), interval metrics (pinball loss, coverage)
and per-series evaluation of a forecast frame.

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


def pinball(y: np.ndarray, y_q: np.ndarray, level: float) -> float:
    """Mean pinball (quantile) loss of the forecasts ``y_q`` of quantile ``level`` in (0, 1):
    ``mean(max(level * (y - y_q), (level - 1) * (y - y_q)))``; 0.5 gives half the MAE."""
    y, y_q = _check_targets(y, y_q)
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    d = y - y_q
    return float(np.mean(np.maximum(level * d, (level - 1) * d)))


def coverage(y: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> float:
    """Share of ``y`` inside ``[lower, upper]`` (bounds included); a NaN anywhere gives NaN."""
    y, lower = _check_targets(y, lower)
    _, upper = _check_targets(y, upper)
    if np.isnan(y).any() or np.isnan(lower).any() or np.isnan(upper).any():
        return float("nan")
    return float(np.mean((y >= lower) & (y <= upper)))


METRICS = {"mse": mse, "mae": mae, "smape": smape}
#: Metrics of the quantile columns (``y_hat_q<level>``) that :func:`evaluate` also computes.
INTERVAL_METRICS = ("pinball", "coverage")


def _quantile_levels(columns: Sequence[str], pred_col: str) -> dict[float, str]:
    """``level -> column`` of the quantile columns ``f"{pred_col}_q{level:g}"`` of a frame."""
    prefix = f"{pred_col}_q"
    out = {}
    for c in columns:
        if isinstance(c, str) and c.startswith(prefix):
            try:
                level = float(c[len(prefix):])
            except ValueError:
                continue
            if 0 < level < 1:
                out[level] = c
    return dict(sorted(out.items()))


def _interval_scores(g: pd.DataFrame, metrics: Sequence[str], levels: dict[float, str],
                     pairs: list[tuple[float, float]], target_col: str) -> dict[str, float]:
    out = {}
    if "pinball" in metrics:  # averaged over the levels (a discrete approximation of the CRPS)
        out["pinball"] = float(np.mean([pinball(g[target_col], g[c], q) for q, c in levels.items()]))
    if "coverage" in metrics:
        for lo, hi in pairs:
            out[f"coverage_{round(100 * (hi - lo), 6):g}"] = coverage(g[target_col], g[levels[lo]], g[levels[hi]])
    return out


def evaluate(
    forecasts: pd.DataFrame,
    metrics: Sequence[str] = ("mse", "mae", "smape"),
    *,
    id_col: str = "unique_id",
    target_col: str = "y",
    pred_col: str = "y_hat",
) -> pd.DataFrame:
    """Metrics per series of a frame with actuals and forecasts (e.g. from ``cross_validation``).

    ``metrics`` may also name the interval metrics of the quantile columns (``y_hat_q0.1``, ...):
    ``"pinball"`` (the pinball loss averaged over the levels) and ``"coverage"`` (the share of
    actuals inside each central interval ``[q, 1 - q]`` of the frame, as ``coverage_80`` for the
    levels 0.1 and 0.9).

    Returns one row per ``unique_id`` plus a final ``"overall"`` row (pooled over all rows).
    A series named ``"overall"`` is refused, so that row cannot be mistaken for a series.
    """
    unknown = [m for m in metrics if m not in METRICS and m not in INTERVAL_METRICS]
    if unknown:
        raise ValueError(f"unknown metrics {unknown}; available: {sorted(METRICS) + list(INTERVAL_METRICS)} "
                         "(MASE: use mase())")
    missing = [c for c in (id_col, target_col, pred_col) if c not in forecasts.columns]
    if missing:
        raise ValueError(f"forecast frame lacks columns {missing}; it has {list(forecasts.columns)}")
    if (forecasts[id_col] == OVERALL).any():
        raise ValueError(
            f"a series is named {OVERALL!r}, the label of evaluate()'s aggregate row; "
            f"rename it in column {id_col!r}"
        )
    levels = _quantile_levels(forecasts.columns, pred_col)
    pairs = [(q, hi) for q in levels for hi in levels if q < 0.5 and abs(q + hi - 1) < 1e-9]
    asked = [m for m in metrics if m in INTERVAL_METRICS]
    if asked and not levels:
        raise ValueError(f"metrics {asked} need quantile columns ({pred_col}_q<level>, e.g. {pred_col}_q0.1); the "
                         f"frame has {list(forecasts.columns)}: forecast with quantiles=[...]")
    if "coverage" in metrics and not pairs:
        raise ValueError(f"'coverage' needs the two bounds of a central interval, levels q and 1 - q (e.g. 0.1 "
                         f"and 0.9); the frame has the levels {list(levels)}")
    point = [m for m in metrics if m in METRICS]

    def scores(g: pd.DataFrame) -> dict[str, float]:
        return {**{m: METRICS[m](g[target_col], g[pred_col]) for m in point},
                **_interval_scores(g, metrics, levels, pairs, target_col)}

    rows = [{id_col: uid, **scores(g)} for uid, g in forecasts.groupby(id_col, sort=False)]
    rows.append({id_col: OVERALL, **scores(forecasts)})
    return pd.DataFrame(rows)

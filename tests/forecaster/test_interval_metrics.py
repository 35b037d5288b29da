"""Interval metrics: pinball loss and coverage, alone and through ``evaluate``."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from xlstm_ts.metrics import coverage, evaluate, mae, pinball


def test_pinball_by_hand():
    y, q = np.array([1.0, 2.0, 3.0]), np.array([2.0, 2.0, 2.0])
    # Errors y - q: -1, 0, 1. Level 0.9: 0.1 * 1, 0, 0.9 * 1.
    assert pinball(y, q, 0.9) == pytest.approx((0.1 + 0 + 0.9) / 3)
    assert pinball(y, q, 0.5) == pytest.approx(mae(y, q) / 2)
    with pytest.raises(ValueError, match="level must be in"):
        pinball(y, q, 1.0)


def test_coverage_counts_bounds_as_inside_and_propagates_nan():
    y = np.array([0.0, 1.0, 2.0, 3.0])
    assert coverage(y, np.full(4, 1.0), np.full(4, 2.0)) == 0.5
    assert np.isnan(coverage([0.0, np.nan], [0.0, 0.0], [1.0, 1.0]))
    with pytest.raises(ValueError, match="same shape"):
        coverage(y, np.zeros(3), np.zeros(4))


def test_evaluate_adds_interval_metrics_per_series_and_overall():
    frame = pd.DataFrame({
        "unique_id": ["a", "a", "b", "b"],
        "y": [1.0, 5.0, 0.0, 0.0],
        "y_hat": [1.0, 1.0, 0.0, 1.0],
        "y_hat_q0.1": [0.0, 0.0, -1.0, 0.5],
        "y_hat_q0.9": [2.0, 2.0, 1.0, 1.5],
    })
    report = evaluate(frame, metrics=("mae", "pinball", "coverage")).set_index("unique_id")
    assert list(report.columns) == ["mae", "pinball", "coverage_80"]
    assert report.loc["a", "coverage_80"] == 0.5 and report.loc["b", "coverage_80"] == 0.5
    assert report.loc["overall", "coverage_80"] == 0.5
    expected_a = np.mean([pinball([1.0, 5.0], [0.0, 0.0], 0.1), pinball([1.0, 5.0], [2.0, 2.0], 0.9)])
    assert report.loc["a", "pinball"] == pytest.approx(expected_a)
    # The default metrics stay the point metrics.
    assert list(evaluate(frame).columns) == ["unique_id", "mse", "mae", "smape"]


def test_evaluate_interval_metrics_need_quantile_columns():
    frame = pd.DataFrame({"unique_id": ["a"], "y": [1.0], "y_hat": [1.0]})
    with pytest.raises(ValueError, match="need quantile columns"):
        evaluate(frame, metrics=("coverage",))
    with pytest.raises(ValueError, match="levels q and 1 - q"):
        evaluate(frame.assign(**{"y_hat_q0.1": 0.0, "y_hat_q0.8": 2.0}), metrics=("coverage",))
    with pytest.raises(ValueError, match="unknown metrics"):
        evaluate(frame, metrics=("crps",))

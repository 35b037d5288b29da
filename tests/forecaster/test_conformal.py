"""Conformal intervals (``conformal_windows``) around point forecasts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.forecaster.conftest import seasonal_panel
from xlstm_ts import XLSTMForecaster
from xlstm_ts.metrics import coverage as metrics_coverage

pytestmark = pytest.mark.one_thread  # tiny models (tests/conftest.py)

SNAIVE = dict(model="seasonal_naive", model_params={"season_length": 24}, horizon=12, lookback=48)


def coverage(cv: pd.DataFrame, lo: str = "y_hat_q0.1", hi: str = "y_hat_q0.9") -> float:
    return metrics_coverage(cv["y"], cv[lo], cv[hi])


def test_intervals_cover_about_their_level_on_held_out_windows():
    """Seasonal naive on noisy seasonal series: its errors are exchangeable across windows, so the
    80% and 50% intervals calibrated on earlier windows cover about 80% and 50% of later values."""
    df = seasonal_panel(n_series=12, lengths=(600, 640, 560), noise=0.5, seed=3)
    est = XLSTMForecaster(quantiles=[0.1, 0.25, 0.75, 0.9], conformal_windows=6, **SNAIVE)
    cv = est.cross_validation(df, n_windows=10, step=12)
    assert est.conformal_scores_.shape == (6 * 12, 12, 1)
    assert 0.72 <= coverage(cv) <= 0.88, coverage(cv)
    assert 0.42 <= coverage(cv, "y_hat_q0.25", "y_hat_q0.75") <= 0.58
    assert (cv["y_hat_q0.1"] <= cv["y_hat_q0.25"]).all() and (cv["y_hat_q0.75"] <= cv["y_hat_q0.9"]).all()
    # Symmetric around the point forecast.
    np.testing.assert_allclose(cv["y_hat"] - cv["y_hat_q0.1"], cv["y_hat_q0.9"] - cv["y_hat"], rtol=1e-6, atol=1e-9)


def test_widths_follow_each_series_scale_and_noise():
    quiet = seasonal_panel(n_series=4, noise=0.1, seed=0)
    loud = seasonal_panel(n_series=4, noise=1.0, seed=0).assign(unique_id=lambda d: "loud_" + d["unique_id"])
    big = quiet.assign(unique_id=lambda d: "big_" + d["unique_id"], y=lambda d: 100 * d["y"])
    df = pd.concat([quiet, loud, big], ignore_index=True)
    pred = XLSTMForecaster(quantiles=[0.1, 0.9], conformal_windows=3, **SNAIVE).fit(df).predict()
    kind = pred["unique_id"].map(lambda uid: uid.split("_")[0] if "_" in uid else "quiet")
    width = (pred["y_hat_q0.9"] - pred["y_hat_q0.1"]).groupby(kind).mean()
    # Errors pooled in scaled units: a series 100 times larger gets intervals about 100 times wider
    # (its scaler's spread is 100 times larger), a noisier one wider intervals than a quiet one.
    assert 50 < width["big"] / width["quiet"] < 200, width
    assert width["loud"] > 2 * width["quiet"], width


def test_trained_model_save_load_and_plot(tmp_path):
    df = seasonal_panel(n_series=3, lengths=(260, 280, 240))
    est = XLSTMForecaster(horizon=6, lookback=24, model="xlstm_patch", quantiles=[0.1, 0.9], conformal_windows=2,
                          max_epochs=1, random_state=0,
                          model_params={"patch_len": 8, "stride": 8, "xlstm": {"embedding_dim": 16, "num_blocks": 1}},
                          trainer_kwargs={"limit_train_batches": 4}).fit(df)
    assert est.spec_.n_outputs == 1  # the network forecasts a point; the bounds come from the scores
    pred = est.predict()
    assert list(pred.columns) == ["unique_id", "ds", "y_hat", "y_hat_q0.1", "y_hat_q0.9"]
    assert (pred["y_hat_q0.1"] < pred["y_hat"]).all() and (pred["y_hat"] < pred["y_hat_q0.9"]).all()
    loaded = XLSTMForecaster.load(est.save(tmp_path / "m"))
    np.testing.assert_array_equal(loaded.conformal_scores_, est.conformal_scores_)
    pd.testing.assert_frame_equal(loaded.predict(), pred)
    assert est.plot(pred, tmp_path / "f.png").stat().st_size > 5_000
    # Beyond the horizon (recursive blocks) every step still gets its bounds around the forecast.
    longer = est.predict(h=12)
    assert longer.groupby("unique_id").size().eq(12).all()
    assert (longer["y_hat_q0.1"] < longer["y_hat"]).all() and (longer["y_hat"] < longer["y_hat_q0.9"]).all()


def test_refit_without_conformal_windows_drops_the_scores():
    df = seasonal_panel(n_series=3)
    est = XLSTMForecaster(quantiles=[0.1, 0.9], conformal_windows=3, **SNAIVE).fit(df)
    assert est.conformal_scores_ is not None
    est.set_params(conformal_windows=None, quantiles=None).fit(df)
    assert est.conformal_scores_ is None and list(est.predict().columns) == ["unique_id", "ds", "y_hat"]


@pytest.mark.parametrize("params, match", [
    (dict(conformal_windows=2), "conformal_windows needs quantiles"),
    (dict(conformal_windows=0, quantiles=[0.1, 0.9]), "conformal_windows must be None or a positive int"),
    (dict(conformal_windows=2, quantiles=[0.1, 0.9], loss="quantile"), "use a point loss"),
    (dict(quantiles=[0.1, 0.9]), "or conformal_windows=k"),
    (dict(conformal_windows=1, quantiles=[0.05, 0.95]), r"too few for the quantile 0.05 \(a central interval of 90% needs at least 9\)"),
    (dict(conformal_windows=30, quantiles=[0.1, 0.9]), "too short for conformal_windows=30"),
])
def test_clear_errors(params, match):
    df = seasonal_panel(n_series=3)
    with pytest.raises(ValueError, match=match):
        XLSTMForecaster(**{**SNAIVE, **params}).fit(df)

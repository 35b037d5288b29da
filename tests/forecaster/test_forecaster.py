"""XLSTMForecaster: fit/predict on frames, quantiles, CV, save/load, sklearn contract, bad input."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from xlstm_ts import XLSTMForecaster
from xlstm_ts.persist import ModelFileError

from .conftest import seasonal_panel


def test_fit_predict_long_panel_of_different_lengths(panel, tiny):
    est = XLSTMForecaster(horizon=12, lookback=48, **tiny)
    assert est.fit(panel) is est
    pred = est.predict()
    assert list(pred.columns) == ["unique_id", "ds", "y_hat"]
    assert len(pred) == 3 * 12 and np.isfinite(pred["y_hat"]).all()
    for uid, g in pred.groupby("unique_id"):
        last = panel.loc[panel.unique_id == uid, "ds"].max()
        assert list(g["ds"]) == list(pd.date_range(last + pd.Timedelta(hours=1), periods=12, freq="h"))


def test_wide_multivariate_input(tiny):
    idx = pd.date_range("2023-01-01", periods=300, freq="h", name="ds")
    t = np.arange(300)
    wide = pd.DataFrame({"a": np.sin(t / 5), "b": np.cos(t / 7), "OT": np.sin(t / 11) + 2}, index=idx)
    est = XLSTMForecaster(horizon=10, lookback=40, **tiny).fit(wide)
    pred = est.predict()
    assert set(pred["unique_id"]) == {"a", "b", "OT"} and len(pred) == 30
    assert est.spec_.n_channels == 3


def test_csv_and_parquet_paths(tmp_path, panel, tiny):
    panel.to_csv(tmp_path / "p.csv", index=False)
    panel.to_parquet(tmp_path / "p.parquet")
    p1 = XLSTMForecaster(horizon=6, lookback=24, **tiny).fit(tmp_path / "p.parquet").predict()
    assert len(p1) == 18
    # CSV has no date type: the time column is parsed (one format for the whole column).
    p2 = XLSTMForecaster(horizon=6, lookback=24, **tiny).fit(str(tmp_path / "p.csv")).predict()
    pd.testing.assert_frame_equal(p1, p2)
    panel.assign(ds="not a date").to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(ValueError, match="column 'ds' does not hold dates"):
        XLSTMForecaster(horizon=6, lookback=24, **tiny).fit(tmp_path / "bad.csv")


def test_quantile_forecasts(panel, tiny):
    est = XLSTMForecaster(horizon=8, lookback=32, loss="quantile", quantiles=[0.1, 0.9], **tiny).fit(panel)
    pred = est.predict()
    assert {"y_hat_q0.1", "y_hat_q0.9"} <= set(pred.columns)
    assert np.isfinite(pred[["y_hat", "y_hat_q0.1", "y_hat_q0.9"]].to_numpy()).all()
    assert est.spec_.n_outputs == 3  # 0.1, 0.5 (the point forecast), 0.9


def test_valid_loss_selects_the_epoch_on_another_loss(panel, tiny):
    """loss='mae' with valid_loss='mse': early stopping and the kept epoch follow validation MSE,
    so the reported best validation loss is an MSE (on the scaled series) and differs from the
    MAE the same seeded run reports without valid_loss."""
    kw = dict(horizon=8, lookback=32, loss="mae", random_state=1, **tiny)
    by_mse = XLSTMForecaster(valid_loss="mse", **kw).fit(panel)
    by_mae = XLSTMForecaster(**kw).fit(panel)
    assert by_mse.get_params()["valid_loss"] == "mse" and clone(by_mse).valid_loss == "mse"
    assert by_mse.fit_report_.best_val_loss != pytest.approx(by_mae.fit_report_.best_val_loss, rel=1e-3)


def test_predict_unseen_series(panel, tiny):
    est = XLSTMForecaster(horizon=6, lookback=24, **tiny).fit(panel)
    new = seasonal_panel(n_series=1, lengths=(50,), seed=9).assign(unique_id="new")
    pred = est.predict(new)
    assert set(pred["unique_id"]) == {"new"} and np.isfinite(pred["y_hat"]).all()


def test_cross_validation(panel, tiny):
    est = XLSTMForecaster(horizon=6, lookback=24, **tiny)
    cv = est.cross_validation(panel, n_windows=3, step=4)
    assert {"unique_id", "cutoff", "ds", "y_hat", "y"} <= set(cv.columns)
    assert len(cv) == 3 * 3 * 6 and cv["cutoff"].nunique() >= 3
    assert (cv["ds"] > cv["cutoff"]).all()
    # the actuals are the real future values
    merged = cv.merge(panel, on=["unique_id", "ds"], suffixes=("", "_true"))
    assert np.allclose(merged["y"], merged["y_true"])


def test_save_load_round_trip_reproduces_predictions(tmp_path, panel, tiny):
    est = XLSTMForecaster(horizon=6, lookback=24, loss="quantile", quantiles=[0.2, 0.8], **tiny).fit(panel)
    before = est.predict()
    est.save(tmp_path / "m")
    loaded = XLSTMForecaster.load(tmp_path / "m")
    pd.testing.assert_frame_equal(loaded.predict(), before)
    pd.testing.assert_frame_equal(loaded.predict(panel), est.predict(panel))
    assert loaded.get_params()["horizon"] == 6
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    assert cfg["xlstm_ts_version"] and cfg["format_version"] == 1
    assert not list((tmp_path / "m").glob("*.pkl")) and not list((tmp_path / "m").glob("*.pt"))


def test_save_is_atomic_and_overwrites(tmp_path, panel, tiny):
    est = XLSTMForecaster(horizon=6, lookback=24, **tiny).fit(panel)
    est.save(tmp_path / "m")
    est.save(tmp_path / "m")  # overwrite in place
    assert [p.name for p in tmp_path.iterdir()] == ["m"]  # no temporary leftovers


def test_corrupted_model_directory_is_a_clear_error(tmp_path, panel, tiny):
    est = XLSTMForecaster(horizon=6, lookback=24, **tiny).fit(panel)
    est.save(tmp_path / "m")
    weights = tmp_path / "m" / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match="checksum"):
        XLSTMForecaster.load(tmp_path / "m")
    with pytest.raises(ModelFileError, match="no model directory"):
        XLSTMForecaster.load(tmp_path / "nothing")
    (tmp_path / "m" / "config.json").write_text("{not json")
    with pytest.raises(ModelFileError, match="corrupted"):
        XLSTMForecaster.load(tmp_path / "m")


def test_sklearn_contract(tiny):
    est = XLSTMForecaster(horizon=5, lookback=20, **tiny)
    params = est.get_params()
    assert params["horizon"] == 5 and params["model"] == "xlstm_patch"
    c = clone(est)
    assert c.get_params()["model_params"] == tiny["model_params"] and c is not est
    est.set_params(horizon=7)
    assert est.horizon == 7
    assert not hasattr(c, "model_")
    with pytest.raises(Exception, match="not fitted"):
        c.predict()


def test_seeded_runs_reproduce(panel, tiny):
    a = XLSTMForecaster(horizon=6, lookback=24, random_state=3, **tiny).fit(panel).predict()
    b = XLSTMForecaster(horizon=6, lookback=24, random_state=3, **tiny).fit(panel).predict()
    pd.testing.assert_frame_equal(a, b)


def test_future_and_static_covariates(tiny):
    df = seasonal_panel()
    df["promo"] = (np.arange(len(df)) % 7 == 0).astype(float)
    static = pd.DataFrame({"unique_id": ["s0", "s1", "s2"], "size": [1.0, 2.0, 3.0]})
    est = XLSTMForecaster(horizon=6, lookback=24, futr_cols=["promo"], **tiny).fit(df, static_df=static)
    assert est.spec_.n_static == 1 and est.spec_.n_futr >= 1 + 4  # promo + hourly calendar features
    with pytest.raises(ValueError, match="futr_df"):
        est.predict()
    future = []
    for uid, g in df.groupby("unique_id"):
        ds = pd.date_range(g["ds"].max() + pd.Timedelta(hours=1), periods=6, freq="h")
        future.append(pd.DataFrame({"unique_id": uid, "ds": ds, "promo": 1.0}))
    pred = est.predict(futr_df=pd.concat(future))
    assert len(pred) == 18 and np.isfinite(pred["y_hat"]).all()


@pytest.mark.slow
def test_beats_seasonal_naive_on_noisy_seasonal_panel():
    """The fitted model must clearly beat the seasonal-naive forecast on held-out windows."""
    df = seasonal_panel(n_series=4, lengths=(600, 640, 560, 620), noise=0.5, seed=1)
    common = dict(horizon=24, lookback=96, random_state=0)
    xl = XLSTMForecaster(model="xlstm_patch", max_epochs=20, batch_size=32, learning_rate=3e-3,
                         model_params={"patch_len": 12, "stride": 12, "xlstm": {"embedding_dim": 32, "num_blocks": 1}}, **common)
    sn = XLSTMForecaster(model="seasonal_naive", model_params={"season_length": 24}, **common)
    cv_xl = xl.cross_validation(df, n_windows=4, step=24)
    cv_sn = sn.cross_validation(df, n_windows=4, step=24)
    mae_xl = (cv_xl["y"] - cv_xl["y_hat"]).abs().mean()
    mae_sn = (cv_sn["y"] - cv_sn["y_hat"]).abs().mean()
    # Seasonal naive carries two noise draws per error (sqrt(2) * noise); a good model ~one.
    assert mae_xl < 0.85 * mae_sn, (mae_xl, mae_sn)


def test_plot_writes_png(tmp_path, panel, tiny):
    est = XLSTMForecaster(horizon=6, lookback=24, loss="quantile", quantiles=[0.1, 0.9], **tiny).fit(panel)
    png = est.plot(est.predict(), tmp_path / "f.png")
    assert png.stat().st_size > 5_000 and png.read_bytes()[:4] == b"\x89PNG"

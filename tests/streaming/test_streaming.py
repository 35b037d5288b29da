"""Streaming forecasting: update == predict(full history), save/load mid-stream, bad updates,
flat state over long streams, TBPTT training quality."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import torch

from xlstm_ts import XLSTMForecaster
from xlstm_ts.models import build_model, get_model_class, model_hparams
from xlstm_ts.models.registry import MODELS
from xlstm_ts.streaming import XLSTMStream

from .conftest import TINY_STREAM, seasonal_panel, split_tail

COLS = ["y_hat", "y_hat_q0.1", "y_hat_q0.9"]


def assert_same_forecast(a: pd.DataFrame, b: pd.DataFrame, atol: float = 1e-5) -> None:
    assert list(a.columns) == list(b.columns)
    assert list(a["unique_id"]) == list(b["unique_id"]) and list(a["ds"]) == list(b["ds"])
    cols = [c for c in a.columns if c.startswith("y_hat")]
    np.testing.assert_allclose(a[cols].to_numpy(), b[cols].to_numpy(), rtol=0, atol=atol)


def test_registered_by_name_and_marked_streaming():
    cls = get_model_class("xlstm_stream")
    assert cls is XLSTMStream and cls.streaming is True
    assert "xlstm_stream" not in MODELS  # the windowed registry (tests/bench iterate it) is unchanged
    assert model_hparams("xlstm_stream")["xlstm"]["embedding_dim"] == 64


def test_fit_holds_the_final_state_of_each_series(fitted, panel):
    est, train, _ = fitted
    assert est.stream_ is not None and est.stream_.last_out.shape == (3, 16)
    assert est.stream_.n_seen.tolist() == train.groupby("unique_id", sort=False).size().tolist()
    # predict() from the kept state == reading the training frame again from the zero state
    assert_same_forecast(est.predict(), est.predict(train))


def test_predict_from_series_too_short_to_infer_a_frequency(fitted):
    est, train, _ = fitted
    short = train.groupby("unique_id").head(2)  # two rows: pandas cannot infer "h"
    pred = est.predict(short)
    first = pred.groupby("unique_id")["ds"].min()
    assert (first == short.groupby("unique_id")["ds"].max() + pd.Timedelta(hours=1)).all()


@pytest.mark.parametrize("refit", [False, True])
def test_predict_after_cross_validation_starts_at_the_end_of_the_data(panel, refit):
    est = XLSTMForecaster(horizon=8, lookback=32, **{**TINY_STREAM, "max_epochs": 1})
    est.cross_validation(panel, n_windows=2, refit=refit)
    # The kept state has read every row of panel: the same forecast as reading it afresh.
    assert_same_forecast(est.predict(), est.predict(panel))


def test_update_k_points_then_predict_equals_predict_from_full_history(fitted, panel):
    est, _, new = fitted
    est.update(new)  # 30, 17 and 1 new rows
    full = est.predict(panel)
    assert_same_forecast(est.predict(), full)
    last = panel.groupby("unique_id")["ds"].max()
    got = est.predict().groupby("unique_id")["ds"].min()
    assert (got == last + pd.Timedelta(hours=1)).all()


def test_single_step_updates_equal_one_chunk(fitted, panel):
    est, _, new = fitted
    a, b = est, copy.deepcopy(est)
    a.update(new)
    for _, row in new.sort_values("ds", kind="stable").iterrows():
        b.update(pd.DataFrame([row]))
    assert_same_forecast(a.predict(), b.predict())
    assert b.stream_.n_seen.tolist() == a.stream_.n_seen.tolist()


def test_save_load_then_update_continues_identically(fitted, panel, tmp_path):
    est, _, new = fitted
    first, second = split_tail(new, {"s0": 12, "s1": 5})
    est.update(first)
    est.save(tmp_path / "m")
    loaded = XLSTMForecaster.load(tmp_path / "m")
    assert_same_forecast(loaded.predict(), est.predict(), atol=0)
    est.update(second)
    loaded.update(second)
    assert_same_forecast(loaded.predict(), est.predict(), atol=0)
    assert_same_forecast(loaded.predict(), est.predict(panel))


def test_gap_overlap_and_unknown_series_raise_clear_errors(fitted):
    est, train, new = fitted
    before = est.predict()
    s0 = new[new.unique_id == "s0"]
    expected = str(train.loc[train.unique_id == "s0", "ds"].max() + pd.Timedelta(hours=1))
    with pytest.raises(ValueError, match=rf"'s0'.*{expected}.*gap of 2 missing"):
        est.update(s0.iloc[2:])
    with pytest.raises(ValueError, match=rf"'s0'.*{expected}.*overlaps"):
        est.update(pd.concat([train[train.unique_id == "s0"].tail(3), s0]))
    with pytest.raises(ValueError, match="not seen in fit.*predict"):
        est.update(s0.assign(unique_id="zz"))
    with pytest.raises(ValueError, match="missing|gap"):  # a hole inside the new rows
        est.update(s0.drop(index=s0.index[5]))
    with pytest.raises(ValueError, match="extra"):
        est.update(s0.assign(extra=1.0))
    # a bad update changes nothing, also when another series in it was fine
    with pytest.raises(ValueError, match="'s1'.*gap"):
        est.update(pd.concat([s0, new[new.unique_id == "s1"].iloc[1:]]))
    assert_same_forecast(est.predict(), before, atol=0)
    assert est.stream_.n_seen.tolist() == train.groupby("unique_id", sort=False).size().tolist()


def test_state_size_constant_over_a_long_stream():
    """10^5 steps through update in chunks, then single steps: the kept state never grows."""
    n_fit, n_stream, chunk = 200, 100_000, 20_000
    df = seasonal_panel(lengths=(n_fit + n_stream + 50,), noise=0.1)
    est = XLSTMForecaster(horizon=4, lookback=16, val_size=0, calendar=False,
                          **{**TINY_STREAM, "max_epochs": 1}).fit(df.iloc[:n_fit])
    sizes = [est.stream_.nbytes]
    for a in range(n_fit, n_fit + n_stream, chunk):
        est.update(df.iloc[a:a + chunk])
        sizes.append(est.stream_.nbytes)
        assert len(est.history_[0]) == 16
    for a in range(n_fit + n_stream, n_fit + n_stream + 50):
        est.update(df.iloc[a:a + 1])
        sizes.append(est.stream_.nbytes)
    assert len(set(sizes)) == 1 and sizes[0] < 50_000
    assert int(est.stream_.n_seen[0]) == len(df)
    pred = est.predict()
    assert np.isfinite(pred["y_hat"]).all() and pred["ds"].iloc[0] == df["ds"].iloc[-1] + pd.Timedelta(hours=1)


def test_tbptt_training_beats_naive_on_a_seasonal_series():
    rng = np.random.default_rng(0)
    n = 1400
    t = np.arange(n)
    y = 5 + 2 * np.sin(2 * np.pi * t / 24) + 0.3 * rng.standard_normal(n)
    df = pd.DataFrame({"unique_id": "a", "ds": pd.date_range("2024-01-01", periods=n, freq="h"), "y": y})
    train, test = df.iloc[:1000], df.iloc[1000:]
    est = XLSTMForecaster(model="xlstm_stream", horizon=24, lookback=48, max_epochs=15, batch_size=8,
                          calendar=False, learning_rate=3e-3, patience=None,
                          model_params={"dropout": 0.0,
                                        "xlstm": {"embedding_dim": 32, "num_blocks": 1, "dropout": 0.0}}).fit(train)
    assert est.fit_report_.best_val_loss is not None
    err, naive = [], []
    for w in range(0, len(test) - 24, 24):
        true = test["y"].to_numpy()[w:w + 24]
        err.append(np.mean((est.predict()["y_hat"].to_numpy() - true) ** 2))
        naive.append(np.mean((est.history_[0].values[-1, 0] - true) ** 2))
        est.update(test.iloc[w:w + 24])
    assert np.mean(err) < 0.25 * np.mean(naive), (np.mean(err), np.mean(naive))
    assert np.mean(err) < 0.3  # noise variance 0.09, signal variance 2


def test_future_covariates_and_multichannel_wide_input_update_like_full_history():
    n = 260
    idx = pd.date_range("2023-01-01", periods=n, freq="h", name="ds")
    t = np.arange(n)
    promo = (t % 7 == 0).astype(float)
    wide = pd.DataFrame({"a": np.sin(t / 5) + promo, "b": np.cos(t / 7), "promo": promo}, index=idx)
    est = XLSTMForecaster(horizon=6, lookback=24, futr_cols=["promo"], **TINY_STREAM).fit(wide.iloc[:230])
    futr = pd.DataFrame({"unique_id": "series", "ds": pd.date_range(idx[-1], periods=7, freq="h")[1:],
                         "promo": 1.0})
    est.update(wide.iloc[230:])
    assert_same_forecast(est.predict(futr_df=futr), est.predict(wide, futr_df=futr))
    with pytest.raises(ValueError, match="promo"):
        est.update(wide.iloc[-2:].drop(columns="promo"))


def test_windowed_models_update_slides_their_window(panel):
    head, new = split_tail(panel, {"s0": 5, "s2": 40})
    est = XLSTMForecaster(horizon=6, lookback=24, model="seasonal_naive", model_params={"season_length": 24})
    est.fit(head)
    with pytest.raises(ValueError, match="'s0'.*gap of 1"):
        est.update(new.iloc[1:])
    est.update(new)
    assert_same_forecast(est.predict(), est.predict(panel), atol=0)
    assert all(len(s) == 24 for s in est.history_)


def test_streaming_model_keeps_the_common_window_interface():
    from xlstm_ts.models import ModelSpec

    spec = ModelSpec(lookback=20, horizon=5, n_channels=2, n_futr=3, n_static=1, n_outputs=3)
    m = build_model("xlstm_stream", spec, xlstm={"embedding_dim": 16, "num_blocks": 1}).eval()
    g = torch.Generator().manual_seed(0)
    batch = {"x": torch.randn(4, 20, 2, generator=g), "x_futr": torch.randn(4, 25, 3, generator=g),
             "static": torch.randn(4, 1, generator=g)}
    with torch.no_grad():
        out = m(batch)
        last, _ = m.read(batch["x"], batch["x_futr"][:, :20], batch["static"], block=7)
        direct = m.head(last, m.recent_window(batch["x"]), batch["x_futr"][:, 20:], batch["static"])
    assert out.shape == (4, 5, 2, 3)
    torch.testing.assert_close(out, direct, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="segment_len"):
        build_model("xlstm_stream", spec, segment_len=0)

"""``predict(h=...)``: fewer steps than the horizon, or more, forecast recursively.

The recursion is checked against the public API done by hand: the second block of
``predict(h=2H)`` must equal ``predict`` of the history extended by the first block's
``y_hat`` (for a windowed and for a streaming model), and the first block must equal
``predict()``.
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from xlstm_ts import XLSTMForecaster

from .conftest import seasonal_panel

pytestmark = pytest.mark.one_thread  # tiny models (tests/conftest.py)

H = 6
FAST = {"max_epochs": 1, "batch_size": 8,
        "trainer_kwargs": {"limit_train_batches": 2, "logger": False, "enable_checkpointing": False,
                           "enable_model_summary": False}}
MODELS = {
    "xlstm_patch": {"model": "xlstm_patch",
                    "model_params": {"patch_len": 8, "stride": 8, "xlstm": {"embedding_dim": 16, "num_blocks": 1}}},
    "xlstm_stream": {"model": "xlstm_stream",
                     "model_params": {"xlstm": {"embedding_dim": 16, "mlstm": {"num_heads": 2, "chunk_size": 16}}}},
}


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    return seasonal_panel(lengths=(120, 150, 100))


@pytest.fixture(scope="module", params=sorted(MODELS))
def _fitted(request, panel):
    est = XLSTMForecaster(horizon=H, lookback=24, loss="quantile", quantiles=[0.1, 0.9],
                          **FAST, **MODELS[request.param])
    return est.fit(panel)


@pytest.fixture
def fitted(_fitted):
    return copy.deepcopy(_fitted)


def _block(frame: pd.DataFrame, uid: str, start: int, stop: int) -> pd.DataFrame:
    return frame[frame["unique_id"] == uid].iloc[start:stop].reset_index(drop=True)


def test_fewer_steps_keep_the_first_ones(fitted):
    full, short = fitted.predict(), fitted.predict(h=2)
    assert short.groupby("unique_id").size().to_dict() == {"s0": 2, "s1": 2, "s2": 2}
    for uid in ("s0", "s1", "s2"):
        pd.testing.assert_frame_equal(_block(short, uid, 0, 2), _block(full, uid, 0, 2))


def test_more_steps_forecast_from_the_point_forecasts_before_them(fitted, panel):
    steps = 2 * H + 3  # two full blocks and a partial third
    before = fitted.predict()
    out = fitted.predict(h=steps)
    assert out.groupby("unique_id").size().to_dict() == {"s0": steps, "s1": steps, "s2": steps}
    for uid in ("s0", "s1", "s2"):
        rows = out[out["unique_id"] == uid]
        last = panel.loc[panel["unique_id"] == uid, "ds"].iloc[-1]
        assert list(rows["ds"]) == list(pd.date_range(last, periods=steps + 1, freq="h")[1:])
        assert (rows["y_hat_q0.1"] <= rows["y_hat"]).all() and (rows["y_hat"] <= rows["y_hat_q0.9"]).all()
    # The first block is predict()'s; predict() itself is unchanged (nothing stored).
    for uid in ("s0", "s1", "s2"):
        pd.testing.assert_frame_equal(_block(out, uid, 0, H), _block(before, uid, 0, H))
    pd.testing.assert_frame_equal(fitted.predict(), before)
    # The second block is the forecast of the history extended by the first block's y_hat.
    first = out.groupby("unique_id").head(H)[["unique_id", "ds", "y_hat"]].rename(columns={"y_hat": "y"})
    extended = pd.concat([panel, first]).sort_values(["unique_id", "ds"], kind="stable").reset_index(drop=True)
    by_hand = fitted.predict(extended)
    for uid in ("s0", "s1", "s2"):
        got, want = _block(out, uid, H, 2 * H), _block(by_hand, uid, 0, H)
        assert list(got["ds"]) == list(want["ds"])
        np.testing.assert_allclose(got[["y_hat", "y_hat_q0.1", "y_hat_q0.9"]].to_numpy(),
                                   want[["y_hat", "y_hat_q0.1", "y_hat_q0.9"]].to_numpy(), rtol=1e-5, atol=1e-5)


def test_more_steps_from_a_given_history_equal_those_from_the_fitted_end(fitted, panel):
    a = fitted.predict(h=2 * H)
    b = fitted.predict(panel, h=2 * H)
    np.testing.assert_allclose(a["y_hat"].to_numpy(), b["y_hat"].to_numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("h", [0, -1, 2.5, "3", True])
def test_bad_h_is_a_clear_error(fitted, h):
    with pytest.raises(ValueError, match="h must be a positive int"):
        fitted.predict(h=h)


def test_future_covariates_must_cover_every_block(panel):
    df = panel.assign(promo=(panel["ds"].dt.hour % 7 == 0).astype(float))
    est = XLSTMForecaster(horizon=H, lookback=24, futr_cols=["promo"], **FAST, **MODELS["xlstm_patch"]).fit(df)

    def futr(steps):
        rows = []
        for uid, g in df.groupby("unique_id"):
            ds = pd.date_range(g["ds"].iloc[-1], periods=steps + 1, freq="h")[1:]
            rows.append(pd.DataFrame({"unique_id": uid, "ds": ds, "promo": (ds.hour % 7 == 0).astype(float)}))
        return pd.concat(rows, ignore_index=True)

    out = est.predict(futr_df=futr(2 * H), h=H + 2)  # two blocks: covariates for 2H steps
    assert out.groupby("unique_id").size().eq(H + 2).all()
    with pytest.raises(ValueError, match="futr_df"):
        est.predict(futr_df=futr(H + 2), h=H + 2)

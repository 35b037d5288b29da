"""Past-only covariates (``hist_cols``): read over the look-back window, never after the origin.

neuralforecast calls them ``hist_exog_list``, darts ``past_covariates``: series observed with the
targets but unknown ahead (a measured temperature, yesterday's sales of a related product).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from tests.forecaster.conftest import seasonal_panel
from xlstm_ts import XLSTMForecaster
from xlstm_ts.data import from_long, from_wide
from xlstm_ts.models import ModelSpec, build_model
from xlstm_ts.models.base import past_covariate_models

pytestmark = pytest.mark.one_thread  # tiny models (tests/conftest.py)

TINY_STREAM = {"xlstm": {"embedding_dim": 16, "num_blocks": 1, "mlstm": {"num_heads": 2, "chunk_size": 16}}}
SMALL = {
    "xlstm_patch": {"patch_len": 8, "stride": 8, "xlstm": {"embedding_dim": 16, "num_blocks": 1}},
    "xlstm_mixer": {"xlstm": {"embedding_dim": 16, "num_blocks": 1}},
    "xlstm_stream": TINY_STREAM,
}


def lagged_driver_panel(n_series: int = 3, n: int = 400, lag: int = 3, seed: int = 0) -> pd.DataFrame:
    """``y_t = 10 + 2 d_{t-lag} + noise`` with ``d`` white noise, observed in column ``temp``: the
    next ``lag`` values of ``y`` are known from ``temp``'s last values and unpredictable from
    ``y``'s own past."""
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(n_series):
        d = rng.standard_normal(n + lag)
        y = 10 + 2 * d[:n] + 0.05 * rng.standard_normal(n)
        frames.append(pd.DataFrame({"unique_id": f"s{i}", "ds": pd.date_range("2024-01-01", periods=n, freq="h"),
                                    "y": y, "temp": d[lag:]}))
    return pd.concat(frames, ignore_index=True)


def _randomised(model: torch.nn.Module) -> torch.nn.Module:
    """Weights drawn at random: the heads start at zero, so a fresh model ignores its covariates."""
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.2)
    return model.eval()


@pytest.mark.parametrize("name", sorted(SMALL))
def test_models_read_the_past_rows_and_never_the_future_rows_of_past_only_covariates(name):
    torch.manual_seed(0)
    L, H = 16, 4
    spec = ModelSpec(lookback=L, horizon=H, n_channels=2, n_futr=2, n_hist=1)  # column 0 known ahead, 1 past-only
    model = _randomised(build_model(name, spec, **SMALL[name]))
    g = torch.Generator().manual_seed(1)
    batch = {"x": torch.randn(3, L, 2, generator=g), "x_futr": torch.randn(3, L + H, 2, generator=g)}

    def changed(rows: slice, col: int) -> bool:
        other = {k: v.clone() for k, v in batch.items()}
        other["x_futr"][:, rows, col] += 5.0
        with torch.no_grad():
            return not torch.equal(model(batch), model(other))

    assert not changed(slice(L, None), 1), "a past-only value after the origin reached the forecast"
    assert changed(slice(0, L), 1), "the past rows of the past-only covariate are not read"
    assert changed(slice(L, None), 0), "the future rows of a future-known covariate are not read"


def test_streaming_head_zeroes_past_only_values_after_the_origin():
    spec = ModelSpec(lookback=8, horizon=3, n_channels=1, n_futr=2, n_hist=1)
    model = _randomised(build_model("xlstm_stream", spec, **TINY_STREAM))
    y, recent = torch.randn(2, 5, 16), torch.randn(2, 5, 1, 1)
    futr_next = torch.randn(2, 5, 3, 2)
    other = futr_next.clone()
    other[..., 1] += 5.0
    with torch.no_grad():
        assert torch.equal(model.head(y, recent, futr_next), model.head(y, recent, other))
        other[..., 0] += 5.0
        assert not torch.equal(model.head(y, recent, futr_next), model.head(y, recent, other))


@pytest.mark.parametrize("name", ["dlinear", "patchtst"])
def test_models_that_read_only_future_rows_refuse_past_only_covariates(name):
    spec = ModelSpec(lookback=16, horizon=4, n_channels=1, n_futr=1, n_hist=1)
    with pytest.raises(ValueError, match="would ignore past-only covariates"):
        build_model(name, spec, **({"patch_len": 8, "stride": 8} if name == "patchtst" else {}))
    assert name not in past_covariate_models()
    assert set(SMALL) <= set(past_covariate_models())


def test_spec_counts_past_only_columns_among_the_covariates():
    with pytest.raises(ValueError, match="cannot exceed n_futr"):
        ModelSpec(lookback=8, horizon=2, n_channels=1, n_futr=1, n_hist=2)


def test_past_only_covariate_makes_a_lagged_driver_predictable():
    """With ``temp`` the model sees the driver of the next 3 steps; without it, it cannot."""
    df = lagged_driver_panel()
    common = dict(horizon=3, lookback=24, model="xlstm_patch", calendar=False, max_epochs=6, batch_size=32,
                  learning_rate=3e-3, random_state=0, model_params=SMALL["xlstm_patch"])
    with_hist = XLSTMForecaster(hist_cols=["temp"], **common).cross_validation(df, n_windows=8, step=3)
    without = XLSTMForecaster(**common).cross_validation(df[["unique_id", "ds", "y"]], n_windows=8, step=3)
    mae_with = (with_hist["y"] - with_hist["y_hat"]).abs().mean()
    mae_without = (without["y"] - without["y_hat"]).abs().mean()
    assert mae_with < 0.5 * mae_without, (mae_with, mae_without)


def test_mixer_covariate_linear_learns_a_lagged_driver_that_the_recurrence_learns_slowly():
    """The mixer's covariates reach its channel tokens only through the recurrence; the direct
    path (``covariate_linear``) makes the lagged driver usable within 8 epochs (MAE 0.18 vs 1.50)."""
    df = lagged_driver_panel()

    def mae(covariate_linear: bool) -> float:
        est = XLSTMForecaster(horizon=3, lookback=24, model="xlstm_mixer", hist_cols=["temp"], calendar=False,
                              max_epochs=8, batch_size=32, learning_rate=1e-2, random_state=0,
                              model_params={**SMALL["xlstm_mixer"], "covariate_linear": covariate_linear})
        cv = est.cross_validation(df, n_windows=8, step=3)
        return float((cv["y"] - cv["y_hat"]).abs().mean())

    with_path, without = mae(True), mae(False)
    assert with_path < 0.5 * without, (with_path, without)


@pytest.fixture(scope="module")
def fitted():
    df = lagged_driver_panel(n=200)
    est = XLSTMForecaster(horizon=4, lookback=16, model="xlstm_mixer", hist_cols="temp", max_epochs=1,
                          random_state=0, model_params=SMALL["xlstm_mixer"]).fit(df)
    return est, df


def test_predict_needs_no_future_values_of_past_only_covariates(fitted):
    est, df = fitted
    assert est.spec_.n_hist == 1 and est.history_[0].futr_names[-1] == "temp"
    pred = est.predict()
    assert len(pred) == 3 * 4 and np.isfinite(pred["y_hat"]).all()
    pd.testing.assert_frame_equal(est.predict(df), pred)


def test_backtest_forecasts_do_not_depend_on_past_only_values_after_the_cutoff(fitted):
    est, df = fitted
    changed = df.copy()
    last = changed.groupby("unique_id").cumcount(ascending=False) < 4  # the last window's forecast steps
    changed.loc[last, "temp"] += 100.0
    with pytest.warns(UserWarning, match="in-sample"):
        a = est.cross_validation(df, n_windows=1)
    with pytest.warns(UserWarning, match="in-sample"):
        b = est.cross_validation(changed, n_windows=1)
    pd.testing.assert_frame_equal(a, b)
    # ... while the values before the cutoff are read.
    changed.loc[changed.groupby("unique_id").cumcount(ascending=False) == 4, "temp"] += 100.0
    with pytest.warns(UserWarning, match="in-sample"):
        c = est.cross_validation(changed, n_windows=1)
    assert not np.allclose(a["y_hat"], c["y_hat"])


def test_recursive_forecast_is_refused_with_past_only_covariates(fitted):
    est, _ = fitted
    assert len(est.predict(h=2)) == 3 * 2
    with pytest.raises(ValueError, match="past-only covariates"):
        est.predict(h=5)


def test_series_to_forecast_must_carry_the_past_only_column(fitted):
    est, df = fitted
    with pytest.raises(ValueError, match=r"'temp' \(past covariate\)"):
        est.predict(df.drop(columns="temp"))


def _split_tail(df: pd.DataFrame, k: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(head, tail)``: the last ``k`` rows of each series go to ``tail``."""
    is_tail = df.groupby("unique_id").cumcount(ascending=False) < k
    return df[~is_tail], df[is_tail]


def test_save_load_and_update_keep_the_past_only_covariates(fitted, tmp_path):
    est, df = fitted
    loaded = XLSTMForecaster.load(est.save(tmp_path / "m"))
    assert loaded.spec_.n_hist == 1 and loaded.history_[0].n_hist == 1
    pd.testing.assert_frame_equal(loaded.predict(), est.predict())
    # Fitted up to the head, then updated with the tail (its past-only values included): the
    # same forecasts as from the whole history.
    head, tail = _split_tail(df, 2)
    on_head = XLSTMForecaster(**est.get_params()).fit(head)
    with pytest.raises(ValueError, match=r"'temp' \(past covariate\)"):
        on_head.update(tail.drop(columns="temp"))  # nothing changes ...
    on_head.update(tail)  # ... so the full tail still continues the series
    pd.testing.assert_frame_equal(on_head.predict(), on_head.predict(df))


def test_streaming_model_reads_past_only_covariates_and_updates_like_a_full_read():
    df = lagged_driver_panel(n=160)
    head, tail = _split_tail(df, 5)
    est = XLSTMForecaster(horizon=3, lookback=32, model="xlstm_stream", hist_cols=["temp"], calendar=False,
                          max_epochs=1, batch_size=4, random_state=0, model_params=TINY_STREAM).fit(head)
    assert est.spec_.n_hist == 1
    est.update(tail)
    pd.testing.assert_frame_equal(est.predict(), est.predict(df), atol=1e-5, rtol=1e-5)
    changed = df.copy()
    changed.loc[changed.groupby("unique_id").cumcount(ascending=False) == 0, "temp"] += 10.0
    assert not np.allclose(est.predict(changed)["y_hat"], est.predict(df)["y_hat"])


def test_refused_by_models_that_would_ignore_them():
    df = lagged_driver_panel(n=120)
    with pytest.raises(ValueError, match="would ignore hist_cols"):
        XLSTMForecaster(horizon=3, lookback=16, model="dlinear", hist_cols=["temp"]).fit(df)
    with pytest.raises(ValueError, match="nothing to learn"):
        XLSTMForecaster(horizon=3, lookback=16, model="naive", hist_cols=["temp"]).fit(df)
    with pytest.raises(TypeError, match="hist_cols must be a column name or a list"):
        XLSTMForecaster(horizon=3, lookback=16, hist_cols=3).fit(df)


def test_data_layer_names_the_role_of_a_past_only_column():
    df = lagged_driver_panel(n_series=1, n=30)
    df.loc[5, "temp"] = np.nan
    with pytest.raises(ValueError, match="past covariate column 'temp' has NaN"):
        from_long(df, hist_cols=["temp"])
    for futr, hist in ((["temp"], ["temp"]), ([], ["y"])):
        with pytest.raises(ValueError, match="is used in two roles"):
            from_long(df, futr_cols=futr, hist_cols=hist)
    with pytest.raises(TypeError, match="past covariate column 'temp' has non-numeric dtype"):
        from_long(df.assign(temp="warm"), hist_cols=["temp"])
    filled = from_long(df, hist_cols="temp", fill="ffill")[0]
    assert filled.futr_names == ("temp",) and filled.n_hist == 1 and filled.futr[5, 0] == filled.futr[4, 0]
    wide = df.drop(columns="unique_id").set_index("ds").assign(promo=1.0)
    [s] = from_wide(wide.ffill(), futr_cols=["promo"], hist_cols=["temp"])
    assert s.channel_names == ("y",) and s.futr_names == ("promo", "temp") and s.n_hist == 1


def test_one_future_covariate_may_be_named_by_a_plain_string():
    df = seasonal_panel(n_series=1, lengths=(120,))
    df["promo"] = (np.arange(len(df)) % 5 == 0).astype(float)
    [s] = from_long(df, futr_cols="promo")  # used to be split into the columns 'p', 'r', 'o', ...
    assert s.futr_names == ("promo",) and s.n_hist == 0


def test_calendar_future_known_and_past_only_columns_keep_their_places_at_predict():
    """``x_futr`` is [calendar, futr_cols, hist_cols]: the futr_df values must land in the
    futr_cols columns, and the past-only columns get the scaler's centre (scaled: 0)."""
    df = lagged_driver_panel(n_series=2, n=120)
    df["promo"] = (np.arange(len(df)) % 5 == 0).astype(float)
    est = XLSTMForecaster(horizon=4, lookback=16, model="xlstm_patch", futr_cols="promo", hist_cols=["temp"],
                          max_epochs=1, model_params=SMALL["xlstm_patch"]).fit(df)
    names = est.history_[0].futr_names
    assert names[-2:] == ("promo", "temp") and len(names) > 2 and all(n.startswith("cal_") for n in names[:-2])
    futr_df = pd.concat([pd.DataFrame({"unique_id": uid, "ds": pd.date_range(g["ds"].max(), periods=5, freq="h")[1:],
                                       "promo": [7.0, 0.0, 7.0, 0.0]}) for uid, g in df.groupby("unique_id")])
    block = est._future_futr(est.history_, futr_df)
    for f in block:
        assert f.shape == (4, len(names))
        np.testing.assert_array_equal(f[:, -2], [7.0, 0.0, 7.0, 0.0])
        np.testing.assert_allclose(f[:, -1], est.futr_scaler_.center_[-1])
    assert len(est.predict(futr_df=futr_df)) == 2 * 4

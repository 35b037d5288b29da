"""``cross_validation(refit=...)``: False (fitted model as is; an unfitted one trains once), True
(retrain before every window) and an int k (retrain every k windows), each training on the rows
before the cutoff it precedes only."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from xlstm_ts import XLSTMForecaster

FAST = {"model": "dlinear", "horizon": 4, "lookback": 8, "max_epochs": 1, "batch_size": 8, "calendar": False,
        "random_state": 0,
        "trainer_kwargs": {"limit_train_batches": 2, "logger": False, "enable_checkpointing": False,
                           "enable_model_summary": False}}

pytestmark = pytest.mark.one_thread  # tiny models (tests/conftest.py)


def panel(n: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.concat([pd.DataFrame({"unique_id": uid, "ds": pd.date_range("2024-01-01", periods=n, freq="h"),
                                    "y": np.sin(np.arange(n) / 4) + i + 0.1 * rng.standard_normal(n)})
                      for i, uid in enumerate(("s0", "s1"))], ignore_index=True)


def training_ends(est: XLSTMForecaster, monkeypatch) -> list[pd.Timestamp]:
    """Record the last timestamp of the data of every training ``est`` runs from now on."""
    ends: list[pd.Timestamp] = []
    fit_series = type(est)._fit_series

    def spy(self, series, *args, **kwargs):
        assert len({s.ds[-1] for s in series}) == 1  # the panel's series share their timestamps
        ends.append(series[0].ds[-1])
        return fit_series(self, series, *args, **kwargs)

    monkeypatch.setattr(type(est), "_fit_series", spy)
    return ends


def cutoffs(cv: pd.DataFrame) -> list[pd.Timestamp]:
    return sorted(cv["cutoff"].unique())


@pytest.mark.parametrize(("refit", "trained_before"), [(True, [0, 1, 2, 3]), (1, [0, 1, 2, 3]),
                                                       (2, [0, 2]), (3, [0, 3]), (4, [0]), (9, [0])])
def test_refit_retrains_before_every_kth_window_on_the_rows_before_its_cutoff(refit, trained_before,
                                                                                monkeypatch):
    est = XLSTMForecaster(**FAST).fit(panel())
    ends = training_ends(est, monkeypatch)
    cv = est.cross_validation(panel(), n_windows=4, step=3, refit=refit)
    assert ends == [cutoffs(cv)[w] for w in trained_before]
    # The last training's weights, its data's end and its report stay with the estimator.
    assert est.fit_end_ == {"s0": ends[-1], "s1": ends[-1]}
    assert est.fit_report_ is not None


def test_refit_false_keeps_a_fitted_model_and_trains_an_unfitted_one_once(monkeypatch):
    fitted = XLSTMForecaster(**FAST).fit(panel(40))
    ends = training_ends(fitted, monkeypatch)
    fitted.cross_validation(panel(), n_windows=3)
    assert ends == []
    cv = XLSTMForecaster(**FAST).cross_validation(panel(), n_windows=3)
    assert ends == [cutoffs(cv)[0]]


def test_each_window_after_a_refit_is_the_forecast_of_a_model_fitted_up_to_its_cutoff():
    df = panel()
    cv = XLSTMForecaster(**FAST).cross_validation(df, n_windows=3, refit=True)
    for cutoff in cutoffs(cv)[1:]:  # window 0 is also what refit=False gives an unfitted estimator
        seen = df[df["ds"] <= cutoff]
        expected = XLSTMForecaster(**FAST).fit(seen).predict()
        got = cv[cv["cutoff"] == cutoff].drop(columns=["cutoff", "y"]).reset_index(drop=True)
        pd.testing.assert_frame_equal(got, expected)


def test_predict_after_refits_forecasts_from_the_end_of_the_data():
    df = panel()
    est = XLSTMForecaster(**FAST)
    est.cross_validation(df, n_windows=2, refit=True)
    assert est.predict()["ds"].min() == df["ds"].max() + pd.Timedelta(hours=1)


@pytest.mark.parametrize("refit", [0, -1, 1.5, "yes", None])
def test_refit_must_be_a_bool_or_a_positive_int(refit):
    with pytest.raises(TypeError, match="refit must be True, False or a positive int"):
        XLSTMForecaster(**FAST).cross_validation(panel(), n_windows=2, refit=refit)


def test_refit_needs_enough_rows_before_the_first_cutoff():
    with pytest.raises(ValueError, match="too short to train before the first cutoff"):
        XLSTMForecaster(**FAST).fit(panel()).cross_validation(panel(22), n_windows=3, refit=2)


@pytest.mark.parametrize("refit", [False, True, 2])
@pytest.mark.parametrize("kwargs", [{"n_windows": 0}, {"n_windows": 1.5}, {"n_windows": 2, "step": 0}])
def test_bad_windows_rejected_before_any_training(refit, kwargs, monkeypatch):
    # an unfitted estimator with refit=False trains once over n_windows: it must be validated first
    est = XLSTMForecaster(**FAST)
    ends = training_ends(est, monkeypatch)
    with pytest.raises(ValueError, match="must be a positive int"):
        est.cross_validation(panel(), refit=refit, **kwargs)
    assert ends == []

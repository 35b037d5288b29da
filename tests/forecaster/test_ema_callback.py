"""The estimator takes the moving-average callback through ``trainer_kwargs`` (README, Training)."""

from __future__ import annotations

import pytest

from xlstm_ts import XLSTMForecaster
from xlstm_ts.training import EMAWeights

pytestmark = pytest.mark.one_thread


def test_estimator_fit_judges_and_keeps_the_average(panel, tiny):
    plain = XLSTMForecaster(horizon=6, lookback=24, random_state=0, **tiny).fit(panel)
    tiny["trainer_kwargs"] = dict(tiny["trainer_kwargs"], callbacks=[EMAWeights(0.9)])
    ema = XLSTMForecaster(horizon=6, lookback=24, random_state=0, **tiny).fit(panel)
    assert ema.fit_report_.best_val_loss is not None
    assert ema.fit_report_.best_val_loss != pytest.approx(plain.fit_report_.best_val_loss, rel=1e-4)
    assert len(ema.predict()) == len(plain.predict())

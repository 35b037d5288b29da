"""Unknown names in configs are refused with the likely intended name (one helper, every entry point)."""

import numpy as np
import pandas as pd
import pytest

from xlstm_ts import XLSTMForecaster
from xlstm_ts._names import did_you_mean
from xlstm_ts.bench.config import load_bench_config
from xlstm_ts.tuning.space import load_config


def test_hint_names_each_close_match_and_nothing_for_strangers():
    valid = ["max_epochs", "learning_rate", "dropout"]
    assert did_you_mean(["max_epoch"], valid) == " (did you mean 'max_epochs'?)"
    assert did_you_mean(["DROPOUT"], valid) == " (did you mean 'dropout'?)"   # case ignored, valid spelling shown
    assert did_you_mean(["lerning_rate", "dropuot"], valid) == (
        " (did you mean 'learning_rate' for 'lerning_rate', 'dropout' for 'dropuot'?)")
    assert did_you_mean(["zzz"], valid) == ""
    assert did_you_mean([], valid) == ""


def test_estimator_model_params_typo_gets_the_hint():
    idx = pd.date_range("2024-01-01", periods=120, freq="h")
    df = pd.DataFrame({"unique_id": "s", "ds": idx, "y": np.sin(np.arange(120) / 5.0)})
    est = XLSTMForecaster(horizon=4, lookback=16, model="dlinear", max_epochs=1,
                          model_params={"kernel_sise": 5})
    with pytest.raises(ValueError, match=r"unknown hparams \['kernel_sise'\] \(did you mean 'kernel_size'"):
        est.fit(df)


def test_bench_config_train_typo_gets_the_hint(tmp_path):
    cfg = tmp_path / "grid.yaml"
    cfg.write_text("datasets: [ETTh1]\ntrain: {max_epoch: 3}\nmodels: {naive: {}}\n")
    with pytest.raises(ValueError, match=r"unknown train settings \['max_epoch'\] \(did you mean 'max_epochs'"):
        load_bench_config(cfg)


def test_tuning_config_base_typo_gets_the_hint():
    with pytest.raises(ValueError, match=r"\['max_epoch'\] \(did you mean 'max_epochs'\?\)"):
        load_config({"base": {"model": "dlinear", "horizon": 4, "lookback": 16, "max_epoch": 2},
                     "space": {"learning_rate": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True}}})


def test_bundled_names_typos_get_the_hint():
    from xlstm_ts.data import load_dataset

    with pytest.raises(ValueError, match=r"unknown dataset 'etth' \(did you mean 'ETTh1'\?\)"):
        load_dataset("etth")
    with pytest.raises(ValueError, match=r"unknown bench preset 'etth' \(did you mean 'etth1'\?\)"):
        load_bench_config("etth")
    with pytest.raises(ValueError, match=r"unknown tuning config 'xlstm_pach' \(did you mean 'xlstm_patch'\?\)"):
        load_config("xlstm_pach")

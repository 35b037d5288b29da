"""What tune() checks before the first trial: data files, resumed studies (space and base),
Trainer options and ``when`` branches; the CLI's exit status; the trials table's int columns."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml

from xlstm_ts import XLSTMForecaster
from xlstm_ts.tuning import load_config, tune
from xlstm_ts.tuning.cli import main as cli_main

QUICK = dict(pruner="none", refit=False, plots=False)


@pytest.fixture
def base1(base):
    return {**base, "max_epochs": 1}


def test_csv_files_with_a_text_time_column(df, base1, space, tmp_path):
    # CSV has no date type: the time column comes back as text and must be parsed as the
    # estimator does, for long files and for wide ones whose time column the base names.
    long_csv = tmp_path / "panel.csv"
    df.to_csv(long_csv, index=False)
    res = tune(long_csv, space, n_trials=1, base_params=base1, out_dir=tmp_path / "long", **QUICK)
    assert list(res.trials["state"]) == ["COMPLETE"]
    res = XLSTMForecaster(**base1).tune(str(long_csv), space, n_trials=1, out_dir=tmp_path / "est", **QUICK)
    assert list(res.trials["state"]) == ["COMPLETE"]
    wide_csv = tmp_path / "wide.csv"
    df[df["unique_id"] == "s0"][["ds", "y"]].rename(columns={"ds": "when"}).to_csv(wide_csv, index=False)
    res = tune(wide_csv, space, n_trials=1, base_params={**base1, "time_col": "when"}, out_dir=tmp_path / "wide",
               **QUICK)
    assert list(res.trials["state"]) == ["COMPLETE"]


def test_unusable_data_is_one_error_before_any_trial(df, base1, space, tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    df.assign(y="n/a").to_csv(bad, index=False)
    with pytest.raises(ValueError, match="data cannot be used.*'y'"):
        tune(bad, space, n_trials=2, base_params=base1, out_dir=tmp_path / "out", **QUICK)
    assert not (tmp_path / "out" / "study.db").exists()  # no study, no failed trials eating n_trials
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(yaml.safe_dump({"base": base1, "space": space}))
    assert cli_main(["--config", str(cfg), "--data", str(bad), "--out", str(tmp_path / "cli"), "--no-plots"]) == 2
    assert "data cannot be used" in capsys.readouterr().err


def test_resume_with_changed_categorical_choices_is_refused(df, base1, tmp_path):
    space = {"model_params.xlstm.embedding_dim": {"type": "categorical", "choices": [8, 16]}}
    tune(df, space, n_trials=1, base_params=base1, out_dir=tmp_path, **QUICK)
    wider = {"model_params.xlstm.embedding_dim": {"type": "categorical", "choices": [8, 16, 32]}}
    with pytest.raises(ValueError, match=r"choices \[8, 16\] -> choices \[8, 16, 32\].*another study_name"):
        tune(df, wider, n_trials=2, base_params=base1, out_dir=tmp_path, **QUICK)
    # a numeric range may change: the study goes on with a warning
    ranged = {"model_params.xlstm.embedding_dim": {"type": "categorical", "choices": [8, 16]},
              "learning_rate": {"type": "float", "low": 1e-3, "high": 1e-2}}
    with pytest.warns(UserWarning, match="another search space"):
        res = tune(df, ranged, n_trials=2, base_params=base1, out_dir=tmp_path, **QUICK)
    assert list(res.trials["state"]) == ["COMPLETE", "COMPLETE"]


def test_resume_with_other_base_parameters_is_refused(df, base, space, tmp_path):
    two = {**base, "max_epochs": 2}
    tune(df, space, n_trials=1, base_params=two, out_dir=tmp_path, **QUICK)
    with pytest.raises(ValueError, match=r"other base parameters \(max_epochs: 2 -> 1\)"):
        tune(df, space, n_trials=2, base_params={**two, "max_epochs": 1}, out_dir=tmp_path, **QUICK)
    with pytest.raises(ValueError, match="trainer_kwargs"):
        tune(df, space, n_trials=2, base_params={**two, "trainer_kwargs": {"limit_train_batches": 2}},
             out_dir=tmp_path, **QUICK)
    # settings of how a trial runs, not of what it trains, may change
    run_only = {**two, "verbose": True, "trainer_kwargs": {**two["trainer_kwargs"], "enable_progress_bar": False}}
    res = tune(df, space, n_trials=2, base_params=run_only, out_dir=tmp_path, **QUICK)
    assert res.ran == 1 and res.best_estimator_params["max_epochs"] == 2
    assert json.loads((tmp_path / "best.json").read_text())["best_estimator_params"]["max_epochs"] == 2


def test_cli_exits_non_zero_without_a_complete_trial(df, base1, tmp_path, capsys):
    data = tmp_path / "panel.parquet"
    df.to_parquet(data)
    cfg = tmp_path / "diverge.yaml"
    cfg.write_text(yaml.safe_dump({"base": {**base1, "learning_rate": 1e30},
                                   "space": {"model_params.patch_len": {"type": "categorical", "choices": [8]}}}))
    args = ["--config", str(cfg), "--data", str(data), "--out", str(tmp_path / "out"), "--no-plots", "--pruner", "none"]
    assert cli_main([*args, "--n-trials", "1"]) == 1
    err = capsys.readouterr().err
    assert "no complete trial" in err and "FAIL" in err
    assert cli_main([*args, "--n-trials", "0", "--study-name", "empty"]) == 0  # only creates the study


def test_dry_check_finds_trainer_typos_and_bad_when_branches(df, base1, space, tmp_path):
    with pytest.raises(ValueError, match="'gradient_clip' is not a lightning.Trainer option.*gradient_clip_val"):
        tune(df, space, base_params={**base1, "trainer_kwargs": {"gradient_clip": 1.0}}, out_dir=tmp_path)
    with pytest.raises(ValueError, match="not valid lightning.Trainer options"):
        tune(df, space, base_params={**base1, "trainer_kwargs": {"accelerator": "abacus"}}, out_dir=tmp_path)
    branch = {**space, "heads": {"path": "model_params.xlstm.slstm.num_hedas", "type": "categorical",
                                 "choices": [2], "when": {"use_slstm": True}}}
    with pytest.raises(ValueError, match="'use_slstm': True.*num_hedas"):
        tune(df, branch, base_params=base1, out_dir=tmp_path)
    assert not (tmp_path / "study.db").exists()


def test_config_without_space_section():
    with pytest.raises(ValueError, match="no 'space:' mapping"):
        load_config({"base": {"max_epochs": 1}, "learning_rate": {"type": "float", "low": 0.1, "high": 1}})


def test_int_params_stay_ints_in_the_trials_table(df, base1, tmp_path):
    space = {"use": {"type": "bool", "path": None},
             "model_params.xlstm.embedding_dim": {"type": "int", "low": 8, "high": 16, "step": 8,
                                                  "when": {"use": True}}}
    res = tune(df, space, n_trials=2, base_params=base1, out_dir=tmp_path, **QUICK,
               enqueue=[{"use": False}, {"use": True, "model_params.xlstm.embedding_dim": 8}])
    col = "param.model_params.xlstm.embedding_dim"
    assert str(res.trials[col].dtype) == "Int64"
    assert pd.read_csv(tmp_path / "trials.csv", dtype=str)[col].dropna().tolist() == ["8"]
    assert str(pd.read_parquet(tmp_path / "trials.parquet")[col].dtype) == "Int64"

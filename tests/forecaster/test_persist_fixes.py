"""Regression tests of the persistence audit: what ``save`` may replace, saved hparams that do
not depend on the installed defaults, consistency checks of an edited ``config.json``, and the
CLI's ``preset:`` merge (the same as the tuner's)."""

from __future__ import annotations

import json
import os
import shutil
import warnings

import numpy as np
import pandas as pd
import pytest
import torch

from xlstm_ts import XLSTMForecaster
from xlstm_ts.models import DLinear
from xlstm_ts.persist import ModelFileError


def _panel(n: int = 80) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.concat([pd.DataFrame({
        "unique_id": f"s{i}", "ds": pd.date_range("2024-01-01", periods=n, freq="h"),
        "y": np.sin(np.arange(n) * 2 * np.pi / 24) + 0.1 * rng.standard_normal(n) + i,
    }) for i in range(2)], ignore_index=True)


@pytest.fixture(scope="module")
def fitted() -> XLSTMForecaster:
    """A dlinear fitted with every hparam at its default (so a changed default would show)."""
    torch.set_num_threads(1)
    return XLSTMForecaster(model="dlinear", horizon=4, lookback=32, max_epochs=1, batch_size=8,
                           trainer_kwargs={"limit_train_batches": 2, "logger": False,
                                           "enable_checkpointing": False}).fit(_panel())


# ------------------------------------------------------------------ 1. what save may replace

def test_save_replaces_only_model_or_empty_directories(tmp_path, fitted):
    user_dir = tmp_path / "mydata"
    (user_dir / "sub").mkdir(parents=True)
    (user_dir / "important.csv").write_text("a,b\n1,2\n")
    with pytest.raises(FileExistsError, match="not an xlstm-ts model directory.*nothing was written"):
        fitted.save(user_dir)
    assert sorted(os.listdir(user_dir)) == ["important.csv", "sub"]

    notes = tmp_path / "notes.txt"
    notes.write_text("my notes")
    with pytest.raises(FileExistsError, match="a file of that name exists; nothing was written"):
        fitted.save(notes)
    assert notes.read_text() == "my notes"
    assert sorted(os.listdir(tmp_path)) == ["mydata", "notes.txt"]  # no hidden .notes.txt.old-PID

    empty = tmp_path / "empty"
    empty.mkdir()
    assert fitted.save(empty) == empty.resolve()
    assert fitted.save(empty) == empty.resolve()  # a model directory is replaced
    pd.testing.assert_frame_equal(XLSTMForecaster.load(empty).predict(), fitted.predict())


def test_save_resolves_relative_paths_and_refuses_the_working_directory(tmp_path, monkeypatch, fitted):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    for target in (".", "..", "sub/.."):
        with pytest.raises(FileExistsError, match="current working directory"):
            fitted.save(target)
    assert os.listdir(work) == [] and sorted(os.listdir(tmp_path)) == ["work"]
    assert fitted.save("sub/m/.") == (work / "sub" / "m").resolve()
    XLSTMForecaster.load("sub/m")


def test_interrupted_save_of_a_name_with_glob_characters_is_recovered(tmp_path, fitted):
    target = tmp_path / "m[1]"
    fitted.save(target)
    # Killed between the two renames: the model sits aside as .m[1].old-PID, the name is absent.
    os.replace(target, tmp_path / ".m[1].old-12345")
    # A leftover of another model whose name the glob pattern "m[1]" would match.
    (tmp_path / ".m1.old-999").mkdir()
    shutil.copy(tmp_path / ".m[1].old-12345" / "config.json", tmp_path / ".m1.old-999")
    XLSTMForecaster.load(target)
    fitted.save(target)
    assert sorted(os.listdir(tmp_path)) == [".m1.old-999", "m[1]"]


# ------------------------------------------------------------------ 2. resolved hparams

def test_saved_model_does_not_change_when_a_default_changes(tmp_path, monkeypatch, fitted):
    path = fitted.save(tmp_path / "m")
    monkeypatch.setattr(DLinear, "defaults", {**DLinear.defaults, "kernel_size": 3, "revin": True})
    loaded = XLSTMForecaster.load(path)
    pd.testing.assert_frame_equal(loaded.predict(), fitted.predict())
    assert loaded.model_.hparams == fitted.model_.hparams
    assert json.loads((path / "config.json").read_text())["model_hparams"] == fitted.model_.hparams


def test_old_save_without_resolved_hparams_warns_only_from_another_version(tmp_path, fitted):
    path = fitted.save(tmp_path / "m")
    cfg = json.loads((path / "config.json").read_text())
    del cfg["model_hparams"]
    (path / "config.json").write_text(json.dumps(cfg))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pd.testing.assert_frame_equal(XLSTMForecaster.load(path).predict(), fitted.predict())
    assert not [w for w in caught if "hyper-parameters" in str(w.message)]
    (path / "config.json").write_text(json.dumps({**cfg, "xlstm_ts_version": "0.0.1"}))
    with pytest.warns(UserWarning, match="saved by xlstm-ts 0.0.1 without its full model hyper-parameters"):
        XLSTMForecaster.load(path)


# ------------------------------------------------------------------ 3. edited config.json

def _horizon(c): c["params"]["horizon"] = 8
def _lookback(c): c["params"]["lookback"] = 8
def _horizon_str(c): c["params"]["horizon"] = "4"
def _quantiles(c): c["params"].update(loss="quantile", quantiles=[0.1, 0.9])
def _series(c): c["series"].pop()
def _files_list(c): c["files"] = []
def _files_outside(c): c["files"]["../m/model.safetensors"] = c["files"]["model.safetensors"]


@pytest.mark.parametrize("edit,message", [
    (_horizon, "params.horizon is 8 but the network was built for spec.horizon = 4"),
    (_lookback, "params.lookback is 8 but the network was built for spec.lookback = 32"),
    (_horizon_str, "horizon must be a positive int; got '4'"),
    (_quantiles, r"params.quantiles is \[0.1, 0.9\] \(3 outputs per step\) but the network was built for "
                 r"spec.n_outputs = 1"),
    (_series, "'series' lists 1 series but history.safetensors holds 2"),
    (_files_list, "'files' must be an object mapping file names to SHA-256 digests; got list"),
    (_files_outside, "'files' entry '../m/model.safetensors'"),
])
def test_inconsistent_config_is_a_model_file_error(tmp_path, fitted, edit, message):
    path = fitted.save(tmp_path / "m")
    cfg = json.loads((path / "config.json").read_text())
    edit(cfg)
    (path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelFileError, match=message):
        XLSTMForecaster.load(path)


# ------------------------------------------------------------------ 4. CLI presets

def test_cli_preset_merges_deep_and_refuses_another_model():
    from xlstm_ts.cli import estimator_params

    params = estimator_params({"preset": "xlstm_patch_slstm", "model_params": {"xlstm": {"num_blocks": 2}}})
    xl = params["model_params"]["xlstm"]
    assert params["model"] == "xlstm_patch" and xl["num_blocks"] == 2
    assert xl["slstm_at"] == "all" and xl["feedforward"] == {"proj_factor": 1.3, "act_fn": "gelu"}
    with pytest.raises(ValueError, match="preset 'xlstm_patch' is a 'xlstm_patch' model but model='dlinear'"):
        estimator_params({"preset": "xlstm_patch", "model": "dlinear"})


def test_cli_fit_refuses_an_out_that_save_would_refuse_before_training(tmp_path, capsys):
    from xlstm_ts.cli import main

    out = tmp_path / "results"
    out.mkdir()
    (out / "keep.txt").write_text("k")
    # The data file does not exist: the --out check comes first, before any reading or training.
    assert main(["fit", "--data", str(tmp_path / "none.csv"), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "xlstm-ts fit: error: cannot save a model to" in err and "nothing was written" in err
    assert os.listdir(out) == ["keep.txt"]


def test_saved_directory_gets_the_umask_permissions_not_private_ones(tmp_path):
    """A model directory is shared like any other the user creates (tempfile.mkdtemp's 0700 was not)."""
    import stat

    import torch

    from xlstm_ts.persist import save_directory

    old = os.umask(0o022)
    try:
        path = save_directory(tmp_path / "m", {"kind": "test"}, {"model": {"w": torch.zeros(2)}})
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o755
    assert stat.S_IMODE(os.stat(path / "config.json").st_mode) == 0o644

"""Interrupted training: a fit killed with SIGKILL mid-epoch resumes from its last checkpoint.

The killed run is a real separate process (``os.kill(os.getpid(), SIGKILL)`` inside an epoch);
the resumed fit must lose at most the epoch in progress and end with the same weights as a fit
that was never interrupted (same seed, CPU).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import lightning as L
import numpy as np
import pandas as pd
import pytest
import torch

from xlstm_ts import XLSTMForecaster

pytestmark = pytest.mark.slow

# dropout > 0 in the model: the resumed run must also continue the random stream.
PARAMS = dict(horizon=12, lookback=48, max_epochs=4, patience=None, batch_size=32, model="xlstm_patch",
              random_state=1, model_params={"dropout": 0.2, "head_dropout": 0.2})
KILL_EPOCH, KILL_BATCH = 2, 3


def _frame() -> pd.DataFrame:
    n = 400
    t = np.arange(n)
    y = np.sin(2 * np.pi * t / 24) + 0.1 * np.random.default_rng(0).normal(size=n)
    return pd.DataFrame({"unique_id": "a", "ds": pd.date_range("2025-01-01", periods=n, freq="h"), "y": y})


KILLED_FIT = textwrap.dedent("""
    import os, signal, sys
    import lightning as L, pandas as pd, torch
    from xlstm_ts import XLSTMForecaster
    torch.set_num_threads(1)
    params = {params}
    class KillMidEpoch(L.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            if trainer.current_epoch == {epoch} and batch_idx == {batch}:
                os.kill(os.getpid(), signal.SIGKILL)
    df = pd.read_parquet(sys.argv[1])
    XLSTMForecaster(**params, checkpoint_dir=sys.argv[2], trainer_kwargs={{"callbacks": [KillMidEpoch()]}}).fit(df)
""")


def _killed_fit(tmp_path: Path, df: pd.DataFrame, ckpt: Path) -> None:
    data = tmp_path / "data.parquet"
    df.to_parquet(data)
    script = tmp_path / "killed_fit.py"
    script.write_text(KILLED_FIT.format(params=repr(PARAMS), epoch=KILL_EPOCH, batch=KILL_BATCH))
    proc = subprocess.run([sys.executable, str(script), str(data), str(ckpt)], capture_output=True, text=True,
                          timeout=600, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]


def test_fit_killed_mid_epoch_resumes_to_the_uninterrupted_result(tmp_path):
    torch.set_num_threads(1)
    df = _frame()
    ckpt = tmp_path / "ckpt"
    _killed_fit(tmp_path, df, ckpt)
    saved = torch.load(ckpt / "last.ckpt", weights_only=True)  # plain tensors and numbers only
    assert saved["epoch"] == KILL_EPOCH - 1  # the epochs before the killed one are kept

    epochs_run = []

    class Epochs(L.Callback):
        def on_train_epoch_start(self, trainer, pl_module):
            epochs_run.append(trainer.current_epoch)

    resumed = XLSTMForecaster(**PARAMS, checkpoint_dir=str(ckpt),
                              trainer_kwargs={"callbacks": [Epochs()]}).fit(df, resume=True)
    assert epochs_run == list(range(KILL_EPOCH, PARAMS["max_epochs"]))  # only the lost epoch is redone
    reference = XLSTMForecaster(**PARAMS).fit(df)
    a, b = resumed.model_.state_dict(), reference.model_.state_dict()
    assert max((a[k] - b[k]).abs().max().item() for k in a) < 1e-6
    assert resumed.fit_report_.best_epoch == reference.fit_report_.best_epoch
    np.testing.assert_allclose(resumed.predict().y_hat, reference.predict().y_hat, atol=1e-5)


def test_resume_refuses_a_checkpoint_of_another_configuration(tmp_path):
    torch.set_num_threads(1)
    df = _frame()
    ckpt = tmp_path / "ckpt"
    params = {**PARAMS, "max_epochs": 1}
    XLSTMForecaster(**params, checkpoint_dir=str(ckpt)).fit(df)
    assert (ckpt / "last.ckpt").exists()
    with pytest.raises(ValueError, match="other parameters or data"):
        XLSTMForecaster(**{**params, "learning_rate": 5e-3}, checkpoint_dir=str(ckpt)).fit(df, resume=True)
    with pytest.raises(ValueError, match="other parameters or data"):
        XLSTMForecaster(**params, checkpoint_dir=str(ckpt)).fit(df.assign(y=df.y * 2), resume=True)


def test_resume_without_checkpoint_dir_is_a_clear_error():
    with pytest.raises(ValueError, match="checkpoint_dir"):
        XLSTMForecaster(**PARAMS).fit(_frame(), resume=True)


def test_resume_with_no_checkpoint_yet_trains_from_scratch(tmp_path):
    torch.set_num_threads(1)
    df = _frame()
    params = {**PARAMS, "max_epochs": 2}
    a = XLSTMForecaster(**params, checkpoint_dir=str(tmp_path / "new")).fit(df, resume=True)
    b = XLSTMForecaster(**params).fit(df)
    np.testing.assert_allclose(a.predict().y_hat, b.predict().y_hat, atol=1e-6)


def test_cli_fit_resume_continues_a_killed_fit(tmp_path):
    """``xlstm-ts fit --resume`` finds the checkpoints beside the model directory."""
    torch.set_num_threads(1)
    df = _frame()
    out = tmp_path / "model"
    ckpt = tmp_path / "model.checkpoints"
    _killed_fit(tmp_path, df, ckpt)
    fingerprint = json.loads((ckpt / "fit_fingerprint.json").read_text())
    assert fingerprint["params"]["max_epochs"] == PARAMS["max_epochs"]
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(json.dumps({k: v for k, v in PARAMS.items()}))  # JSON is YAML
    proc = subprocess.run([sys.executable, "-m", "xlstm_ts.cli", "fit", "--config", str(cfg), "--data",
                           str(tmp_path / "data.parquet"), "--out", str(out), "--resume"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (out / "config.json").exists() and not ckpt.exists()  # checkpoints removed once saved
    reference = XLSTMForecaster(**PARAMS).fit(df)
    np.testing.assert_allclose(XLSTMForecaster.load(out).predict().y_hat, reference.predict().y_hat, atol=1e-5)

"""Distributed training (DDP on two CPU processes) and the fit/predict command line."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from xlstm_ts.cli import main

from .conftest import TINY_CLI_YAML, seasonal_panel

HERE = Path(__file__).parent


@pytest.mark.slow
def test_ddp_two_cpu_processes_train(tmp_path):
    """``strategy="ddp", accelerator="cpu", devices=2``: how users scale to several GPUs or nodes."""
    script = tmp_path / "ddp_fit.py"
    script.write_text(textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {str(HERE)!r})
        from conftest import seasonal_panel
        from xlstm_ts import XLSTMForecaster
        est = XLSTMForecaster(horizon=6, lookback=24, model="xlstm_patch", max_epochs=2, batch_size=32,
            model_params={{"patch_len": 8, "stride": 8, "xlstm": {{"embedding_dim": 16, "num_blocks": 1}}}},
            trainer_kwargs={{"strategy": "ddp", "accelerator": "cpu", "devices": 2, "limit_train_batches": 4}})
        pred = est.fit(seasonal_panel()).predict()
        rank = os.environ.get("LOCAL_RANK", "0")  # one file per process: stdout lines interleave
        with open(f"rank{{rank}}.txt", "w") as fh:
            fh.write(f"RANK {{rank}} {{len(pred)}} {{bool(pred.y_hat.notna().all())}} {{est.fit_report_.epochs}}")
    """))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    ranks = sorted(p.read_text() for p in tmp_path.glob("rank*.txt"))
    assert ranks == ["RANK 0 18 True 2", "RANK 1 18 True 2"], out.stdout[-3000:]


def test_cli_fit_then_predict(tmp_path, capsys):
    data = tmp_path / "panel.parquet"
    seasonal_panel().to_parquet(data)
    cfg = tmp_path / "fit.yaml"
    cfg.write_text(TINY_CLI_YAML)

    assert main(["fit", "--config", str(cfg), "--data", str(data), "--out", str(tmp_path / "model")]) == 0
    assert main(["predict", "--model", str(tmp_path / "model"), "--out", str(tmp_path / "pred.parquet")]) == 0
    pred = pd.read_parquet(tmp_path / "pred.parquet")
    assert list(pred.columns) == ["unique_id", "ds", "y_hat"] and len(pred) == 18
    # Forecasting from new history given as a file works too.
    assert main(["predict", "--model", str(tmp_path / "model"), "--data", str(data),
                 "--out", str(tmp_path / "pred2.csv")]) == 0
    assert len(pd.read_csv(tmp_path / "pred2.csv")) == 18
    # --h: more steps than the horizon (6), forecast recursively.
    assert main(["predict", "--model", str(tmp_path / "model"), "--h", "10", "--out", str(tmp_path / "pred3.csv")]) == 0
    assert pd.read_csv(tmp_path / "pred3.csv").groupby("unique_id").size().eq(10).all()


def test_cli_bad_input_is_one_line_error(tmp_path, capsys):
    bad = tmp_path / "bad.parquet"
    seasonal_panel().drop(columns="y").to_parquet(bad)
    code = main(["fit", "--data", str(bad), "--out", str(tmp_path / "m"), "--max-epochs", "1"])
    err = capsys.readouterr().err
    assert code == 2 and "error:" in err and "'y'" in err and "Traceback" not in err


@pytest.mark.parametrize("args,msg", [
    (["--config", "missing.yaml"], "config file not found: missing.yaml"),
    (["--data", "missing.parquet"], "no such file: missing.parquet"),
])
def test_cli_missing_files_are_one_line_errors(tmp_path, capsys, monkeypatch, args, msg):
    monkeypatch.chdir(tmp_path)
    seasonal_panel().to_parquet("p.parquet")
    argv = ["fit", "--data", "p.parquet", "--out", "m", "--max-epochs", "1", *args]
    assert main(argv) == 2
    assert f"xlstm-ts fit: error: {msg}" in capsys.readouterr().err


def test_cli_preset_config(tmp_path):
    from xlstm_ts.cli import estimator_params

    params = estimator_params({"preset": "xlstm_patch", "horizon": 12})
    assert params["model"] == "xlstm_patch" and params["horizon"] == 12 and "xlstm" in params["model_params"]

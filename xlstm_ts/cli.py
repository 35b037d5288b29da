"""``xlstm-ts`` command line: ``demo | fit | predict | bench``, thin over the library."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import yaml

from ._atomic import atomic_write


def _load_yaml(path: str | None) -> dict:
    if not path:
        return {}
    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except FileNotFoundError:
        raise FileNotFoundError(f"config file not found: {path}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path} must hold a mapping of XLSTMForecaster parameters")
    return data


def estimator_params(config: dict) -> dict:
    """Forecaster parameters from a config mapping; ``preset: NAME`` pulls a model preset.

    The same rules as a tuning config's ``base``: ``model_params`` are deep-merged over the
    preset's hparams, and a ``model`` other than the preset's is an error.
    """
    from .tuning.space import resolve_base_params

    return resolve_base_params(config, "config")


def _column_names(text: str) -> str | list[str]:
    """``--target-col``: one column name, or several separated by commas (one channel each)."""
    names = [t.strip() for t in text.split(",")]
    if not all(names):
        raise argparse.ArgumentTypeError(f"expected a column name or a comma-separated list of them: {text!r}")
    return names[0] if len(names) == 1 else names


def cmd_demo(args: argparse.Namespace) -> int:
    """Fit on bundled ETTh1 (TSLib train/val borders), backtest the test span, print metrics, plot."""
    import numpy as np

    from .data import load_dataset
    from .forecaster import XLSTMForecaster
    from .metrics import evaluate

    t0 = time.perf_counter()
    df = load_dataset("ETTh1").iloc[: 12 * 30 * 24 + 8 * 30 * 24]  # the rows TSLib uses
    n_trainval, n_val = 12 * 30 * 24 + 4 * 30 * 24, 4 * 30 * 24
    params = estimator_params(_load_yaml(args.config)) or {
        # A quick run: every 2nd training window, a few epochs. `xlstm-ts bench` runs the full protocol.
        "preset": "xlstm_patch", "horizon": args.horizon, "lookback": 336, "max_epochs": args.max_epochs,
        "batch_size": 128, "learning_rate": 5e-4, "patience": 2, "stride": 2,
    }
    params = estimator_params(params)
    params.setdefault("val_size", n_val)
    params.setdefault("verbose", True)
    est = XLSTMForecaster(**params)
    print(f"Fitting {est.model} (horizon {est.horizon}, lookback {est.lookback}) on ETTh1 rows "
          f"0-{n_trainval - 1} (train 0-{n_trainval - n_val - 1}, validation after) ...", flush=True)
    est.fit(df.iloc[:n_trainval])
    H = est.horizon
    n_windows = (len(df) - n_trainval) // H
    cv = est.cross_validation(df, n_windows=n_windows, step=H)
    # Errors on the standardised scale (train-span z-scores), comparable to published tables.
    scale = est.scaler_.scale_[0]
    chan = {cid: k for k, cid in enumerate(est.history_[0].channel_ids)}
    k = cv["unique_id"].map(chan).to_numpy()
    z_err = (cv["y"].to_numpy() - cv["y_hat"].to_numpy()) / scale[k]
    report = evaluate(cv)
    print(f"\nTest span: {n_windows} windows of {H} steps (rows {n_trainval}-{len(df) - 1}), per channel, original units:")
    print(report.to_string(index=False, float_format=lambda x: f"{x:.4f}"))
    print(f"\nStandardised (TSLib scale, non-overlapping windows): MSE {np.mean(z_err ** 2):.4f}  "
          f"MAE {np.mean(np.abs(z_err)):.4f}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    last = cv[cv["cutoff"] == cv["cutoff"].max()]
    history = df.iloc[:len(df) - H].reset_index().melt(id_vars="ds", var_name="unique_id", value_name="y")
    png = est.plot(last, out / "etth1_forecast.png", history=history, n_history=3 * H, unique_ids=list(df.columns))
    est.save(out / "model")
    atomic_write(out / "backtest.parquet", lambda p: cv.to_parquet(p))
    print(f"\nPlot: {png}\nModel: {out / 'model'}\nBacktest: {out / 'backtest.parquet'}\n"
          f"Total time: {time.perf_counter() - t0:.0f} s")
    return 0


def cmd_fit(args: argparse.Namespace) -> int:
    from .forecaster import XLSTMForecaster
    from .persist import check_save_target

    check_save_target(args.out)  # refuse an --out that save() would refuse, before the training
    config = _load_yaml(args.config)
    for key in ("horizon", "lookback", "model", "max_epochs", "id_col", "time_col", "target_col"):
        value = getattr(args, key)
        if value is not None:
            config[key] = value
    params = estimator_params(config)  # after the flags: a --model other than the preset's is an error
    # Checkpoints live beside the model directory (save() replaces that directory atomically).
    default_ckpt = str(Path(args.out).with_name(Path(args.out).name + ".checkpoints"))
    params.setdefault("checkpoint_dir", default_ckpt)
    est = XLSTMForecaster(**params).fit(args.data, resume=args.resume)
    est.save(args.out)
    if params["checkpoint_dir"] == default_ckpt:  # the model is saved: the epoch checkpoints have served
        shutil.rmtree(default_ckpt, ignore_errors=True)
    rep = est.fit_report_
    print(json.dumps({"model_dir": str(args.out), "epochs": rep.epochs if rep else 0,
                      "best_val_loss": rep.best_val_loss if rep else None}))
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from .forecaster import XLSTMForecaster

    est = XLSTMForecaster.load(args.model)
    pred = est.predict(args.data, futr_df=args.futr, h=args.h)
    out = Path(args.out)
    if out.suffix in (".parquet", ".pq"):
        atomic_write(out, lambda p: pred.to_parquet(p))
    else:
        atomic_write(out, lambda p: pred.to_csv(p, index=False))
    print(f"wrote {len(pred)} rows to {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="xlstm-ts", description="Time-series forecasting with xLSTM.")
    sub = ap.add_subparsers(dest="command", required=True)

    d = sub.add_parser("demo", help="fit on bundled ETTh1, backtest the test span, print metrics, plot")
    d.add_argument("--config", help="YAML of XLSTMForecaster parameters (default: xlstm_patch preset)")
    d.add_argument("--horizon", type=int, default=96)
    d.add_argument("--max-epochs", type=int, default=4)
    d.add_argument("--out", default="runs/demo")
    d.set_defaults(func=cmd_demo)

    f = sub.add_parser("fit", help="fit a forecaster on a CSV/Parquet file and save it")
    f.add_argument("--config", help="YAML of XLSTMForecaster parameters (preset: NAME pulls configs/models/NAME.yaml)")
    f.add_argument("--data", required=True,
                   help="long (id, time, target columns, ...) or wide (time column + variables) CSV/Parquet file")
    f.add_argument("--out", required=True, help="model directory to write")
    f.add_argument("--horizon", type=int)
    f.add_argument("--lookback", type=int)
    f.add_argument("--model")
    f.add_argument("--max-epochs", type=int)
    # The column names are saved with the model: predict reads its files with them.
    f.add_argument("--id-col", help="series id column of a long file (default unique_id; a file without it is wide)")
    f.add_argument("--time-col", help="time column (default ds), in long and wide files")
    f.add_argument("--target-col", type=_column_names,
                   help="target column(s) of a long file (default y), or the variables of a wide file to "
                        "forecast (default: all); several: a,b")
    f.add_argument("--resume", action="store_true",
                   help="continue a killed fit from OUT.checkpoints/last.ckpt (same config and data)")
    f.set_defaults(func=cmd_fit)

    p = sub.add_parser("predict", help="forecast with a saved model")
    p.add_argument("--model", required=True, help="model directory written by fit")
    p.add_argument("--data", help="history to forecast from (default: the end of the fitted data), with the "
                   "column names the model was fitted with")
    p.add_argument("--futr", help="CSV or Parquet file with future covariates")
    p.add_argument("--h", type=int, help="steps to forecast (default: the model's horizon; more are forecast "
                   "recursively from its own forecasts)")
    p.add_argument("--out", required=True, help="output .parquet or .csv")
    p.set_defaults(func=cmd_predict)

    from .bench.cli import register as register_bench
    from .lm.cli import register as register_lm
    from .tuning.cli import register as register_tune

    register_bench(sub)
    register_tune(sub)
    register_lm(sub)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, TypeError, FileNotFoundError, FileExistsError) as e:
        # Bad input: a clear one-line message, not a stack trace.
        print(f"xlstm-ts {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

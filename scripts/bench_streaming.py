"""Streaming forecasting benchmark: O(1) updates over long histories, and accuracy on ETTh1 OT.

Part 1 (``--sizes``): a streaming forecaster (``xlstm_stream``, default hparams: E=64, 2 mLSTM
blocks) is fitted once on a short synthetic series and saved. For every history length N, a fresh
process loads it, streams N synthetic steps through ``update`` (chunks of ``--chunk`` rows generated
on the fly, so the raw history is never held whole), then times ``--steps`` single-step updates:
the median time of a whole ``update(one_row_frame)`` call (frame validation, calendar features,
scaling, state advance) and of the bare state advance (``model.read`` of one step). Memory: the
per-series state in bytes, the peak RSS of the process, its RSS growth and the tracemalloc peak
(Python allocations) during the single-step updates.

Part 2 (``--accuracy``): ETTh1 ``OT`` (hourly), TSLib borders (train 12 months, validation 4,
test 4). ``xlstm_stream``, ``xlstm_patch`` and ``dlinear`` are trained on train (+ validation for
early stopping); then forecasts of ``--horizon`` steps are made from every ``--horizon``-th origin
of the test span (the streaming model via ``predict()`` + ``update(next rows)``, the windowed ones
via ``cross_validation``). MSE/MAE on values standardised with the training mean/std.

Usage::

    python scripts/bench_streaming.py                      # both parts, Markdown tables
    python scripts/bench_streaming.py --sizes 1000 10000 --no-accuracy
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from xlstm_ts import XLSTMForecaster  # noqa: E402
from xlstm_ts.data import load_dataset  # noqa: E402

START = pd.Timestamp("2000-01-01")


def synthetic(start: int, n: int, seed: int = 0) -> pd.DataFrame:
    """Rows ``start .. start+n`` of a long hourly series (daily + weekly seasonality, noise);
    row ``t`` is the same whatever chunk it is generated in."""
    t = np.arange(start, start + n)
    noise = np.sin(t * 12.9898 + seed) * 43758.5453 % 1.0 - 0.5  # deterministic per step
    y = 10 + 3 * np.sin(2 * np.pi * t / 24) + 1.5 * np.sin(2 * np.pi * t / 168) + 0.5 * noise
    ds = pd.date_range(START + pd.Timedelta(hours=int(start)), periods=n, freq="h")
    return pd.DataFrame({"unique_id": "syn", "ds": ds, "y": y})


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


# ------------------------------------------------------------------ part 1: one history length

def run_size(model_dir: str, n_fit: int, n: int, steps: int, chunk: int) -> dict:
    """In this (fresh) process: stream ``n`` steps after the fitted ones, then time single steps."""
    torch.set_num_threads(1)
    est = XLSTMForecaster.load(model_dir)
    t0 = time.perf_counter()
    pos = n_fit
    while pos < n_fit + n:
        k = min(chunk, n_fit + n - pos)
        est.update(synthetic(pos, k))
        pos += k
    read_s = time.perf_counter() - t0
    rows = [synthetic(pos + i, 1) for i in range(2 * steps + 20)]
    for r in rows[:10]:  # warm-up
        est.update(r)
    rss0 = rss_mb()
    tracemalloc.start()
    times = []
    for r in rows[10:10 + steps]:
        a = time.perf_counter()
        est.update(r)
        times.append(time.perf_counter() - a)
    _, py_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss1 = rss_mb()
    # the bare state advance of one step (what update costs without the frame handling)
    model, st = est.model_, est.stream_
    x = torch.zeros(1, 1, est.spec_.n_channels)
    f = torch.zeros(1, 1, est.spec_.n_futr) if est.spec_.n_futr else None
    state = st.state
    step_times = []
    for i in range(steps + 10):
        a = time.perf_counter()
        _, state = model.read(x, f, None, state)
        if i >= 10:
            step_times.append(time.perf_counter() - a)
    pred = est.predict()
    assert np.isfinite(pred["y_hat"]).all()
    return {
        "n": n, "read_s": read_s, "update_ms": 1e3 * statistics.median(times),
        "step_ms": 1e3 * statistics.median(step_times), "state_bytes": st.nbytes,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rss_growth_mb": rss1 - rss0, "py_peak_kb": py_peak / 1024,
        "n_seen": int(st.n_seen[0]),
    }


def part1(sizes: list[int], steps: int, chunk: int, epochs: int) -> str:
    n_fit = 2000
    with tempfile.TemporaryDirectory() as tmp:
        est = XLSTMForecaster(model="xlstm_stream", horizon=24, lookback=96, max_epochs=epochs, batch_size=16)
        est.fit(synthetic(0, n_fit))
        est.save(Path(tmp) / "m")
        rows = []
        for n in sizes:
            cmd = [sys.executable, __file__, "--_size", str(n), "--_model", str(Path(tmp) / "m"),
                   "--_nfit", str(n_fit), "--steps", str(steps), "--chunk", str(chunk)]
            out = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if out.returncode:
                raise RuntimeError(out.stderr[-3000:])
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(f"  N={n}: {rows[-1]}", file=sys.stderr)
    lines = [
        "| history N | read N steps (s) | update() per step, median (ms) | state advance per step, median (ms) "
        "| state (bytes) | peak RSS (MB) | RSS growth over the single steps (MB) | tracemalloc peak (KB) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['n']:.0e} | {r['read_s']:.1f} | {r['update_ms']:.2f} | {r['step_ms']:.2f} | "
                     f"{r['state_bytes']:,} | {r['peak_rss_mb']:.0f} | {r['rss_growth_mb']:.1f} | "
                     f"{r['py_peak_kb']:.0f} |")
    return "\n".join(lines)


# ------------------------------------------------------------------ part 2: accuracy on ETTh1 OT

def part2(horizon: int, lookback: int, epochs: dict[str, int]) -> str:
    wide = load_dataset("ETTh1")
    df = pd.DataFrame({"unique_id": "OT", "ds": wide.index, "y": wide["OT"].to_numpy(np.float64)})
    n_train, n_val, n_test = 12 * 30 * 24, 4 * 30 * 24, 4 * 30 * 24  # TSLib borders
    end = n_train + n_val + n_test
    df = df.iloc[:end].reset_index(drop=True)
    mu, sd = df["y"].iloc[:n_train].mean(), df["y"].iloc[:n_train].std(ddof=0)
    fit_df = df.iloc[:n_train + n_val]
    n_windows = (n_test - horizon) // horizon + 1
    common = dict(horizon=horizon, lookback=lookback, val_size=n_val, patience=3, random_state=0)
    stream = dict(model="xlstm_stream", batch_size=8, learning_rate=3e-3, max_epochs=epochs["xlstm_stream"])
    configs = {
        "xlstm_stream": dict(stream, model_params={"segment_len": 48}),
        "xlstm_stream + linear_window=96": dict(stream, model_params={"segment_len": 48, "linear_window": 96}),
        "xlstm_patch": dict(model="xlstm_patch", batch_size=32, max_epochs=epochs["xlstm_patch"]),
        "dlinear": dict(model="dlinear", batch_size=32, max_epochs=epochs["dlinear"]),
    }
    rows = []
    for name, cfg in configs.items():
        torch.set_num_threads(1)
        t0 = time.perf_counter()
        est = XLSTMForecaster(**common, **cfg).fit(fit_df)
        fit_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        if name.startswith("xlstm_stream"):
            preds, actual = [], []
            for w in range(n_windows):
                a = n_train + n_val + w * horizon
                preds.append(est.predict()["y_hat"].to_numpy())
                actual.append(df["y"].to_numpy()[a:a + horizon])
                est.update(df.iloc[a:a + horizon])
            pred, true = np.concatenate(preds), np.concatenate(actual)
        else:
            cv = est.cross_validation(df.iloc[:n_train + n_val + n_windows * horizon], n_windows=n_windows,
                                      step=horizon)
            pred, true = cv["y_hat"].to_numpy(), cv["y"].to_numpy()
        test_s = time.perf_counter() - t0
        zp, zt = (pred - mu) / sd, (true - mu) / sd
        rep = est.fit_report_
        rows.append((name, np.mean((zp - zt) ** 2), np.mean(np.abs(zp - zt)), est.model_.num_parameters(),
                     rep.epochs if rep else 0, fit_s, test_s))
        print(f"  {rows[-1]}", file=sys.stderr)
    lines = ["| model | test MSE | test MAE | parameters | epochs | fit (s) | test forecasts (s) |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for name, mse, mae, npar, ep, fs, ts in rows:
        lines.append(f"| {name} | {mse:.4f} | {mae:.4f} | {npar:,} | {ep} | {fs:.0f} | {ts:.1f} |")
    lines.append(f"\nETTh1 OT, H={horizon}, lookback={lookback}, {n_windows} test origins every {horizon} steps; "
                 "standardised with the training mean/std.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="*", default=[1_000, 10_000, 100_000, 1_000_000])
    ap.add_argument("--steps", type=int, default=200, help="single-step updates timed per size")
    ap.add_argument("--chunk", type=int, default=10_000, help="rows per update while reading the history")
    ap.add_argument("--fit-epochs", type=int, default=2, help="epochs of the part-1 model (speed only)")
    ap.add_argument("--accuracy", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--horizon", type=int, default=24)
    ap.add_argument("--lookback", type=int, default=96)
    ap.add_argument("--epochs", type=str, default="xlstm_stream=30,xlstm_patch=10,dlinear=10")
    ap.add_argument("--_size", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--_model", type=str, help=argparse.SUPPRESS)
    ap.add_argument("--_nfit", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    if args._size is not None:
        print(json.dumps(run_size(args._model, args._nfit, args._size, args.steps, args.chunk)))
        return 0
    out = [f"<!-- {' '.join(['python scripts/bench_streaming.py', *(argv or sys.argv[1:])])} -->"]
    if args.sizes:
        out += ["### Update cost vs history length", "", part1(args.sizes, args.steps, args.chunk, args.fit_epochs), ""]
    if args.accuracy:
        epochs = {k: int(v) for k, v in (p.split("=") for p in args.epochs.split(","))}
        out += ["### Accuracy", "", part2(args.horizon, args.lookback, epochs), ""]
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

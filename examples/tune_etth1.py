"""Tune a small xLSTM on ETTh1 in a few minutes on a CPU, then backtest the refitted best model.

    python examples/tune_etth1.py                 # 8 trials, 2 worker processes
    python examples/tune_etth1.py --trials 12     # rerun: continues the study, runs 4 more

Search space and fixed settings: the bundled config "etth1_small" (configs/tune/etth1_small.yaml;
horizon 24 from 96 hourly steps). Runs from any directory; results go under the current one.
Results in runs/examples/tune_etth1: study.db (resumable), trials.csv/.parquet, best.json,
importances.json, optimization_history.png, parallel_coordinate.png, model/ (the refitted best).
"""

import argparse
import time

import torch

from xlstm_ts import XLSTMForecaster
from xlstm_ts.data import load_dataset
from xlstm_ts.metrics import evaluate
from xlstm_ts.tuning import tune


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default="runs/examples/tune_etth1")
    args = ap.parse_args()

    t0 = time.perf_counter()
    df = load_dataset("ETTh1").iloc[:4 * 30 * 24]          # four months of hourly data, 7 variables
    test_windows, H = 10, 24
    tune_df = df.iloc[:-test_windows * H]                  # the tuning never sees the test span

    # one torch thread per worker: small models gain little from more, and contended threads
    # on a busy CPU are many times slower
    res = tune(tune_df, "etth1_small", n_trials=args.trials, n_workers=args.workers,
               out_dir=args.out, threads_per_worker=1, verbose=True)
    print(f"\nbest val_loss {res.best_value:.4f} with {res.best_params}")
    if res.importances:
        print("importances:", {k: round(v, 3) for k, v in res.importances.items()})

    # Backtest the refitted best model and the untuned defaults on the held-out span.
    best = XLSTMForecaster.load(res.model_path)
    default = XLSTMForecaster(**{**res.best_estimator_params, "model_params": None, "learning_rate": 1e-3})
    torch.set_num_threads(1)
    default.fit(tune_df)
    for name, est in (("tuned", best), ("default", default)):
        cv = est.cross_validation(df, n_windows=test_windows, step=H)
        overall = evaluate(cv).set_index("unique_id").loc["overall"]
        print(f"{name:8s} test MSE {overall['mse']:.4f}  MAE {overall['mae']:.4f}")
    print(f"\nresults in {res.out_dir} ({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":  # required: worker processes re-import this file
    main()

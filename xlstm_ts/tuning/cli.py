"""``xlstm-ts tune``: tune an XLSTMForecaster with Optuna from a YAML search space.

Rerunning the same command resumes the study (only the missing trials run). For workers on
several machines, run the same command on each with ``--storage postgresql://...`` (and
``--no-refit`` on all but one, or refit later with ``--n-trials 0``).

The lead's ``xlstm_ts/cli.py`` calls :func:`register`; standalone:
``python -m xlstm_ts.tuning --config configs/tune/xlstm_patch.yaml --data ETTh1 --out runs/tune``.
"""

from __future__ import annotations

import argparse
import json
import sys

__all__ = ["add_arguments", "build_parser", "main", "register", "run_tune"]


def _number(text: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        return float(text)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True,
                   help="tuning YAML (configs/tune/<name>.yaml) or a bundled config name")
    p.add_argument("--data", required=True,
                   help="CSV/Parquet file (long unique_id/ds/y or wide with a date column) or a bundled dataset (ETTh1)")
    p.add_argument("--storage", help="default: sqlite in --out; or postgresql://user:pw@host/db, "
                   "sqlite:///path.db, journal:PATH")
    p.add_argument("--study-name", help="default: the config's name")
    p.add_argument("--n-trials", type=int, help="total trials of the study (finished ones count; default: config, else 20)")
    p.add_argument("--timeout", type=float, help="seconds for this run (running trials finish)")
    p.add_argument("--workers", type=int, help="worker processes on this machine (default 1)")
    p.add_argument("--out", help="results directory (default runs/tune/<study-name>)")
    p.add_argument("--metric", help="val_loss (default), mse, mae or smape (backtest)")
    p.add_argument("--direction", choices=["minimize", "maximize"])
    p.add_argument("--sampler", help="tpe (default), random, qmc")
    p.add_argument("--pruner", help="median (default), hyperband, percentile, successive_halving, none")
    p.add_argument("--seed", type=int)
    p.add_argument("--cv-windows", type=int, help="backtest windows for mse/mae/smape")
    p.add_argument("--no-refit", dest="refit", action="store_const", const=False, default=None,
                   help="do not refit/save the best model")
    p.add_argument("--no-plots", dest="plots", action="store_false", help="skip the PNG plots")
    p.add_argument("--max-epochs", type=int, help="override the config's max_epochs")
    p.add_argument("--limit-train-batches", type=_number, help="batches (int) or fraction per epoch (quick runs)")
    p.add_argument("--threads", type=int, help="torch threads per worker")
    p.add_argument("--heartbeat", type=int, help="RDB heartbeat interval in s (0: off; default 30)")
    p.add_argument("--verbose", action="store_true", help="Optuna's per-trial log lines and progress")


def register(subparsers) -> argparse.ArgumentParser:
    """Add ``tune`` to the ``xlstm-ts`` sub-commands."""
    p = subparsers.add_parser("tune", help="hyper-parameter search with Optuna (resumable, parallel, pruning)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    p.set_defaults(func=run_tune)
    return p


def run_tune(args: argparse.Namespace) -> int:
    from .runner import tune

    base: dict = {}
    if args.max_epochs is not None:
        base["max_epochs"] = args.max_epochs
    if args.limit_train_batches is not None:
        base["trainer_kwargs"] = {"limit_train_batches": args.limit_train_batches}
    res = tune(args.data, args.config, n_trials=args.n_trials, timeout=args.timeout, storage=args.storage,
               study_name=args.study_name, metric=args.metric, direction=args.direction, sampler=args.sampler,
               pruner=args.pruner, base_params=base or None, n_workers=args.workers, refit=args.refit,
               out_dir=args.out, cv_windows=args.cv_windows, seed=args.seed,
               heartbeat_interval=args.heartbeat, threads_per_worker=args.threads, plots=args.plots,
               verbose=args.verbose)
    print(json.dumps(res.summary(), indent=2))
    if res.best_trial is None and not (args.n_trials == 0 and len(res.trials) == 0):
        # Scripts and schedulers must see a study without a result as a failure.
        states = res.trials["state"].value_counts().to_dict() if len(res.trials) else {}
        print(f"xlstm-ts tune: error: study {res.study.study_name!r} has no complete trial (trials: {states}); "
              f"see fail_reason in {res.out_dir / 'trials.csv'}", file=sys.stderr)
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m xlstm_ts.tuning", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    p.set_defaults(func=run_tune)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, TypeError, FileNotFoundError) as e:
        print(f"xlstm-ts tune: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

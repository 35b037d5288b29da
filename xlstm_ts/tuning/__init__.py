"""Hyper-parameter tuning of :class:`~xlstm_ts.XLSTMForecaster` with Optuna.

>>> from xlstm_ts.tuning import tune
>>> res = tune(df, "configs/tune/xlstm_patch.yaml", n_trials=30, n_workers=2,
...            out_dir="runs/tune/etth1")                                     # doctest: +SKIP
>>> res.best_params, res.model_path                                          # doctest: +SKIP

* search spaces in YAML (float, log-float, int with step, categorical, conditional ``when``),
  mapped onto estimator parameters or nested ``model_params`` paths (:mod:`.space`);
* per-epoch pruning through optuna-integration's Lightning callback (median, hyperband, ...);
* resumable storage (SQLite in ``out_dir`` by default; PostgreSQL/MySQL URLs for many
  machines; journal files), N local worker processes sharing one study, failed/killed trials
  recorded with a reason and retried (:mod:`.storage`);
* results: refitted best model, trials CSV/Parquet, importances, plots (:mod:`.report`).

Command line: ``xlstm-ts tune`` / ``python -m xlstm_ts.tuning`` (:mod:`.cli`).
"""

from .objective import METRICS, EpochPruningCallback, make_objective, make_pruner, make_sampler
from .report import param_importances, trials_table
from .runner import TuneResult, tune, tune_estimator
from .space import Param, SearchSpace, TuneConfig, bundled_configs, load_config
from .storage import count_trials, open_storage, recover_dead_trials, resolve_storage

__all__ = [
    "METRICS",
    "EpochPruningCallback",
    "Param",
    "SearchSpace",
    "TuneConfig",
    "TuneResult",
    "bundled_configs",
    "count_trials",
    "load_config",
    "make_objective",
    "make_pruner",
    "make_sampler",
    "open_storage",
    "param_importances",
    "recover_dead_trials",
    "resolve_storage",
    "trials_table",
    "tune",
    "tune_estimator",
]

"""``tune()``: run (or resume) a study with N local worker processes, then report and refit."""

from __future__ import annotations

import contextlib
import json
import logging
import multiprocessing as mp
import os
import sys
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
from optuna.exceptions import ExperimentalWarning, UpdateFinishedTrialError

from .._dicts import deep_merge
from .._names import did_you_mean
from . import storage as _st
from .objective import METRICS, make_objective, make_pruner, make_sampler, make_worker_sampler
from .report import (
    jsonable,
    param_importances,
    refit_best,
    save_plots,
    trials_table,
    write_json,
    write_table,
)
from .space import SearchSpace, TuneConfig, load_config, resolve_base_params

__all__ = ["TuneResult", "tune", "tune_estimator"]

_log = logging.getLogger("xlstm_ts.tuning")

_DEFAULTS = dict(n_trials=20, timeout=None, metric="val_loss", direction=None, sampler="tpe", pruner="median",
                 cv_windows=1, enqueue=None, study_name=None, seed=0, heartbeat_interval=30, grace_period=None,
                 max_retry=1, refit=True, n_workers=1)


@dataclass
class TuneResult:
    """What :func:`tune` returns.

    Attributes:
        study: the :class:`optuna.Study` (loaded from its storage).
        best_params: the best trial's sampled values (``{name: label}``), None without a complete trial.
        best_value: its metric value.
        best_estimator_params: the full ``XLSTMForecaster`` parameters of the best trial.
        trials: the trials table (also ``trials.csv`` / ``trials.parquet`` in ``out_dir``).
        importances: fANOVA parameter importances (empty with a note in ``notes`` when not computable).
        estimator: the refitted best model (None with ``refit=False`` or without a complete trial).
        model_path: where it was saved (``out_dir/model``), loadable with ``XLSTMForecaster.load``.
        out_dir: the results directory; ``files`` names every file written there.
        ran: trials run by this call; ``notes``: skipped plots/importances and other remarks.
    """

    study: optuna.Study
    best_params: dict[str, Any] | None
    best_value: float | None
    best_estimator_params: dict[str, Any] | None
    trials: pd.DataFrame
    importances: dict[str, float]
    estimator: Any
    model_path: Path | None
    out_dir: Path
    files: dict[str, Path] = field(default_factory=dict)
    ran: int = 0
    notes: dict[str, str] = field(default_factory=dict)

    @property
    def best_trial(self) -> optuna.trial.FrozenTrial | None:
        try:
            return self.study.best_trial
        except ValueError:
            return None

    def summary(self) -> dict[str, Any]:
        states = self.trials["state"].value_counts().to_dict() if len(self.trials) else {}
        return jsonable({"study_name": self.study.study_name, "trials": states, "ran": self.ran,
                         "best_value": self.best_value, "best_params": self.best_params,
                         "model_path": self.model_path, "out_dir": self.out_dir,
                         "files": {k: str(v) for k, v in self.files.items()}})


@dataclass
class _Job:
    """Everything a worker process needs (picklable)."""

    data: Any  # DataFrame or path
    space: SearchSpace
    base: dict[str, Any]
    metric: str
    cv_windows: int
    storage: Any  # StorageSpec or a storage object (in-process only)
    study_name: str
    sampler: Any
    pruner: Any
    seed: int | None
    n_total: int
    deadline: float | None  # time.time() based
    threads: int | None
    verbose: bool
    max_retry: int | None = 1


def _read_data(data, base: Mapping[str, Any] | None = None):
    """A frame as the estimator reads it: a CSV/Parquet file's text ``time_col`` (the base's,
    default ``ds``; CSV has no date type) parsed as dates, in long and wide files alike, and a
    CSV's ``id_col`` (the base's) read as text, integers only where each id is one; a wide
    file without that column but with a ``date``/``time``/``timestamp`` one gets it as its index.
    A name that is no file is a bundled dataset."""
    if isinstance(data, pd.DataFrame):
        return data
    from ..data import load_dataset, read_series_file

    base = base or {}
    p = Path(data)
    if p.exists():
        time_col, id_col = base.get("time_col", "ds"), base.get("id_col", "unique_id")
        df = read_series_file(p, time_col, id_col)
        if time_col not in df.columns and id_col not in df.columns:
            for col in ("date", "time", "timestamp"):
                if col in df.columns:
                    df = df.set_index(pd.DatetimeIndex(pd.to_datetime(df.pop(col)), name="ds"))
                    break
        return df
    try:
        return load_dataset(str(data))
    except (KeyError, ValueError):
        raise ValueError(f"data {str(data)!r} is neither a file nor a bundled dataset name") from None


_POLL_S = 1.0  # how often an idle worker looks at the study while others' trials run


def _next_step(study: optuna.Study, job: _Job) -> str:
    """What a worker does next (called holding the budget lock): ``"run"`` a trial while
    finished + running trials are fewer than ``n_trials``; ``"wait"`` while the others' running
    trials fill the budget but one of them may still fail and need a retry (their workers run
    on this host, or the storage has heartbeats); else ``"stop"``.

    Trials of dead workers of this host and trials without heartbeat are failed first (and
    queued again, which frees their place in the budget).
    """
    _st.recover_dead_trials(study, max_retry=job.max_retry)
    optuna.storages.fail_stale_trials(study)
    c = _st.count_trials(study)
    if c.done + c.running < job.n_total:
        return "run"
    if c.done >= job.n_total or c.running == 0 or not _st.lost_trials_detectable(study):
        return "stop"
    return "wait"


@contextlib.contextmanager
def _torch_threads(n: int | None):
    """torch threads for the work done in this process (restored afterwards)."""
    if not n:
        yield
        return
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


@contextlib.contextmanager
def _quiet(verbose: bool):
    old = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.INFO if verbose else optuna.logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        warnings.filterwarnings("ignore", message=".*number of training batches.*")
        warnings.filterwarnings("ignore", message=".*no `val_dataloader`.*")
        try:
            yield
        finally:
            optuna.logging.set_verbosity(old)


def _taken_over(study: optuna.Study, trial: optuna.Trial) -> bool:
    """Whether another process finished ``trial`` while this one ran it: it failed the trial as
    stale (a heartbeat came later than ``grace_period``, e.g. on an overloaded machine) and
    queued it again. This worker's result is dropped; it goes on with the next trial."""
    t = study._storage.get_trial(trial._trial_id)
    if not t.state.is_finished():
        return False
    _log.warning("trial %d was failed by another worker (no heartbeat from this one for grace_period s) while "
                 "this worker ran it; its result is dropped and the trial queued again", t.number)
    return True


def _run_worker(job: _Job, index: int, study: optuna.Study | None = None) -> int:
    """Run trials of the study until it has ``n_trials`` finished ones; returns how many this
    worker ran.

    Every worker (of ``tune``'s ``n_workers``, or a ``tune`` command started on each machine)
    takes the study's budget lock, fails the trials of dead workers, counts, and creates its
    next trial before releasing it, so that workers on one host never run more than
    ``n_trials`` between them; then it runs the trial without the lock. A worker whose budget
    is taken by others' running trials waits for them while it could still take over one whose
    worker dies.
    """
    df = _read_data(job.data)
    sampler = make_worker_sampler(job.sampler, job.seed)
    max_epochs = job.base.get("max_epochs", 10)
    pruner = make_pruner(job.pruner, max_epochs)
    lock = _st.budget_lock(job.storage, job.study_name)
    with _quiet(job.verbose):
        if study is None:
            storage = _st.open_storage(job.storage)
            study = _st._with_retries(lambda: optuna.load_study(study_name=job.study_name, storage=storage,
                                                                sampler=sampler, pruner=pruner),
                                      f"loading study {job.study_name!r}")
        else:
            study.sampler, study.pruner = sampler, pruner
        current: list[optuna.Trial] = []

        def on_start(trial: optuna.Trial) -> None:
            current[:] = [trial]
            lock.release()

        objective = make_objective(df, job.space, job.base, metric=job.metric, cv_windows=job.cv_windows,
                                   prune=not isinstance(pruner, optuna.pruners.NopPruner), on_start=on_start)
        ran = 0
        _st._ACTIVE_IN_THIS_PROCESS["count"] += 1
        try:
            while job.deadline is None or time.time() < job.deadline:
                with lock:  # held until the new trial has recorded its worker (objective's on_start)
                    step = _next_step(study, job)
                    if step == "run":
                        current.clear()
                        try:
                            study.optimize(objective, n_trials=1, catch=(Exception,))
                        except (ValueError, UpdateFinishedTrialError):
                            if not (current and _taken_over(study, current[0])):
                                raise
                        ran += 1
                        continue
                if step == "stop":
                    break
                time.sleep(_POLL_S)
        finally:
            _st._ACTIVE_IN_THIS_PROCESS["count"] -= 1
        return ran


def _worker_entry(job: _Job, index: int) -> None:
    """Target of a spawned worker process."""
    logging.basicConfig(level=logging.INFO if job.verbose else logging.WARNING)
    if job.threads:
        import torch

        torch.set_num_threads(job.threads)
    try:
        _run_worker(job, index)
    except KeyboardInterrupt:
        sys.exit(130)


def _progress(study: optuna.Study, n_total: int) -> str:
    c = _st.count_trials(study)
    try:
        best = f", best {study.best_value:.6g}"
    except ValueError:
        best = ""
    return (f"{c.done}/{n_total} trials done ({c.complete} complete, {c.pruned} pruned, "
            f"{c.failed - c.retried} failed, {c.running} running){best}")


def _mp_context():
    """``forkserver`` where available: one server imports torch/Lightning once, then each worker
    (and each relaunch) forks from it in milliseconds; never plain ``fork`` of a process whose
    torch may hold threads. Elsewhere ``spawn``."""
    if "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(["xlstm_ts.tuning.runner", "xlstm_ts.forecaster"])
        return ctx
    return mp.get_context("spawn")


def _launch(job: _Job, study: optuna.Study, n_workers: int, max_retry: int | None, verbose: bool) -> int:
    """Spawn worker processes until the budget is reached (relaunching after a worker dies).

    The workers share the budget (see :func:`_run_worker`): a survivor takes over the trial of
    a worker that died; a new round starts only if all of them ended with trials left to run.
    """
    ctx = _mp_context()
    lock = _st.budget_lock(job.storage, job.study_name)
    ran = 0
    for _round in range(1 + max(3, n_workers)):
        c = _st.count_trials(study)
        remaining = job.n_total - c.done - c.running
        if remaining <= 0 or (job.deadline is not None and time.time() >= job.deadline):
            break
        k = min(n_workers, remaining)
        procs = [ctx.Process(target=_worker_entry, args=(job, i), name=f"xlstm-ts-tune-{i}") for i in range(k)]
        try:
            for p in procs:
                p.start()
            last = time.time()
            while any(p.is_alive() for p in procs):
                for p in procs:
                    p.join(timeout=1.0)
                if verbose and time.time() - last > 15:
                    last = time.time()
                    print(f"[tune] {_progress(study, job.n_total)}", flush=True)
        except BaseException:
            for p in procs:
                if p.is_alive():
                    p.terminate()
            for p in procs:
                p.join(timeout=30)
            with lock:
                _st.recover_dead_trials(study, max_retry=max_retry, pids={p.pid for p in procs},
                                        reason="tune was interrupted while the trial was running")
            raise
        tags = {f"{_st._host()}:{p.pid}" for p in procs}
        ran += sum(t.user_attrs.get("worker") in tags for t in study.get_trials(deepcopy=False))
        dead = {p.pid for p in procs if p.exitcode != 0}
        if not dead:
            break
        codes = sorted({p.exitcode for p in procs if p.exitcode != 0})
        with lock:
            failed = _st.recover_dead_trials(study, max_retry=max_retry, pids=dead,
                                             reason=f"worker process died (exit code {codes}) while the trial was "
                                                    f"running")
        what = (f"trials {failed} failed and were queued again" if failed
                else "the other workers had failed and queued again their trials")
        _log.warning("%d tuning worker(s) died (exit codes %s); %s", len(dead), codes, what)
        if verbose:
            print(f"[tune] {len(dead)} worker(s) died (exit codes {codes}); {what}", flush=True)
    return ran


# Trainer settings of where a trial runs, not of what it trains: fit_module's own defaults for
# the dry check (a CPU Trainer is cheap to build), and left out of the resume comparison.
_TRAINER_RUN_KEYS = ("callbacks", "logger", "enable_progress_bar", "enable_model_summary", "enable_checkpointing",
                     "default_root_dir", "accelerator", "devices", "num_nodes", "strategy")


def _check_trainer_kwargs(trainer_kwargs: Mapping[str, Any] | None) -> None:
    """Build the ``lightning.Trainer`` a trial would build (without its callbacks, on the CPU
    unless an accelerator is named): a misspelt or invalid Trainer option fails here, once."""
    import inspect

    import lightning as L

    from ..training.fit import quiet_lightning

    valid = [n for n in inspect.signature(L.Trainer.__init__).parameters if n != "self"]
    for key in trainer_kwargs or {}:
        if key not in valid:
            raise ValueError(f"trainer_kwargs: {key!r} is not a lightning.Trainer option{did_you_mean([key], valid)}")
    kw = {k: v for k, v in (trainer_kwargs or {}).items() if k not in ("callbacks", "logger")}
    if "max_epochs" in kw:
        raise ValueError("trainer_kwargs must not hold max_epochs: set max_epochs in base (or --max-epochs)")
    kw.update(logger=False, enable_checkpointing=False, enable_model_summary=False, enable_progress_bar=False)
    kw.setdefault("accelerator", "cpu")
    kw.setdefault("devices", 1)
    quiet_lightning()
    try:
        L.Trainer(max_epochs=1, **kw)
    except Exception as e:  # noqa: BLE001 - Lightning raises TypeError, ValueError, MisconfigurationException...
        raise ValueError(f"trainer_kwargs {sorted(trainer_kwargs or {})} are not valid lightning.Trainer "
                         f"options ({type(e).__name__}: {e})") from None


def _dry_check(space: SearchSpace, base: dict[str, Any]) -> None:
    """Build the model (and the Trainer) of one configuration per branch of the space now, so
    that a bad path, base, ``when`` branch or Trainer option fails before any trial."""
    from ..forecaster import XLSTMForecaster
    from ..models import ModelSpec, build_model

    for values in space.branch_configs():
        params = space.to_estimator_params(values, base)
        which = "first configuration" if values == space.first() else f"configuration {values}"
        try:
            est = XLSTMForecaster(**params)
            est._check_params()
            spec = ModelSpec(lookback=int(est.lookback), horizon=int(est.horizon), n_channels=1)
            build_model(est.model, spec, **(est.model_params or {}))
        except (TypeError, ValueError, KeyError) as e:
            raise ValueError(f"the search space's {which} is not a valid model ({e}); "
                             f"check the space paths and the base parameters") from None
        try:
            _check_trainer_kwargs(params.get("trainer_kwargs"))
        except ValueError as e:
            raise ValueError(f"the search space's {which}: {e}") from None


def _check_data(frame: pd.DataFrame, space: SearchSpace, base: dict[str, Any]) -> None:
    """Parse the data as each trial's fit will (ids, time column, targets, frequency), so that
    unusable data is one error before the study starts, not ``n_trials`` failed trials."""
    from ..forecaster import XLSTMForecaster

    est = XLSTMForecaster(**space.to_estimator_params(space.first(), base))
    try:
        # min_length 1: lengths depend on each trial's lookback/horizon; only the format is checked
        est._parse(frame, None, min_length=1, for_fitted_model=False)
    except (TypeError, ValueError, KeyError) as e:
        raise ValueError(f"the data cannot be used by the forecaster: {e}") from None


def _check_resumed_space(study: optuna.Study, space: SearchSpace) -> None:
    """Refuse a space whose parameters Optuna cannot record next to the study's trials: changed
    categorical choices, another type or log scale (numeric ranges may change). Otherwise every
    new trial would fail on its first suggestion."""
    new = {p.name: p.distribution() for p in space.params}
    clashes: dict[str, str] = {}
    for t in study.get_trials(deepcopy=False):
        for n, d in t.distributions.items():
            if n in new and n not in clashes:
                try:
                    optuna.distributions.check_distribution_compatibility(d, new[n])
                except ValueError:
                    clashes[n] = f"{n!r}: {_describe(d)} -> {_describe(new[n])}"
    if clashes:
        raise ValueError(f"study {study.study_name!r} has trials with other values of {'; '.join(clashes.values())} "
                         f"(Optuna cannot change a categorical's choices, a type or a log scale within a study): "
                         f"use another study_name (--study-name) or the study's former choices")


def _describe(d) -> str:
    if isinstance(d, optuna.distributions.CategoricalDistribution):
        return f"choices {list(d.choices)}"
    log = ", log" if getattr(d, "log", False) else ""
    return f"{type(d).__name__.replace('Distribution', '').lower()} [{d.low}, {d.high}{log}]"


def _base_key(base: Mapping[str, Any]) -> dict[str, Any]:
    """The part of the base parameters that decides what a trial trains and how it is scored
    (JSON form): without ``verbose``/``checkpoint_dir`` and the Trainer's run settings, and with
    object addresses cut from reprs (a callback object is new in every run)."""
    import re

    key = {k: v for k, v in jsonable(base).items() if k not in ("verbose", "checkpoint_dir")}
    tk = key.get("trainer_kwargs")
    if isinstance(tk, Mapping):
        key["trainer_kwargs"] = {k: v for k, v in tk.items() if k not in _TRAINER_RUN_KEYS} or None
    if key.get("trainer_kwargs") is None:
        key.pop("trainer_kwargs", None)
    text = re.sub(r" at 0x[0-9a-fA-F]+", "", json.dumps(key, sort_keys=True))
    return json.loads(text)


def _check_resumed_base(study: optuna.Study, base: dict[str, Any]) -> None:
    """Refuse to add trials trained with other fixed parameters to a study whose trials are
    ranked (and pruned) against each other; a study without a complete or pruned trial takes the
    new base."""
    stored = study.user_attrs.get("base_params")
    if stored is None:
        return
    old, new = _base_key(stored), _base_key(base)
    if old == new:
        return
    ranked = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,
                                                      optuna.trial.TrialState.PRUNED))
    if not ranked:
        study.set_user_attr("base_params", jsonable(base))
        return
    diff = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    shown = ", ".join(f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in diff)
    raise ValueError(f"study {study.study_name!r} was run with other base parameters ({shown}); its trials would "
                     f"be ranked against trials trained differently: use another study_name (--study-name) or "
                     f"the study's base parameters")


def tune(
    df: pd.DataFrame | str | os.PathLike,
    space: str | os.PathLike | Mapping[str, Any] | SearchSpace | TuneConfig,
    *,
    n_trials: int | None = None,
    timeout: float | None = None,
    storage: Any = None,
    study_name: str | None = None,
    metric: str | None = None,
    direction: str | None = None,
    sampler: Any = None,
    pruner: Any = None,
    base_params: Mapping[str, Any] | None = None,
    n_workers: int | None = None,
    refit: bool | str | None = None,
    out_dir: str | os.PathLike | None = None,
    cv_windows: int | None = None,
    enqueue: list[Mapping[str, Any]] | None = None,
    seed: int | None = None,
    heartbeat_interval: int | None = None,
    grace_period: int | None = None,
    max_retry: int | None = None,
    threads_per_worker: int | None = None,
    plots: bool = True,
    verbose: bool = False,
) -> TuneResult:
    """Tune :class:`~xlstm_ts.XLSTMForecaster` hyper-parameters with Optuna; resumable.

    Args:
        df: the data (long or wide frame, a CSV/Parquet path, or a bundled dataset name).
        space: a tuning config (YAML path, bundled name such as ``"xlstm_patch"``, or dict with
            ``space``/``base``/``study`` sections), a bare space mapping, or a :class:`SearchSpace`.
            Arguments left None take the config's ``study`` values, then the defaults.
        n_trials: total trials the study should have (finished ones already in the storage count:
            rerunning the same call resumes and runs only the rest). Default 20.
        timeout: seconds for this call (running trials finish).
        storage: None (``out_dir/study.db``, SQLite), an RDB URL (``postgresql://...``), ``"journal:PATH"``,
            a ``*.db``/``*.journal`` path, ``"memory"`` or an optuna storage object.
        study_name: default: the config's name, else ``"xlstm-ts"``.
        metric: ``"val_loss"`` (default; best per-epoch validation loss) or ``"mse"``/``"mae"``/``"smape"``
            of a backtest over ``cv_windows`` windows at the end of the data.
        direction: ``"minimize"`` (default) or ``"maximize"``.
        sampler: ``"tpe"`` (default), ``"random"``, ``"qmc"``, a mapping with options, or an optuna sampler.
        pruner: ``"median"`` (default), ``"hyperband"``, ``"percentile"``, ``"successive_halving"``,
            ``"none"``, a mapping with options, or an optuna pruner. Pruning watches ``val_loss`` per epoch.
        base_params: fixed ``XLSTMForecaster`` parameters, merged over the config's ``base``
            (``preset: NAME`` pulls a model preset).
        n_workers: worker processes on this machine sharing the study (default 1: in this process).
            Scripts using more must guard their entry point with ``if __name__ == "__main__":``.
        refit: True/``"full"`` (default): fit the best configuration on all of ``df`` for its best
            epoch count and save it to ``out_dir/model``; ``"same"``: refit as in the trial; False: none.
        out_dir: results directory (default ``runs/tune/<study_name>``).
        cv_windows: backtest windows for the ``mse``/``mae``/``smape`` metrics.
        enqueue: configurations (``{name: label}``) to try first; only when the study is new.
        seed: sampler seed. TPE and random samplers draw each trial from a seed derived from this
            one and the trial number: workers running the same command (same seed) sample different
            configurations, and a study run by one worker is reproducible, resumes included.
        heartbeat_interval, grace_period: RDB storages only: a trial whose worker sent no heartbeat
            for ``grace_period`` s (default 4 x interval) is failed and retried ``max_retry`` times.
        threads_per_worker: torch threads of each worker process (default: cores // n_workers) and,
            when given, of the trials and refit run in this process (restored afterwards). On a
            busy machine 1 is often much faster for small models than contended threads.
        plots: write the PNG plots (optimisation history, parallel coordinates, importances).
        verbose: Optuna's per-trial log lines and progress.

    Returns:
        A :class:`TuneResult`.
    """
    cfg = load_config(space)
    given = dict(n_trials=n_trials, timeout=timeout, metric=metric, direction=direction, sampler=sampler,
                 pruner=pruner, cv_windows=cv_windows, enqueue=enqueue, study_name=study_name, seed=seed,
                 heartbeat_interval=heartbeat_interval, grace_period=grace_period, max_retry=max_retry,
                 refit=refit, n_workers=n_workers)
    opts = {k: (v if v is not None else cfg.study.get(k, _DEFAULTS[k])) for k, v in given.items()}
    base = deep_merge(cfg.base, resolve_base_params(base_params, "base_params"))
    space_obj = cfg.space

    n_total, nw = opts["n_trials"], opts["n_workers"]
    if isinstance(n_total, bool) or not isinstance(n_total, int) or n_total < 0:
        raise ValueError(f"n_trials must be an int >= 0; got {n_total!r}")
    if isinstance(nw, bool) or not isinstance(nw, int) or nw < 1:
        raise ValueError(f"n_workers must be a positive int; got {nw!r}")
    if opts["timeout"] is not None and not (isinstance(opts["timeout"], (int, float)) and opts["timeout"] > 0):
        raise ValueError(f"timeout must be a positive number of seconds; got {opts['timeout']!r}")
    metric_ = opts["metric"]
    if metric_ not in METRICS:
        raise ValueError(f"unknown metric {metric_!r}{did_you_mean([metric_], METRICS)}; valid metrics: {list(METRICS)}")
    direction_ = opts["direction"] or "minimize"
    if direction_ not in ("minimize", "maximize"):
        raise ValueError(f"direction must be 'minimize' or 'maximize'; got {direction_!r}")
    cvw = opts["cv_windows"]
    if isinstance(cvw, bool) or not isinstance(cvw, int) or cvw < 1:
        raise ValueError(f"cv_windows must be a positive int; got {cvw!r}")
    if metric_ == "val_loss" and base.get("val_size") == 0:
        raise ValueError("metric 'val_loss' needs a validation split: base val_size=0 disables it "
                         "(use a backtest metric: mse, mae or smape)")
    tuned_losses = [p.name for p in space_obj.params if p.path in (("loss",), ("quantiles",))]
    tuned_valid = [p.name for p in space_obj.params if p.path == ("valid_loss",)]
    if metric_ == "val_loss" and tuned_valid:
        raise ValueError(f"the space tunes {tuned_valid} (valid_loss) while trials are compared on 'val_loss', "
                         "which is measured in it; fix valid_loss in base or use a backtest metric")
    if metric_ == "val_loss" and tuned_losses and base.get("valid_loss") is None:
        # Each trial's val_loss would be measured in its own loss: the study would compare MAE
        # with MSE and pick whichever loss has the smaller numbers.
        raise ValueError(f"the space tunes {tuned_losses} while trials are compared on 'val_loss', the "
                         "validation value of each trial's own loss; set base valid_loss (e.g. 'mse') so "
                         "every trial is scored on the same loss, or use a backtest metric (mse, mae, smape)")
    refit_ = opts["refit"]
    refit_mode = "full" if refit_ is True else refit_
    if refit_mode not in (False, None, "full", "same"):
        raise ValueError(f"refit must be True, 'full', 'same' or False; got {refit_!r}")
    max_epochs = base.get("max_epochs", 10)
    make_sampler(opts["sampler"], 0)  # validate names/options now, not in the workers
    make_pruner(opts["pruner"], max_epochs)
    _dry_check(space_obj, base)
    data = df if isinstance(df, pd.DataFrame) else os.fspath(df)
    frame = _read_data(data, base)
    _check_data(frame, space_obj, base)

    name = opts["study_name"] or cfg.name or "xlstm-ts"
    out = Path(out_dir) if out_dir is not None else Path("runs") / "tune" / name
    out.mkdir(parents=True, exist_ok=True)
    spec = _st.resolve_storage(storage, out, heartbeat_interval=opts["heartbeat_interval"],
                               grace_period=opts["grace_period"], max_retry=opts["max_retry"])
    if nw > 1 and not (isinstance(spec, _st.StorageSpec) and spec.shareable):
        raise ValueError("n_workers > 1 needs a storage the worker processes can share: the default SQLite "
                         "file, an RDB URL or a journal file (not 'memory' or a storage object)")
    lock = _st.budget_lock(spec, name)
    with _quiet(verbose), lock:  # one process of this host at a time creates the schema and study
        backend = _st.open_storage(spec)
        study, created = _st.create_or_load_study(backend, name, direction_)
        if created:
            study.set_user_attr("space", jsonable(space_obj.to_dict()))
            study.set_user_attr("space_fingerprint", space_obj.fingerprint())
            study.set_user_attr("metric", metric_)
            study.set_user_attr("base_params", jsonable(base))
            for conf in opts["enqueue"] or []:
                study.enqueue_trial(dict(conf))
        else:
            if study.user_attrs.get("metric") not in (None, metric_):
                raise ValueError(f"study {name!r} optimises {study.user_attrs['metric']!r}, not {metric_!r}: "
                                 f"use another study_name or storage")
            _check_resumed_base(study, base)
            old = study.user_attrs.get("space_fingerprint")
            if old and old != space_obj.fingerprint():
                _check_resumed_space(study, space_obj)
                warnings.warn(f"study {name!r} was created with another search space; continuing with the new one",
                              stacklevel=2)
        _st.recover_dead_trials(study, max_retry=opts["max_retry"])
        _st.requeue_interrupted(study, max_retry=opts["max_retry"])
        optuna.storages.fail_stale_trials(study)

    deadline = None if opts["timeout"] is None else time.time() + float(opts["timeout"])
    threads = threads_per_worker or (max(1, (os.cpu_count() or 1) // nw) if nw > 1 else None)
    job = _Job(data=frame, space=space_obj, base=base, metric=metric_, cv_windows=cvw,
               storage=spec, study_name=name, sampler=opts["sampler"], pruner=opts["pruner"],
               seed=None if opts["seed"] is None else int(opts["seed"]),
               n_total=n_total, deadline=deadline, threads=threads, verbose=verbose, max_retry=opts["max_retry"])
    c = _st.count_trials(study)
    remaining = n_total - c.done - c.running
    ran = 0
    with _torch_threads(threads_per_worker):  # the in-process trials and the refit
        if remaining > 0:
            if verbose:
                print(f"[tune] study {name!r} in {_st.describe_storage(spec)}: {c.done} trials done, "
                      f"running {remaining} more with {min(nw, remaining)} worker(s)", flush=True)
            if nw == 1:
                ran = _run_worker(job, 0, study=study)
            else:
                ran = _launch(job, study, nw, opts["max_retry"], verbose)
        if verbose:
            print(f"[tune] {_progress(study, n_total)}", flush=True)
        return _finish(study, space_obj, base, frame, out, metric_, refit_mode, ran, spec, plots, verbose)


def _fingerprint(frame: pd.DataFrame, base: dict[str, Any]) -> str:
    import hashlib

    h = hashlib.sha1(pd.util.hash_pandas_object(frame, index=True).to_numpy().tobytes())
    h.update(json.dumps(jsonable(base), sort_keys=True).encode())
    return h.hexdigest()[:16]


def _previous_refit(out: Path, study, key: dict[str, Any]):
    """The model a previous run of this study refitted from the same best trial, if any (a rerun
    that ran no new trial then does not train it again)."""
    from ..forecaster import XLSTMForecaster
    from ..persist import ModelFileError

    try:
        prev = json.loads((out / "best.json").read_text())
    except (OSError, ValueError):
        return None
    if prev.get("study_name") != study.study_name or prev.get("refit") != key:
        return None
    try:
        return XLSTMForecaster.load(out / "model")
    except (ModelFileError, OSError, ValueError):
        return None


def _finish(study, space, base, frame, out: Path, metric: str, refit_mode, ran: int, spec, plots: bool,
            verbose: bool) -> TuneResult:
    notes: dict[str, str] = {}
    table = trials_table(study, space)
    files = write_table(table, out)
    imp, why = param_importances(study)
    if why:
        notes["importances"] = why
    files["importances"] = write_json(out / "importances.json", {"importances": imp, "note": why})
    if plots:
        pngs, skipped = save_plots(study, out, imp)
        files.update(pngs)
        notes.update({f"plot {k}": v for k, v in skipped.items()})
    try:
        best = study.best_trial
    except ValueError:
        best = None
        notes["best"] = "no complete trial"
    best_params = best_est_params = estimator = model_path = None
    if best is not None:
        best_params = dict(best.params)
        best_est_params = space.to_estimator_params(best.params, base)
        if refit_mode:
            refit_key = {"mode": refit_mode, "trial": best.number, "data": _fingerprint(frame, base)}
            estimator = _previous_refit(out, study, refit_key)
            if estimator is not None:
                model_path = out / "model"
                notes["refit"] = (f"{refit_mode}: kept out_dir/model, already refitted from trial {best.number} "
                                  f"on the same data")
            else:
                with _quiet(verbose):
                    estimator, refit_params = refit_best(frame, space, base, best, refit_mode)
                model_path = estimator.save(out / "model")
                notes["refit"] = (f"{refit_mode}: max_epochs={refit_params.get('max_epochs')}, "
                                  f"val_size={refit_params.get('val_size')}")
            files["model"] = model_path
    c = _st.count_trials(study)
    summary = {
        "study_name": study.study_name, "storage": _st.describe_storage(spec), "metric": metric,
        "direction": study.direction.name.lower(),
        "trials": {"done": c.done, "complete": c.complete, "pruned": c.pruned, "failed": c.failed,
                   "retried": c.retried, "running": c.running, "waiting": c.waiting},
        "best_trial": None if best is None else best.number,
        "best_value": None if best is None else best.value,
        "best_params": best_params,
        "best_estimator_params": best_est_params,
        "importances": imp, "model_path": model_path, "notes": notes,
        "refit": None if model_path is None else refit_key,
    }
    files["best"] = write_json(out / "best.json", summary)
    return TuneResult(study=study, best_params=best_params, best_value=None if best is None else best.value,
                      best_estimator_params=best_est_params, trials=table, importances=imp, estimator=estimator,
                      model_path=model_path, out_dir=out, files=files, ran=ran, notes=notes)


def _same(a: Any, b: Any) -> bool:
    """Whether two parameter values are equal: a tuple equals the list of the same items (a YAML
    or JSON copy of it); values that cannot be compared (arrays) are not equal."""
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    try:
        return bool(a is b or a == b)
    except Exception:  # noqa: BLE001 - uncomparable values are never the same
        return False


def _conflicts(fixed: Mapping[str, Any], over: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any, Any]]:
    """``(dotted key, fixed value, over value)`` for each value :func:`deep_merge` of ``over``
    into ``fixed`` would replace with another one (nested mappings merge key by key)."""
    out = []
    for k, v in over.items():
        if k not in fixed:
            continue
        mine = fixed[k]
        if isinstance(v, Mapping) and isinstance(mine, Mapping):
            out += _conflicts(mine, v, f"{prefix}{k}.")
        elif not _same(mine, v):
            out.append((f"{prefix}{k}", mine, v))
    return out


def tune_estimator(estimator, df, space, **kwargs) -> TuneResult:
    """:func:`tune` with an estimator's own settings as the fixed base parameters.

    Backs ``XLSTMForecaster.tune``; ``kwargs`` are :func:`tune`'s. The parameters set on the
    estimator (those that differ from its constructor defaults, as scikit-learn compares them)
    are fixed in every trial. A trial's value of a parameter comes from, first to last:

    * the search ``space``, for the parameters it tunes: the space is what is searched, so it
      wins over a value set on the estimator, without a message;
    * the estimator, for the parameters set on it;
    * ``base_params``, for those the estimator leaves at their defaults; a key it gives another
      value than the one set on the estimator raises a ``ValueError`` (set the value on the
      estimator, or drop the key from ``base_params``) rather than one of the two being silently
      ignored; an equal value is accepted. Nested mappings (``model_params``, ``trainer_kwargs``)
      are compared key by key; a ``preset: NAME`` fills in model parameters under both;
    * the config's ``base`` section, then the estimator's defaults.
    """
    import inspect

    sig = inspect.signature(type(estimator).__init__)
    base = {}
    for name, value in estimator.get_params(deep=False).items():
        default = sig.parameters[name].default if name in sig.parameters else inspect.Parameter.empty
        if not _same(value, default):
            base[name] = value
    over = kwargs.pop("base_params", None) or {}
    if not isinstance(over, Mapping):
        raise ValueError(f"base_params must be a mapping of XLSTMForecaster parameters; got {over!r}")
    clashes = _conflicts(base, over)
    if clashes:
        shown = "; ".join(f"{k}: estimator {mine!r}, base_params {theirs!r}" for k, mine, theirs in clashes)
        raise ValueError(f"base_params conflicts with parameter(s) set on the estimator ({shown}); the "
                         f"estimator's settings are the fixed parameters of the search: set the value on the "
                         f"estimator (set_params) or drop {[k for k, _, _ in clashes]} from base_params")
    return tune(df, space, base_params=deep_merge(base, over), **kwargs)

"""The trial objective (fit one forecaster), epoch-level pruning, and samplers/pruners by name."""

from __future__ import annotations

import math
import signal
import threading
import time
import traceback
import warnings
from collections.abc import Mapping
from typing import Any

import optuna
from optuna.exceptions import ExperimentalWarning
from optuna_integration import PyTorchLightningPruningCallback

from .._names import did_you_mean
from .space import SearchSpace
from .storage import tag_worker

__all__ = ["METRICS", "EpochPruningCallback", "TrialSeededSampler", "make_objective", "make_pruner", "make_sampler",
           "make_worker_sampler"]

METRICS = ("val_loss", "mse", "mae", "smape")
SAMPLERS = ("tpe", "random", "qmc")
PRUNERS = ("median", "percentile", "hyperband", "successive_halving", "none")


class EpochPruningCallback(PyTorchLightningPruningCallback):
    """optuna-integration's Lightning pruning callback, also counting the epochs it saw."""

    def __init__(self, trial: optuna.Trial, monitor: str = "val_loss"):
        super().__init__(trial, monitor)
        self.epochs = 0

    def on_validation_end(self, trainer, pl_module) -> None:
        if not trainer.sanity_checking:
            self.epochs = pl_module.current_epoch + 1
        super().on_validation_end(trainer, pl_module)


def _spec(spec: Any, kind: str) -> tuple[str, dict[str, Any]]:
    if spec is None:
        return ("tpe" if kind == "sampler" else "median"), {}
    if isinstance(spec, str):
        return spec.lower(), {}
    if isinstance(spec, Mapping):
        d = dict(spec)
        name = d.pop("name", None)
        if not isinstance(name, str):
            raise ValueError(f"{kind} {spec!r} needs a 'name'")
        return name.lower(), d
    raise ValueError(f"{kind} must be a name, a mapping {{name: ..., option: value}} or an optuna {kind}; got {spec!r}")


def make_sampler(spec: Any = None, seed: int | None = None) -> optuna.samplers.BaseSampler:
    """``"tpe"`` (default: multivariate, grouped for conditional spaces, constant liar for parallel
    workers), ``"random"``, ``"qmc"``; a mapping adds options; an optuna sampler is reseeded."""
    if isinstance(spec, optuna.samplers.BaseSampler):
        if seed is not None:
            spec.reseed_rng()
        return spec
    name, kw = _spec(spec, "sampler")
    kw.setdefault("seed", seed)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ExperimentalWarning)
            if name == "tpe":
                kw.setdefault("multivariate", True)
                kw.setdefault("group", kw["multivariate"])
                kw.setdefault("constant_liar", True)
                return optuna.samplers.TPESampler(**kw)
            if name == "random":
                return optuna.samplers.RandomSampler(**kw)
            if name == "qmc":
                return optuna.samplers.QMCSampler(**kw)
    except TypeError as e:
        raise ValueError(f"sampler {name!r}: bad option: {e}") from None
    raise ValueError(f"unknown sampler {name!r}{did_you_mean([name], SAMPLERS)}; valid samplers: {list(SAMPLERS)}")


class TrialSeededSampler(optuna.samplers.BaseSampler):
    """A named sampler built afresh for each trial, seeded from ``(seed, trial number)``.

    Workers that run the same command share a seed; a sampler seeded once per process would draw
    the same random configurations in each of them (all of TPE's startup trials). Trial numbers
    are unique within a study, so each trial gets its own draws, and a study run by one worker
    stays reproducible (also across resumes).
    """

    def __init__(self, spec: Any, seed: int):
        self._spec, self._seed = spec, int(seed)
        self._number: int | None = None
        self._inner = make_sampler(spec, self._seed)

    def _for(self, trial: optuna.trial.FrozenTrial) -> optuna.samplers.BaseSampler:
        if trial.number != self._number:
            import numpy as np

            seed = int(np.random.SeedSequence([self._seed & (2**63 - 1), trial.number]).generate_state(1)[0])
            self._inner, self._number = make_sampler(self._spec, seed), trial.number
        return self._inner

    def infer_relative_search_space(self, study, trial):
        return self._for(trial).infer_relative_search_space(study, trial)

    def sample_relative(self, study, trial, search_space):
        return self._for(trial).sample_relative(study, trial, search_space)

    def sample_independent(self, study, trial, param_name, param_distribution):
        return self._for(trial).sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study, trial) -> None:
        self._for(trial).before_trial(study, trial)

    def after_trial(self, study, trial, state, values) -> None:
        self._for(trial).after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self._inner.reseed_rng()


def make_worker_sampler(spec: Any = None, seed: int | None = None) -> optuna.samplers.BaseSampler:
    """The sampler of one worker process: ``"tpe"``/``"random"`` with a seed are seeded per trial
    (:class:`TrialSeededSampler`); ``"qmc"`` keeps the one seed (its workers share one sequence
    through the study); without a seed, or for an optuna sampler object, :func:`make_sampler`."""
    name = _spec(spec, "sampler")[0] if not isinstance(spec, optuna.samplers.BaseSampler) else None
    if isinstance(spec, Mapping) and "seed" in spec:  # {name: tpe, seed: 5}: the base seed
        spec = dict(spec)
        own = spec.pop("seed")
        seed = seed if own is None else own
    if seed is None or name not in ("tpe", "random"):
        return make_sampler(spec, seed)
    return TrialSeededSampler(spec, seed)


def make_pruner(spec: Any = None, max_epochs: int | None = None) -> optuna.pruners.BasePruner:
    """``"median"`` (default), ``"percentile"``, ``"hyperband"`` (max_resource = max_epochs),
    ``"successive_halving"``, ``"none"``; a mapping adds options (e.g. ``n_warmup_steps``)."""
    if isinstance(spec, optuna.pruners.BasePruner):
        return spec
    if spec is False:
        return optuna.pruners.NopPruner()
    name, kw = _spec(spec, "pruner")
    try:
        if name == "median":
            kw.setdefault("n_startup_trials", 5)
            kw.setdefault("n_warmup_steps", 1)
            return optuna.pruners.MedianPruner(**kw)
        if name == "percentile":
            kw.setdefault("percentile", 25.0)
            kw.setdefault("n_startup_trials", 5)
            kw.setdefault("n_warmup_steps", 1)
            return optuna.pruners.PercentilePruner(**kw)
        if name == "hyperband":
            kw.setdefault("min_resource", 1)
            kw.setdefault("max_resource", max_epochs or "auto")
            kw.setdefault("reduction_factor", 3)
            return optuna.pruners.HyperbandPruner(**kw)
        if name in ("successive_halving", "sha", "asha"):
            return optuna.pruners.SuccessiveHalvingPruner(**kw)
        if name in ("none", "nop", "off"):
            return optuna.pruners.NopPruner()
    except TypeError as e:
        raise ValueError(f"pruner {name!r}: bad option: {e}") from None
    raise ValueError(f"unknown pruner {name!r}{did_you_mean([name], PRUNERS)}; valid pruners: {list(PRUNERS)}")


def _reason(e: BaseException) -> str:
    if isinstance(e, FloatingPointError):
        return f"non-finite loss (NaN/inf): {e}"
    tail = "".join(traceback.format_exception_only(type(e), e)).strip()
    return tail[:2000]


def make_objective(df, space: SearchSpace, base: Mapping[str, Any], *, metric: str = "val_loss",
                   cv_windows: int = 1, prune: bool = True, on_start=None):
    """``objective(trial) -> float``: sample, fit an :class:`XLSTMForecaster`, return ``metric``.

    ``val_loss`` is the best per-epoch validation loss of the fit (the early-stopping split at
    the end of each series, on the scaled data); ``mse``/``mae``/``smape`` come from a backtest of
    ``cv_windows`` windows at the end of the data (the model is fitted before the first cutoff).
    Pruning always watches the per-epoch ``val_loss``. A trial that raises (or whose loss turns
    NaN) records ``user_attrs["fail_reason"]`` and re-raises, so ``optimize(catch=...)`` marks it
    failed and the study goes on. ``on_start(trial)`` is called once the trial records its worker
    (the workers release their budget lock there).
    """
    from ..forecaster import XLSTMForecaster
    from ..metrics import METRICS as METRIC_FNS

    def objective(trial: optuna.Trial) -> float:
        tag_worker(trial)
        if on_start is not None:
            on_start(trial)
        if "fail_reason" in trial.user_attrs:  # a retry inherits its original's attrs
            trial.set_user_attr("fail_reason", None)
        pruning = EpochPruningCallback(trial, "val_loss") if prune else None
        t0 = time.perf_counter()
        sigint = signal.getsignal(signal.SIGINT) if threading.current_thread() is threading.main_thread() else None
        try:
            values = space.suggest(trial)
            params = space.to_estimator_params(values, base)
            tk = dict(params.get("trainer_kwargs") or {})
            if pruning is not None:
                tk["callbacks"] = list(tk.get("callbacks") or []) + [pruning]
            params["trainer_kwargs"] = tk
            params.setdefault("verbose", False)
            est = XLSTMForecaster(**params)
            if metric == "val_loss":
                est.fit(df)
                value = None if est.fit_report_ is None else est.fit_report_.best_val_loss
                if value is None:
                    raise ValueError("metric 'val_loss' is unavailable: the fit had no validation split "
                                     "(val_size=0, series too short, or an untrainable model)")
            else:
                cv = est.cross_validation(df, n_windows=cv_windows)  # unfitted: trains once, before the first cutoff
                value = METRIC_FNS[metric](cv["y"].to_numpy(), cv["y_hat"].to_numpy())
            value = float(value)
            if not math.isfinite(value):
                raise FloatingPointError(f"metric {metric} is {value}")
        except optuna.TrialPruned:
            if pruning is not None:
                trial.set_user_attr("epochs", pruning.epochs)
            trial.set_user_attr("fit_seconds", round(time.perf_counter() - t0, 3))
            raise
        except Exception as e:
            trial.set_user_attr("fail_reason", _reason(e))
            trial.set_user_attr("fit_seconds", round(time.perf_counter() - t0, 3))
            raise
        except (KeyboardInterrupt, SystemExit) as e:
            # Ctrl-C: Lightning turns it into sys.exit(1). Record the trial as interrupted (tune
            # queues it again when resumed) and stop the study with a KeyboardInterrupt.
            trial.set_user_attr("fail_reason", f"interrupted ({type(e).__name__})")
            trial.set_user_attr("interrupted", True)
            raise KeyboardInterrupt from e
        finally:
            if sigint is not None and signal.getsignal(signal.SIGINT) != sigint:
                signal.signal(signal.SIGINT, sigint)  # Lightning leaves SIGINT ignored after an interrupt
        rep = est.fit_report_
        if rep is not None:
            trial.set_user_attr("epochs", int(rep.epochs))
            trial.set_user_attr("best_epoch", None if rep.best_epoch is None else int(rep.best_epoch))
            if rep.best_val_loss is not None:
                trial.set_user_attr("val_loss", float(rep.best_val_loss))
        trial.set_user_attr("n_params", int(est.model_.num_parameters()) if hasattr(est.model_, "num_parameters") else None)
        trial.set_user_attr("fit_seconds", round(time.perf_counter() - t0, 3))
        return value

    return objective

"""Results of a study: trials table (CSV + Parquet), parameter importances, plots, refit."""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
from optuna.trial import TrialState

from .._atomic import atomic_write, atomic_write_text
from .space import SearchSpace

__all__ = ["jsonable", "param_importances", "refit_best", "save_plots", "trials_table"]


def jsonable(obj: Any) -> Any:
    """A JSON-safe copy: non-finite floats -> None, unknown objects -> their repr."""
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, (bool, str)) or obj is None:
        return obj
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, Path):
        return str(obj)
    return repr(obj)


def trials_table(study: optuna.Study, space: SearchSpace | None = None) -> pd.DataFrame:
    """One row per trial: number, state, value, timing, epochs, fail reason, retry links, params.

    Parameter columns are ``param.<name>`` (labels as the sampler saw them; empty where a
    conditional parameter was inactive).
    """
    trials = study.get_trials(deepcopy=False)
    names = list(space.names) if space is not None else []
    for t in trials:
        for n in t.params:
            if n not in names:
                names.append(n)
    retried_by: dict[int, int] = {}
    for t in trials:
        hist = t.system_attrs.get("retry_history") or []
        if hist:
            retried_by[int(hist[-1])] = t.number
    rows = []
    for t in trials:
        ua = t.user_attrs
        reason = ua.get("fail_reason")
        if t.state == TrialState.FAIL and not reason:
            reason = "no heartbeat from its worker (killed or lost)" if t.number in retried_by else "failed"
        epochs = ua.get("epochs")
        if epochs is None and t.intermediate_values:
            epochs = len(t.intermediate_values)
        dur = None
        if t.datetime_start is not None and t.datetime_complete is not None:
            dur = (t.datetime_complete - t.datetime_start).total_seconds()
        row = {
            "number": t.number,
            "state": t.state.name,
            "value": t.value if t.state in (TrialState.COMPLETE, TrialState.PRUNED) else None,
            "epochs": epochs,
            "best_epoch": ua.get("best_epoch"),
            "val_loss": ua.get("val_loss"),
            "n_params": ua.get("n_params"),
            "duration_s": dur,
            "datetime_start": t.datetime_start,
            "datetime_complete": t.datetime_complete,
            "worker": ua.get("worker"),
            "retry_of": t.system_attrs.get("failed_trial"),
            "retried_as": retried_by.get(t.number),
            "fail_reason": reason if t.state == TrialState.FAIL else None,
        }
        for n in names:
            row[f"param.{n}"] = t.params.get(n)
        rows.append(row)
    cols = ["number", "state", "value", "epochs", "best_epoch", "val_loss", "n_params", "duration_s",
            "datetime_start", "datetime_complete", "worker", "retry_of", "retried_as", "fail_reason"]
    df = pd.DataFrame(rows, columns=cols + [f"param.{n}" for n in names])
    for c in ("value", "val_loss", "duration_s"):
        df[c] = pd.to_numeric(df[c], errors="coerce").astype("float64")
    for c in ("epochs", "best_epoch", "n_params", "retry_of", "retried_as"):
        df[c] = pd.array(df[c].tolist(), dtype="Int64") if len(df) else df[c].astype("Int64")
    for c in ("datetime_start", "datetime_complete"):
        df[c] = pd.to_datetime(df[c])
    for n in names:  # int params stay ints when some trial lacks them (pandas would make them 8.0)
        vals = [t.params.get(n) for t in trials]
        given = [v for v in vals if v is not None]
        if given and all(isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) for v in given):
            df[f"param.{n}"] = pd.array(vals, dtype="Int64")
    return df


def _arrow_safe(df: pd.DataFrame) -> pd.DataFrame:
    """Mixed-type object columns (e.g. a categorical of bools and strings) become strings."""
    out = df.copy()
    for c in out.columns:
        if out[c].dtype == object:
            kind = pd.api.types.infer_dtype(out[c], skipna=True)
            if kind not in ("string", "empty", "boolean", "integer", "floating"):
                out[c] = pd.array([None if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)
                                   for v in out[c]], dtype="string")
    return out


def write_table(df: pd.DataFrame, out_dir: Path) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    # Workers sharing out_dir each write the reports when they end: all-or-nothing writes.
    csv = atomic_write(out_dir / "trials.csv", lambda p: df.to_csv(p, index=False))
    pq = atomic_write(out_dir / "trials.parquet", lambda p: _arrow_safe(df).to_parquet(p, index=False))
    return {"trials_csv": csv, "trials_parquet": pq}


def param_importances(study: optuna.Study, seed: int = 0) -> tuple[dict[str, float], str | None]:
    """fANOVA importances over the complete trials, or ``({}, why not)`` when they can't be computed."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(complete) < 2:
        return {}, f"needs at least 2 complete trials (have {len(complete)})"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            evaluator = optuna.importance.FanovaImportanceEvaluator(seed=seed)
            imp = optuna.importance.get_param_importances(study, evaluator=evaluator)
    except (RuntimeError, ValueError, ZeroDivisionError) as e:
        return {}, f"not computable: {e}"
    imp = {k: float(v) for k, v in imp.items() if math.isfinite(v)}
    if not imp:
        return {}, "no parameter varied across the complete trials (or only conditional ones did)"
    return imp, None


def save_plots(study: optuna.Study, out_dir: Path, importances: dict[str, float] | None = None) -> tuple[dict[str, Path], dict[str, str]]:
    """Optimisation history, parallel coordinates (and importances) as PNG; returns (files, skipped)."""
    # Optuna draws with pyplot and sets its own style: the session's backend is left alone (no
    # matplotlib.use; headless sessions fall back to Agg by themselves), the style is undone by
    # rc_context, and every figure is closed after its save.
    import matplotlib
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as ovm

    files: dict[str, Path] = {}
    skipped: dict[str, str] = {}
    n_complete = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
    jobs = [("optimization_history", ovm.plot_optimization_history, 1),
            ("parallel_coordinate", ovm.plot_parallel_coordinate, 1)]
    if importances:
        jobs.append(("param_importances", ovm.plot_param_importances, 2))
    user_figures = set(plt.get_fignums())
    for name, fn, need in jobs:
        if n_complete < need:
            skipped[name] = f"needs {need} complete trial(s)"
            continue
        try:
            with warnings.catch_warnings(), matplotlib.rc_context():
                warnings.simplefilter("ignore")
                ax = fn(study)
                fig = (ax.flat[0] if isinstance(ax, np.ndarray) else ax).figure
                fig.set_size_inches(max(fig.get_size_inches()[0], 9), max(fig.get_size_inches()[1], 5))
                path = atomic_write(out_dir / f"{name}.png",
                               lambda p, fig=fig: fig.savefig(p, dpi=110, bbox_inches="tight", format="png"))
                plt.close(fig)
            files[name] = path
        except Exception as e:  # noqa: BLE001 - a plot must never lose the results
            skipped[name] = f"{type(e).__name__}: {e}"
            for num in set(plt.get_fignums()) - user_figures:  # only what the failed plot opened
                plt.close(num)
    return files, skipped


def refit_best(df, space: SearchSpace, base: Mapping[str, Any], best: optuna.trial.FrozenTrial,
               mode: str = "full"):
    """Fit the best configuration again; returns ``(estimator, estimator params)``.

    ``mode="full"``: on all of ``df`` (train + validation, ``val_size=0``) for the best trial's
    best epoch count; ``"same"``: exactly as in the trial (with its validation split).
    """
    from ..forecaster import XLSTMForecaster

    params = space.to_estimator_params(best.params, base)
    if mode == "full":
        best_epoch = best.user_attrs.get("best_epoch")
        if best_epoch is not None:
            params["max_epochs"] = int(best_epoch) + 1
        params["val_size"] = 0
    elif mode != "same":
        raise ValueError(f"refit must be True/'full', 'same' or False; got {mode!r}")
    est = XLSTMForecaster(**params).fit(df)
    return est, params


def write_json(path: Path, data: Mapping[str, Any]) -> Path:
    return atomic_write_text(path, json.dumps(jsonable(data), indent=2) + "\n")

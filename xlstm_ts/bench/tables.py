"""Result tables: per-run rows, mean ± std over seeds per horizon, horizon averages.

Every table is a pandas DataFrame written as Markdown, CSV and Parquet (pyarrow).
Standard deviations are sample std (``ddof=1``) over seeds; empty with one seed.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from xlstm_ts._atomic import atomic_write, atomic_write_text
from xlstm_ts.bench.published import horizons_for
from xlstm_ts.bench.runner import DROP_LAST_BATCHES

__all__ = ["averages_frame", "droplast_frame", "fmt", "folds_frame", "folds_markdown", "markdown_table",
           "model_columns", "rows_from_runs_frame", "runs_frame", "selection_frame", "selection_markdown", "shared_lookback",
           "summary_frame", "write_frame"]

KEYS = ["dataset", "regime", "lookback", "label"]
DROPLAST_COLUMNS = [f"mse_droplast_{b}" for b in DROP_LAST_BATCHES]

RUN_COLUMNS = [
    "dataset", "regime", "lookback", "horizon", "label", "model", "seed", "mse", "mae",
    "val_mse", "val_mae", "epochs", "best_epoch", "best_val_loss", "train_seconds",
    "eval_seconds", "wall_seconds", "params", "test_windows", "protocol", "source", "target",
    "n_channels", "hparams", "train", "signature", "data_digest", "machine", "started", "finished",
]


# a validation-fold cell (fold k >= 1, selection only) has no test metrics
FOLD_RUN_COLUMNS = [c for c in RUN_COLUMNS if c not in ("mse", "mae", "test_windows")] + ["val_fold"]


def runs_frame(rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """One row per finished cell (status ``ok``), nested settings as JSON strings."""
    df = _records_frame([r for r in rows if r.get("status") == "ok"], RUN_COLUMNS, drop_last=True)
    if not df.empty:
        df["test_windows"] = df["test_windows"].astype("int64")
    return df


def fold_runs_frame(rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """One row per finished validation-fold cell (``val_fold >= 1``): validation metrics only.

    Written beside ``runs.*`` so that a report directory keeps the fold cells that
    :func:`folds_frame` and :func:`selection_frame` rank on after the run directory is gone
    (:func:`rows_from_runs_frame` reads both tables back).
    """
    return _records_frame([r for r in rows if r.get("status") == "ok" and r.get("val_fold")],
                          FOLD_RUN_COLUMNS, drop_last=False)


def _records_frame(rows: Sequence[dict[str, Any]], columns: list[str], *, drop_last: bool) -> pd.DataFrame:
    recs = []
    for r in rows:
        rec = {c: r.get(c) for c in columns}
        rec["hparams"] = json.dumps(r.get("hparams", {}), sort_keys=True)
        rec["train"] = json.dumps(r.get("train", {}), sort_keys=True)
        if drop_last:
            diag = r.get("diag_drop_last_mse") or {}
            for b in DROP_LAST_BATCHES:
                rec[f"mse_droplast_{b}"] = diag.get(str(b), np.nan)
        recs.append(rec)
    df = pd.DataFrame.from_records(recs, columns=columns + (DROPLAST_COLUMNS if drop_last else []))
    if df.empty:
        return df
    ints = [c for c in ("lookback", "horizon", "seed", "epochs", "params", "n_channels", "val_fold") if c in df]
    df[ints] = df[ints].astype("int64")
    df["best_epoch"] = df["best_epoch"].astype("Int64")
    order = ["dataset", "regime", "lookback", "horizon", "label"] + (["val_fold"] if "val_fold" in df else [])
    return df.sort_values(order + ["seed"], ignore_index=True)


def rows_from_runs_frame(runs: pd.DataFrame, recorded_in: str = "") -> list[dict[str, Any]]:
    """Result rows back from a ``runs`` or ``fold_runs`` table (the inverse of
    :func:`runs_frame` and :func:`fold_runs_frame`).

    A report directory keeps its ``runs.parquet`` after the run directory is gone; these rows
    let its cells enter new tables next to fresh ones. They hold what the table holds (metrics,
    settings, signature, times), not the sample forecasts, so they add no plots.
    ``recorded_in`` is noted in each row.
    """
    rows = []
    for rec in runs.to_dict("records"):
        row: dict[str, Any] = {}
        for c in RUN_COLUMNS + ["val_fold"]:
            if c not in rec:
                continue
            v = rec.get(c)
            if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
                row[c] = None
            elif c in ("hparams", "train"):
                row[c] = json.loads(v)
            elif isinstance(v, np.generic):
                row[c] = v.item()
            else:
                row[c] = v
        diag = {str(b): float(rec[f"mse_droplast_{b}"]) for b in DROP_LAST_BATCHES
                if f"mse_droplast_{b}" in rec and pd.notna(rec[f"mse_droplast_{b}"])}
        if diag:
            row["diag_drop_last_mse"] = diag
        row.update(status="ok", recorded_in=recorded_in)
        rows.append(row)
    return rows


def droplast_frame(runs: pd.DataFrame) -> pd.DataFrame:
    """Diagnostic: mean over seeds of the test MSE with the last partial batch of size B dropped
    (what pre-2024 TSLib-style loaders reported), next to the protocol MSE on all windows."""
    cols = KEYS[:3] + ["horizon", "label"]
    if runs.empty or runs[DROPLAST_COLUMNS].isna().all().all():
        return pd.DataFrame(columns=cols + ["n_seeds", "mse", *DROPLAST_COLUMNS])
    sub = runs.dropna(subset=DROPLAST_COLUMNS, how="all")
    out = sub.groupby(cols, sort=True).agg(
        n_seeds=("seed", "nunique"), test_windows=("test_windows", "first"), mse=("mse", "mean"),
        **{c: (c, "mean") for c in DROPLAST_COLUMNS}).reset_index()
    return out


def _std(s: pd.Series) -> float:
    return float(s.std(ddof=1)) if len(s) > 1 else float("nan")


def summary_frame(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean ± std over seeds per (dataset, regime, L, H, label)."""
    cols = KEYS[:3] + ["horizon", "label"]
    if runs.empty:
        return pd.DataFrame(columns=cols + ["n_seeds", "mse_mean", "mse_std", "mae_mean", "mae_std"])
    g = runs.groupby(cols, sort=True)
    out = g.agg(
        n_seeds=("seed", "nunique"),
        mse_mean=("mse", "mean"), mse_std=("mse", _std),
        mae_mean=("mae", "mean"), mae_std=("mae", _std),
        val_mse_mean=("val_mse", "mean"),
        epochs_mean=("epochs", "mean"),
        wall_seconds_mean=("wall_seconds", "mean"),
        wall_seconds_max=("wall_seconds", "max"),
        test_windows=("test_windows", "first"),
    ).reset_index()
    return out


def averages_frame(runs: pd.DataFrame) -> pd.DataFrame:
    """Average over the dataset's four benchmark horizons per seed, then mean ± std over seeds.

    A seed counts only when it has all four horizons; ``complete`` says whether every
    horizon is present for at least one seed.
    """
    cols = KEYS + ["horizons", "n_seeds", "mse_mean", "mse_std", "mae_mean", "mae_std",
                   "val_mse_mean", "wall_seconds_total"]
    if runs.empty:
        return pd.DataFrame(columns=cols)
    recs = []
    for key, grp in runs.groupby(KEYS, sort=True):
        hs = horizons_for(key[0])
        per_seed = []
        for _seed, sg in grp.groupby("seed"):
            sg = sg[sg["horizon"].isin(hs)]
            if set(sg["horizon"]) == set(hs):
                per_seed.append((sg["mse"].mean(), sg["mae"].mean(), sg["val_mse"].mean(),
                                 sg["wall_seconds"].sum()))
        if not per_seed:
            continue
        a = np.array(per_seed)
        recs.append(dict(zip(KEYS, key, strict=True), horizons="/".join(map(str, hs)), n_seeds=len(a),
                         mse_mean=a[:, 0].mean(), mse_std=a[:, 0].std(ddof=1) if len(a) > 1 else np.nan,
                         mae_mean=a[:, 1].mean(), mae_std=a[:, 1].std(ddof=1) if len(a) > 1 else np.nan,
                         val_mse_mean=a[:, 2].mean(), wall_seconds_total=a[:, 3].sum()))
    return pd.DataFrame.from_records(recs, columns=cols)


def _folds_val_mean(folds: pd.DataFrame | None) -> dict[tuple, float]:
    """Per (dataset, regime, look-back, label): the horizon average of ``val_mse_folds_mean``,
    only where every benchmark horizon of the dataset has it."""
    if folds is None or folds.empty:
        return {}
    out = {}
    for key, grp in folds.dropna(subset=["val_mse_folds_mean"]).groupby(KEYS, sort=True):
        hs = horizons_for(key[0])
        grp = grp[grp["horizon"].isin(hs)]
        if set(grp["horizon"]) == set(hs):
            out[key] = float(grp["val_mse_folds_mean"].mean())
    return out


def selection_frame(averages: pd.DataFrame, folds: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per (dataset, regime), the model a user would deploy: lowest mean *validation* MSE.

    Look-backs of one regime compete (a look-back is a hyper-parameter; validation spans do not
    depend on it: they start ``L`` rows before their border). The choice looks at validation
    only (``val_mse_mean``, the horizon average of the best-validation weights, mean over
    seeds); its test MSE is what that choice scores. The lowest test MSE among the same models
    is shown beside it for information, never used.

    With ``folds`` (:func:`folds_frame`), a group whose every candidate has validation-fold
    cells at every horizon is chosen on the fold mean instead (``selected_on`` names the folds;
    ``chosen_val_mse`` is then that mean); a group where some candidate lacks them is chosen on
    the protocol's split alone, so that all candidates are judged on the same windows.
    """
    cols = ["dataset", "regime", "n_models", "selected_on", "chosen", "chosen_lookback", "chosen_n_seeds",
            "chosen_val_mse", "chosen_mse", "chosen_mse_std", "test_best", "test_best_lookback",
            "test_best_mse"]
    on_folds = _folds_val_mean(folds)
    fold_names = ",".join(c.removeprefix("val_mse_fold") for c in (folds.columns if folds is not None else [])
                          if c.startswith("val_mse_fold") and c != "val_mse_folds_mean")
    recs = []
    if not averages.empty:
        for key, grp in averages.groupby(["dataset", "regime"], sort=True):
            grp = grp.dropna(subset=["val_mse_mean"])
            if grp.empty:
                continue
            fold_val = grp.apply(lambda r: on_folds.get(tuple(r[k] for k in KEYS), np.nan), axis=1)
            if fold_val.notna().all():
                score, selected_on = fold_val, f"folds {fold_names}"
            else:
                score, selected_on = grp["val_mse_mean"], "fold 0"
            ch = grp.loc[score.idxmin()]
            tb = grp.loc[grp["mse_mean"].idxmin()]
            recs.append(dict(dataset=key[0], regime=key[1], n_models=len(grp), selected_on=selected_on,
                             chosen=ch["label"], chosen_lookback=int(ch["lookback"]),
                             chosen_n_seeds=int(ch["n_seeds"]), chosen_val_mse=score[ch.name],
                             chosen_mse=ch["mse_mean"], chosen_mse_std=ch["mse_std"], test_best=tb["label"],
                             test_best_lookback=int(tb["lookback"]), test_best_mse=tb["mse_mean"]))
    return pd.DataFrame.from_records(recs, columns=cols)


def folds_frame(rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """Validation MSE per validation fold (fold 0: the protocol's split), mean over seeds.

    One row per (dataset, regime, look-back, label, horizon): ``val_mse_fold<k>`` and
    ``n_seeds_fold<k>`` for every fold present, and ``val_mse_folds_mean``, the mean over the
    folds of the seed means — defined only when every fold of the table has the row. Test
    metrics are not used. Empty when no row comes from a fold ``k >= 1``.
    """
    ok = [r for r in rows if r.get("status") == "ok" and r.get("val_mse") is not None]
    if not any(r.get("val_fold") for r in ok):
        return pd.DataFrame(columns=KEYS + ["horizon", "val_mse_folds_mean"])
    df = pd.DataFrame.from_records(
        [{**{k: r[k] for k in KEYS + ["horizon", "seed", "val_mse"]}, "fold": int(r.get("val_fold") or 0)}
         for r in ok])
    keys = KEYS + ["horizon"]
    agg = df.groupby(keys + ["fold"], sort=True)["val_mse"].agg(["mean", "count"]).reset_index()
    wide = agg.pivot_table(index=keys, columns="fold", values=["mean", "count"])
    folds = sorted(agg["fold"].unique())
    out = pd.DataFrame(index=wide.index)
    for k in folds:
        out[f"n_seeds_fold{k}"] = wide[("count", k)].astype("Int64")
        out[f"val_mse_fold{k}"] = wide[("mean", k)]
    means = out[[f"val_mse_fold{k}" for k in folds]]
    out["val_mse_folds_mean"] = means.mean(axis=1).where(means.notna().all(axis=1))
    return out.reset_index()


def _captioned(df: pd.DataFrame, caption: str, empty: str, digits: int = 4) -> str:
    """``caption`` above the Markdown table of ``df``, or the ``empty`` line."""
    return f"{empty}\n" if df.empty else f"{caption}\n\n{markdown_table(df, digits=digits)}"


def folds_markdown(folds: pd.DataFrame) -> str:
    return _captioned(
        folds, "Validation MSE per validation fold (mean over seeds; fold 0 is the protocol's "
        "validation split, fold k >= 1 validates k validation lengths earlier, trained on the "
        "rows before it; no test metric is involved). `val_mse_folds_mean` averages the folds "
        "and is empty unless every fold is present.", "_(no validation-fold cells)_")


def selection_markdown(selection: pd.DataFrame) -> str:
    return _captioned(
        selection, "Model selection on validation: per dataset and regime (look-backs compete), "
        "the model with the lowest validation MSE (mean over the four horizons and the seeds; "
        "over the validation folds too where every candidate has fold cells: `selected_on`) "
        "and the test MSE that choice scores. `test_best` (the lowest test MSE) is for "
        "information only: choosing by it would select on test.",
        "_(no complete grid with validation metrics yet)_", digits=3)


def fmt(x: Any, digits: int = 3) -> str:
    """A number for Markdown (``""`` for missing)."""
    if x is None or (isinstance(x, float) and math.isnan(x)) or x is pd.NA:
        return ""
    if isinstance(x, (float, np.floating)):
        return f"{x:.{digits}f}"
    return str(x)


def mean_std(mean: float, std: float, digits: int = 3) -> str:
    if std is None or (isinstance(std, float) and math.isnan(std)):
        return fmt(mean, digits)
    return f"{mean:.{digits}f}±{std:.{digits}f}"


def markdown_table(df: pd.DataFrame, digits: int = 4) -> str:
    """A GitHub pipe table (no extra dependency)."""
    if df.empty:
        return "_(no rows)_\n"
    head = "| " + " | ".join(map(str, df.columns)) + " |"
    sep = "|" + "|".join("---" for _ in df.columns) + "|"
    body = ["| " + " | ".join(fmt(v, digits).replace("|", "\\|") for v in row) + " |"
            for row in df.itertuples(index=False)]
    return "\n".join([head, sep, *body]) + "\n"


def shared_lookback(lookbacks: Iterable[int]) -> int:
    """The look-back most models of a table share (ties: the shortest); a model off it has its
    own look-back and is named ``label (L=...)`` in tables and plots."""
    counts = Counter(int(L) for L in lookbacks)
    return min(counts, key=lambda L: (-counts[L], L))


def model_columns(grp: pd.DataFrame) -> tuple[dict[tuple[str, int], str], str]:
    """Display names of the (label, look-back) pairs of one (dataset, regime) table and its
    look-back caption: a model with its own look-back (``lookback: {long: 720}``) is named
    ``label (L=720)``; the rest share :func:`shared_lookback`."""
    pairs = sorted({(str(lab), int(L)) for lab, L in zip(grp["label"], grp["lookback"], strict=True)})
    common = shared_lookback(L for _, L in pairs)
    names = {(lab, L): lab if L == common else f"{lab} (L={L})" for lab, L in pairs}
    own = sorted({L for _, L in pairs} - {common})
    caption = f"L={common}" + (f"; {', '.join(f'L={L}' for L in own)} where named" if own else "")
    return names, caption


def summary_markdown(summary: pd.DataFrame, averages: pd.DataFrame) -> str:
    """Per (dataset, regime): rows = horizons + avg, columns = models (with their look-back where
    it differs from the regime's), ``MSE±std / MAE±std``."""
    if summary.empty:
        return "_(no finished runs)_\n"
    parts = []
    for (ds, regime), grp in summary.groupby(["dataset", "regime"], sort=True):
        names, caption = model_columns(grp)
        seeds = {k: int(grp[(grp["label"] == k[0]) & (grp["lookback"] == k[1])]["n_seeds"].max())
                 for k in names}
        rows = []
        for H, hg in grp.groupby("horizon"):
            r = {"H": str(H)}
            for (lab, L), name in names.items():
                m = hg[(hg["label"] == lab) & (hg["lookback"] == L)]
                r[name] = "" if m.empty else (
                    f"{mean_std(m['mse_mean'].iloc[0], m['mse_std'].iloc[0])} / "
                    f"{mean_std(m['mae_mean'].iloc[0], m['mae_std'].iloc[0])}")
            rows.append(r)
        av = averages[(averages["dataset"] == ds) & (averages["regime"] == regime)] \
            if not averages.empty else averages
        if not av.empty:
            r = {"H": "**avg**"}
            for (lab, L), name in names.items():
                m = av[(av["label"] == lab) & (av["lookback"] == L)]
                r[name] = "" if m.empty else (
                    f"**{mean_std(m['mse_mean'].iloc[0], m['mse_std'].iloc[0])}** / "
                    f"{mean_std(m['mae_mean'].iloc[0], m['mae_std'].iloc[0])}")
            rows.append(r)
        t = pd.DataFrame(rows).rename(columns={name: f"{name} (n={seeds[k]})" for k, name in names.items()})
        parts.append(f"### {ds}, {regime} look-back ({caption}): test MSE / MAE, mean±std over seeds\n\n"
                     + markdown_table(t))
    return "\n".join(parts)


def write_frame(df: pd.DataFrame, stem: Path, markdown: str | None = None) -> list[Path]:
    """``stem.csv``, ``stem.parquet`` and ``stem.md`` (``markdown`` or a plain pipe table)."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.with_suffix(".csv"), stem.with_suffix(".parquet"), stem.with_suffix(".md")]
    atomic_write(paths[0], lambda p: df.to_csv(p, index=False))
    atomic_write(paths[1], lambda p: df.to_parquet(p, engine="pyarrow", index=False))
    atomic_write_text(paths[2], markdown if markdown is not None else markdown_table(df))
    return paths

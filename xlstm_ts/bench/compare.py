"""Measured results against the published numbers (``published.py``) and the issue targets."""

from __future__ import annotations

import pandas as pd

from xlstm_ts.bench.published import (
    SAME_MODEL,
    TARGET_SEEDS,
    TARGETS,
    published,
    published_avg,
)
from xlstm_ts.bench.tables import fmt, markdown_table, model_columns

__all__ = ["comparison_frame", "comparison_markdown", "targets_frame", "targets_markdown"]


def comparison_frame(summary: pd.DataFrame, averages: pd.DataFrame) -> pd.DataFrame:
    """Long format: each measured (dataset, regime, L, label, H or ``avg``) × each published
    source with that dataset/regime/horizon; ``d_mse = ours - ref`` (negative = better)."""
    cols = ["dataset", "regime", "lookback", "label", "horizon", "n_seeds", "mse", "mae", "ref",
            "ref_mse", "ref_mae", "d_mse", "d_mse_pct", "d_mae", "same_model"]
    recs = []
    for r in summary.itertuples(index=False):
        for src, rows in published(r.dataset, r.regime).items():
            if r.horizon not in rows:
                continue
            rm, ra = rows[r.horizon]
            recs.append(dict(
                dataset=r.dataset, regime=r.regime, lookback=int(r.lookback), label=r.label,
                horizon=str(r.horizon), n_seeds=int(r.n_seeds), mse=r.mse_mean, mae=r.mae_mean,
                ref=src, ref_mse=rm, ref_mae=ra, d_mse=r.mse_mean - rm,
                d_mse_pct=100 * (r.mse_mean - rm) / rm,
                d_mae=None if ra is None else r.mae_mean - ra,
                same_model=SAME_MODEL.get(r.regime, {}).get(r.label) == src))
    for r in averages.itertuples(index=False):
        for src, rm in published_avg(r.dataset, r.regime).items():
            rows = published(r.dataset, r.regime).get(src)
            ra = None
            if rows and all(v[1] is not None for v in rows.values()):
                ra = sum(v[1] for v in rows.values()) / len(rows)
            recs.append(dict(
                dataset=r.dataset, regime=r.regime, lookback=int(r.lookback), label=r.label,
                horizon="avg", n_seeds=int(r.n_seeds), mse=r.mse_mean, mae=r.mae_mean, ref=src,
                ref_mse=rm, ref_mae=ra, d_mse=r.mse_mean - rm, d_mse_pct=100 * (r.mse_mean - rm) / rm,
                d_mae=None if ra is None else r.mae_mean - ra,
                same_model=SAME_MODEL.get(r.regime, {}).get(r.label) == src))
    df = pd.DataFrame.from_records(recs, columns=cols)
    for c in ("ref_mae", "d_mae"):
        df[c] = df[c].astype("float64")
    return df


def comparison_markdown(summary: pd.DataFrame, averages: pd.DataFrame) -> str:
    """Per (dataset, regime): rows = H + avg; our models' MSE (with their look-back where it
    differs from the regime's) with Δ to the best published MSE of the row, then the published
    columns."""
    if summary.empty:
        return "_(no finished runs)_\n"
    parts = []
    for (ds, regime), grp in summary.groupby(["dataset", "regime"], sort=True):
        names, caption = model_columns(grp)
        refs = published(ds, regime)
        avg_refs = published_avg(ds, regime)
        if not refs:
            parts.append(f"### {ds}, {regime} ({caption})\n\nNo published numbers collected for this "
                         "dataset/regime.\n")
            continue
        rows = []
        for H in sorted(set(grp["horizon"])):
            best = min((v[H][0] for v in refs.values() if H in v), default=None)
            r = {"H": str(H)}
            for (lab, L), name in names.items():
                m = grp[(grp["label"] == lab) & (grp["lookback"] == L) & (grp["horizon"] == H)]
                r[name] = "" if m.empty else _with_delta(m["mse_mean"].iloc[0], best)
            for src, v in refs.items():
                r[src] = fmt(v[H][0]) if H in v else ""
            rows.append(r)
        av = averages[(averages["dataset"] == ds) & (averages["regime"] == regime)] \
            if not averages.empty else averages
        if not av.empty:
            best = min(avg_refs.values())
            r = {"H": "**avg**"}
            for (lab, L), name in names.items():
                m = av[(av["label"] == lab) & (av["lookback"] == L)]
                r[name] = "" if m.empty else _with_delta(m["mse_mean"].iloc[0], best)
            for src in refs:
                r[src] = fmt(avg_refs[src])
            rows.append(r)
            if "xLSTM-Mixer †" in avg_refs:
                for row in rows:
                    row["xLSTM-Mixer †"] = fmt(avg_refs["xLSTM-Mixer †"]) if row["H"] == "**avg**" else ""
        t = pd.DataFrame(rows)
        parts.append(f"### {ds}, {regime} look-back (ours {caption}): test MSE, ours (Δ to the best "
                     "published MSE of the row) | published\n\n" + markdown_table(t))
    return "\n".join(parts)


def _with_delta(mse: float, best: float | None) -> str:
    if best is None:
        return fmt(mse)
    return f"{mse:.3f} ({mse - best:+.3f})"


def targets_frame(averages: pd.DataFrame) -> pd.DataFrame:
    """Issue targets (long look-back, avg MSE over 4 horizons, mean of 3 seeds) per model."""
    cols = ["dataset", "lookback", "label", "n_seeds", "mse_mean", "mse_std", "target", "met",
            "gap", "gap_pct"]
    recs = []
    if not averages.empty:
        for r in averages[averages["regime"] == "long"].itertuples(index=False):
            if r.dataset not in TARGETS:
                continue
            t = TARGETS[r.dataset]
            met = bool(r.mse_mean <= t)
            status = ("yes" if met else "no") + ("" if r.n_seeds >= TARGET_SEEDS else
                                                  f" ({r.n_seeds} of {TARGET_SEEDS} seeds)")
            recs.append(dict(dataset=r.dataset, lookback=int(r.lookback), label=r.label,
                             n_seeds=int(r.n_seeds), mse_mean=r.mse_mean, mse_std=r.mse_std,
                             target=t, met=status, gap=r.mse_mean - t,
                             gap_pct=100 * (r.mse_mean - t) / t))
    return pd.DataFrame.from_records(recs, columns=cols)


def targets_markdown(targets: pd.DataFrame) -> str:
    if targets.empty:
        return "_(no complete long look-back grid for a dataset with a target yet)_\n"
    t = targets.copy()
    t["gap"] = [f"{g:+.3f} ({p:+.1f}%)" for g, p in zip(t["gap"], t["gap_pct"], strict=True)]
    t = t.drop(columns=["gap_pct"]).rename(columns={"gap": "gap (MSE − target)"})
    return ("Targets: long look-back, average test MSE over the four horizons, mean of 3 seeds; "
            "gap > 0 = missed by.\n\n" + markdown_table(t))

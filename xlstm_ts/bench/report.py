"""Write every table (Markdown, CSV, Parquet) and the plots of an output directory."""

from __future__ import annotations

from pathlib import Path

from xlstm_ts.bench.compare import (
    comparison_frame,
    comparison_markdown,
    targets_frame,
    targets_markdown,
)
from xlstm_ts.bench.plots import plot_samples
from xlstm_ts.bench.runner import load_rows
from xlstm_ts.bench.tables import (
    averages_frame,
    droplast_frame,
    fold_runs_frame,
    folds_frame,
    folds_markdown,
    markdown_table,
    runs_frame,
    selection_frame,
    selection_markdown,
    summary_frame,
    summary_markdown,
    write_frame,
)

__all__ = ["write_report"]

_DROPLAST_MD = (
    "Diagnostic, not the protocol: test MSE if the last partial test batch of size B were "
    "dropped, as TSLib-style loaders did before 2024-07 (benchmarks.md §1.3); `mse` is the "
    "protocol value over all windows. Mean over seeds.\n\n")

RUNS_MD_COLUMNS = ["dataset", "regime", "lookback", "horizon", "label", "seed", "mse", "mae",
                   "val_mse", "epochs", "best_epoch", "train_seconds", "wall_seconds", "params",
                   "test_windows"]
FOLD_RUNS_MD_COLUMNS = ["dataset", "regime", "lookback", "horizon", "label", "val_fold", "seed", "val_mse",
                        "val_mae", "epochs", "best_epoch", "train_seconds", "wall_seconds"]


def write_report(out_dir: str | Path, report_dir: str | Path | None = None, *,
                 plots: bool = True, include: list[str | Path] | tuple = ()) -> dict[str, list[Path]]:
    """Tables from ``out_dir/cells`` into ``report_dir`` (default ``out_dir``):

    ``runs.*`` (one row per run), ``summary.*`` (mean ± std over seeds per horizon),
    ``averages.*`` (over the four horizons), ``comparison.*`` (vs published numbers),
    ``targets.*`` (issue targets), ``selection.*`` (the model chosen on validation per dataset,
    :func:`~xlstm_ts.bench.tables.selection_frame`), ``folds.*`` (validation MSE per validation
    fold, :func:`~xlstm_ts.bench.tables.folds_frame`; only fold-0 rows enter the other tables),
    ``fold_runs.*`` (one row per validation-fold cell, so that the report keeps what ``folds``
    and ``selection`` rank on) and ``plots/*.png``. ``include`` adds the cells of other
    output directories (e.g. one per dataset) to the same tables.
    """
    out = Path(out_dir)
    rep = Path(report_dir) if report_dir is not None else out
    dirs = [out, *map(Path, include)]
    all_rows = [r for d in dirs for r in load_rows(d)]
    rows = [r for r in all_rows if not r.get("val_fold")]
    runs = runs_frame(rows)
    summary = summary_frame(runs)
    averages = averages_frame(runs)
    comparison = comparison_frame(summary, averages)
    targets = targets_frame(averages)
    written: dict[str, list[Path]] = {}
    runs_md = markdown_table(runs[RUNS_MD_COLUMNS]) if not runs.empty else "_(no finished runs)_\n"
    written["runs"] = write_frame(runs, rep / "runs", runs_md)
    written["summary"] = write_frame(summary, rep / "summary", summary_markdown(summary, averages))
    written["averages"] = write_frame(averages, rep / "averages")
    written["comparison"] = write_frame(comparison, rep / "comparison",
                                        comparison_markdown(summary, averages))
    written["targets"] = write_frame(targets, rep / "targets", targets_markdown(targets))
    fold_runs = fold_runs_frame(all_rows)
    written["fold_runs"] = write_frame(fold_runs, rep / "fold_runs",
                                       markdown_table(fold_runs[FOLD_RUNS_MD_COLUMNS]) if not fold_runs.empty
                                       else "_(no validation-fold cells)_\n")
    folds = folds_frame(all_rows)
    written["folds"] = write_frame(folds, rep / "folds", folds_markdown(folds))
    selection = selection_frame(averages, folds)
    written["selection"] = write_frame(selection, rep / "selection", selection_markdown(selection))
    written["droplast"] = write_frame(droplast_frame(runs), rep / "diagnostic_droplast", _DROPLAST_MD
                                      + markdown_table(droplast_frame(runs)))
    failed = [r for r in all_rows if r.get("status") == "failed"]
    if failed:
        lines = [f"- {r.get('dataset')} L={r.get('lookback')} H={r.get('horizon')} {r.get('label')} "
                 f"seed={r.get('seed')} fold={r.get('val_fold') or 0}: {r.get('error')}" for r in failed]
        (rep / "failed.md").write_text("# Failed cells\n\n" + "\n".join(lines) + "\n")
    written["plots"] = plot_samples(dirs, rep / "plots") if plots else []
    return written

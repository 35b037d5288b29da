"""Write every table (Markdown, CSV, Parquet) and the plots of an output directory."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pandas as pd

from xlstm_ts._atomic import atomic_write_text
from xlstm_ts.bench.compare import (
    comparison_frame,
    comparison_markdown,
    targets_frame,
    targets_markdown,
)
from xlstm_ts.bench.plots import plot_samples
from xlstm_ts.bench.published import horizons_for
from xlstm_ts.bench.runner import CELLS_DIR, load_rows
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

__all__ = ["check_cell_dirs", "unique_rows", "write_report"]

_DROPLAST_MD = (
    "Diagnostic, not the protocol: test MSE if the last partial test batch of size B were "
    "dropped, as TSLib-style loaders did before 2024-07 (benchmarks.md §1.3); `mse` is the "
    "protocol value over all windows. Mean over seeds.\n\n")

RUNS_MD_COLUMNS = ["dataset", "regime", "lookback", "horizon", "label", "seed", "mse", "mae",
                   "val_mse", "epochs", "best_epoch", "train_seconds", "wall_seconds", "params",
                   "test_windows"]
FOLD_RUNS_MD_COLUMNS = ["dataset", "regime", "lookback", "horizon", "label", "val_fold", "seed", "val_mse",
                        "val_mae", "epochs", "best_epoch", "train_seconds", "wall_seconds"]


def check_cell_dirs(out_dir: str | Path | None, include: list[str | Path] | tuple = ()) -> None:
    """Raise ``ValueError`` for a directory without ``cells/``: a mistyped ``--out`` or
    ``--include`` would otherwise give (or add) no rows, and an empty report would silently
    replace a good one. ``out_dir`` may lack it when ``include`` gives the cells (tables of
    other directories merged into a new one); ``None`` checks ``include`` only."""
    dirs = [(Path(d), "--include") for d in include]
    if out_dir is not None and not include:
        dirs.insert(0, (Path(out_dir), "--out"))
    for d, what in dirs:
        if not (d / CELLS_DIR).is_dir():
            raise ValueError(f"{what} {d}: no {CELLS_DIR}/ directory there; give a bench output directory")


def unique_rows(rows_by_dir: list[list[dict[str, Any]]]) -> tuple[list[dict[str, Any]], list[str]]:
    """One row per cell signature: the first directory holding it wins (``--out``, then each
    ``--include`` in order), and a finished row wins over a failed one, as in
    ``scripts/collect_current_cells.py``. Returns the rows and the duplicated cells' names."""
    chosen: dict[str, dict[str, Any]] = {}
    order: list[Any] = []
    dups: list[str] = []
    for rows in rows_by_dir:
        for r in rows:
            sig = r.get("signature")
            if sig is None:  # not a cell the runner wrote: nothing to match it on
                order.append(r)
                continue
            if sig not in chosen:
                chosen[sig] = r
                order.append(sig)
                continue
            dups.append(f"{r.get('dataset')} L={r.get('lookback')} H={r.get('horizon')} {r.get('label')} "
                        f"seed={r.get('seed')}" + (f" fold={r['val_fold']}" if r.get("val_fold") else ""))
            if chosen[sig].get("status") != "ok" and r.get("status") == "ok":
                chosen[sig] = r
    return [chosen[k] if isinstance(k, str) else k for k in order], dups


def _averages_note(runs: pd.DataFrame, averages: pd.DataFrame) -> str:
    """Why the horizon averages (and the tables built on them) have no row, when runs do:
    an average needs every standard horizon of the dataset for a seed (``--horizons 12`` has
    none). Empty unless the averages table is empty, so that other reports stay as they were."""
    if runs.empty or not averages.empty:
        return ""
    need = "; ".join(f"{ds}: H={'/'.join(map(str, horizons_for(ds)))} (ran "
                     f"{'/'.join(map(str, sorted(set(g['horizon']))))})"
                     for ds, g in runs.groupby("dataset", sort=True))
    return f"_(no horizon average: it needs every standard horizon of a dataset for one seed — {need})_\n"


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
    check_cell_dirs(out, include)
    dirs = [out, *map(Path, include)]
    all_rows, dups = unique_rows([load_rows(d) for d in dirs])
    if dups:
        warnings.warn(f"{len(dups)} cell(s) are in more than one directory; the first one's result is "
                      f"tabulated: {', '.join(dups[:5])}{' ...' if len(dups) > 5 else ''}", stacklevel=2)
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
    note = _averages_note(runs, averages)
    written["averages"] = write_frame(averages, rep / "averages", note or None)
    written["comparison"] = write_frame(comparison, rep / "comparison",
                                        comparison_markdown(summary, averages))
    written["targets"] = write_frame(targets, rep / "targets", note or targets_markdown(targets))
    fold_runs = fold_runs_frame(all_rows)
    written["fold_runs"] = write_frame(fold_runs, rep / "fold_runs",
                                       markdown_table(fold_runs[FOLD_RUNS_MD_COLUMNS]) if not fold_runs.empty
                                       else "_(no validation-fold cells)_\n")
    folds = folds_frame(all_rows)
    written["folds"] = write_frame(folds, rep / "folds", folds_markdown(folds))
    selection = selection_frame(averages, folds)
    written["selection"] = write_frame(selection, rep / "selection", note or selection_markdown(selection))
    written["droplast"] = write_frame(droplast_frame(runs), rep / "diagnostic_droplast", _DROPLAST_MD
                                      + markdown_table(droplast_frame(runs)))
    failed = [r for r in all_rows if r.get("status") == "failed"]
    if failed:
        lines = [f"- {r.get('dataset')} L={r.get('lookback')} H={r.get('horizon')} {r.get('label')} "
                 f"seed={r.get('seed')} fold={r.get('val_fold') or 0}: {r.get('error')}" for r in failed]
        atomic_write_text(rep / "failed.md", "# Failed cells\n\n" + "\n".join(lines) + "\n")
    else:  # a failure fixed and rerun since: its old list must not survive
        (rep / "failed.md").unlink(missing_ok=True)
    written["plots"] = plot_samples(dirs, rep / "plots") if plots else []
    return written

#!/usr/bin/env python
"""Gather the finished cells that match the *current* presets from several run directories.

Benchmark cells of one table are often run in several output directories (per dataset, per
model, before and after a preset changed). This copies, for every cell of the given presets,
the result whose signature equals the preset's current one (same data, hyper-parameters,
training settings and seed) into ``--out``, so that ``xlstm-ts bench --report-only`` on it
tabulates exactly the current presets; stale results (older presets under the same label)
are never mixed in. Prints the cells that no directory holds yet.

A ``--from`` directory without ``cells/`` but with a ``runs.parquet`` (a report directory such
as ``docs/bench_results/current``) contributes the rows its table recorded, under the same
signature rule: run directories are not kept between machines, report directories are. Rows
restored that way carry no sample forecasts (no plots). ``--val-folds 0,1,2`` also collects
validation-fold cells (a report directory keeps them in ``fold_runs.parquet``), so that the
tables' ``selection`` can rank on the fold mean.

    python scripts/collect_current_cells.py --configs etth1,ettm1,weather,exchange_rate,national_illness \\
        --models naive,seasonal_naive,dlinear,patchtst,xlstm_patch,xlstm_mixer \\
        --from runs/bench/etth1 runs/bench/ettm1 ... --out runs/bench/current
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

from xlstm_ts.bench import expand_cells, load_bench_config, load_bench_data
from xlstm_ts.bench.adopt import copy_file_atomic
from xlstm_ts.bench.runner import CELLS_DIR, cell_path, samples_path, write_json_atomic
from xlstm_ts.bench.tables import rows_from_runs_frame

_ROW_KEY = ("dataset", "regime", "lookback", "horizon", "label", "seed")


def _key(row: dict) -> tuple:
    """A result row's cell and validation fold (protocol rows carry no ``val_fold``)."""
    return (*(row[k] for k in _ROW_KEY), int(row.get("val_fold") or 0))


def recorded_rows(d: Path) -> dict[tuple, dict]:
    """The rows of a report directory's ``runs.parquet`` and ``fold_runs.parquet`` (none for a
    run directory), keyed by cell and validation fold."""
    if (d / CELLS_DIR).is_dir():
        return {}
    rows = []
    for table in (d / "runs.parquet", d / "fold_runs.parquet"):
        if table.is_file():
            rows += rows_from_runs_frame(pd.read_parquet(table), str(d))
    return {_key(r): r for r in rows}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--configs", required=True, help="comma-separated preset names")
    ap.add_argument("--models", help="comma-separated labels (default: each preset's run list)")
    ap.add_argument("--regimes", default="long")
    ap.add_argument("--val-folds", default="0",
                    help="comma-separated validation folds to collect (default 0: the protocol's split); "
                         "folds >= 1 are selection-only cells (folds.*, selection.*)")
    ap.add_argument("--from", dest="src", nargs="+", required=True,
                    help="run or report directories, searched in order: the first holding a current cell wins "
                         "(name the report directory first to keep the rows its tables recorded)")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    found, missing = 0, []
    recorded = {Path(d): recorded_rows(Path(d)) for d in args.src}
    for name in args.configs.split(","):
        cfg = load_bench_config(name)
        labels = [m for m in args.models.split(",") if m in cfg["models"]] if args.models else None
        if labels == []:  # none of the asked models is in this preset (an empty list would mean "all")
            continue
        cells = expand_cells(cfg, [load_bench_data(ds) for ds in cfg["datasets"]], models=labels,
                             regimes=args.regimes.split(","),
                             val_folds=[int(k) for k in args.val_folds.split(",")])
        for cell in cells:
            sig = cell.signature()
            for d in map(Path, args.src):
                p = cell_path(d, cell)
                if p.is_file():
                    row = json.loads(p.read_text())
                else:
                    row = recorded[d].get((*(getattr(cell, k) for k in _ROW_KEY), cell.val_fold))
                    if row is None:
                        continue
                if row.get("signature") == sig and row.get("status") == "ok":
                    write_json_atomic(cell_path(Path(args.out), cell), row)
                    s = samples_path(d, cell)
                    if s.is_file():
                        copy_file_atomic(s, samples_path(Path(args.out), cell))
                    found += 1
                    break
            else:
                missing.append(cell.describe())
    print(f"{found} current cell(s) collected into {args.out}; {len(missing)} not run yet")
    for m in missing:
        print(f"  missing: {m}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``xlstm-ts bench``: run a benchmark grid under the TSLib protocol and write its tables.

The lead's ``xlstm_ts/cli.py`` calls :func:`register`; standalone:
``python -m xlstm_ts.bench --config configs/bench/etth1.yaml --out runs/bench``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

__all__ = ["add_arguments", "build_parser", "main", "register", "run_bench"]


def _list(kind=str):
    def parse(text: str):
        items = [t for t in text.replace(",", " ").split() if t]
        try:
            return [kind(t) for t in items]
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a comma-separated list of {kind.__name__}: {text!r}") from None
    return parse


def _number(text: str) -> int | float:
    """``--limit-train-batches 20`` (batches) or ``0.25`` (fraction), as Lightning takes it."""
    try:
        return int(text)
    except ValueError:
        return float(text)


def add_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("grid")
    g.add_argument("--config", help="grid YAML (configs/bench/<name>.yaml) or a bundled preset name; "
                   "default: each dataset's own preset (a --data file: its protocol family's)")
    g.add_argument("--datasets", type=_list(), help="bundled datasets, e.g. ETTh1,ili (default: the config's)")
    g.add_argument("--data", action="append", metavar="PATH",
                   help="a wide CSV/Parquet file with a date column (repeatable); runs through the same protocol")
    g.add_argument("--protocol", choices=["ett-hour", "ett-minute", "ratio"],
                   help="split protocol of --data files (default: the --config's 'protocol', else from "
                   "the file name, else ratio)")
    g.add_argument("--target", help="target column, moved last (default: the --config's 'target', else "
                   "the last column, OT)")
    g.add_argument("--time-col", help="date column of --data files (default: date/ds/time/... )")
    g.add_argument("--horizons", type=_list(int), help="e.g. 96,192,336,720")
    g.add_argument("--models", type=_list(), help="model labels of the config, or registered model names")
    g.add_argument("--seeds", type=_list(int), help="e.g. 2021,2022,2023")
    g.add_argument("--lookback", type=_list(int), help="look-back(s) replacing the config's regimes, e.g. 512")
    g.add_argument("--regimes", type=_list(), help="long and/or short (L=96; ILI 36)")
    g.add_argument("--val-folds", type=_list(int), metavar="K,...",
                   help="validation folds for choosing hyper-parameters: 0 is the protocol's split, "
                   "k >= 1 validates k validation lengths earlier inside the training rows (no test "
                   "metrics; tables in folds.*), e.g. 0,1,2")
    t = p.add_argument_group("training overrides (all models)")
    t.add_argument("--max-epochs", type=int)
    t.add_argument("--patience", type=int)
    t.add_argument("--batch-size", type=int)
    t.add_argument("--learning-rate", type=float)
    t.add_argument("--limit-train-batches", type=_number, help="batches (int) or fraction per epoch (tiny CI runs)")
    t.add_argument("--limit-val-batches", type=_number, help="validation batches per epoch (test is never limited)")
    t.add_argument("--max-minutes", type=float, help="training-time cap per cell (best-val weights are kept)")
    o = p.add_argument_group("output")
    o.add_argument("--out", default="runs/bench", help="output directory (cells/, samples/, tables, plots/)")
    o.add_argument("--report-dir", help="where the tables and plots go (default: --out)")
    o.add_argument("--report-only", action="store_true", help="only rebuild the tables/plots of --out")
    o.add_argument("--include", action="append", metavar="DIR", default=[],
                   help="add the finished cells of another output directory to the tables (repeatable)")
    o.add_argument("--no-plots", action="store_true")
    o.add_argument("--dry-run", action="store_true", help="list the cells and whether they are done")
    o.add_argument("--threads", type=int, help="torch.set_num_threads")
    o.add_argument("--fail-fast", action="store_true", help="stop at the first failing cell")
    o.add_argument("--verbose", action="store_true", help="Lightning progress bars per epoch")
    o.add_argument("--no-progress", action="store_true", help="no tqdm bar over cells")


def register(subparsers) -> argparse.ArgumentParser:
    """Add ``bench`` to the ``xlstm-ts`` sub-commands."""
    p = subparsers.add_parser("bench", help="long-horizon benchmark grid (TSLib protocol), tables and plots",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    p.set_defaults(func=run_bench)
    return p


def _groups(args) -> list[tuple[dict, list]]:
    """``[(config, [BenchData, ...]), ...]``: which config applies to which data."""
    from xlstm_ts.bench.config import find_preset, load_bench_config
    from xlstm_ts.bench.protocol import load_bench_data

    fixed = load_bench_config(args.config) if args.config else None
    datas = []
    names = args.datasets
    if names is None and not args.data:
        if fixed is None:
            raise ValueError("give --config, --datasets or --data")
        names = fixed.get("datasets") or []
    for name in names or []:
        proto = (fixed or {}).get("protocol")
        datas.append(load_bench_data(name, protocol=proto, target=args.target or (fixed or {}).get("target")))
    for path in args.data or []:
        # the flag wins, then the --config's key, then the default (file name / last column);
        # a preset chosen per file cannot set them: it is chosen by the file's protocol
        datas.append(load_bench_data(path=path, protocol=args.protocol or (fixed or {}).get("protocol"),
                                     target=args.target or (fixed or {}).get("target"),
                                     time_col=args.time_col))
    if not datas:
        raise ValueError("the grid has no dataset")
    labels = [d.name for d in datas]
    if len(set(labels)) != len(labels):
        raise ValueError(f"two datasets share a name: {labels}")
    groups: dict[str, tuple[dict, list]] = {}
    for d in datas:
        cfg = fixed or load_bench_config(find_preset(d.name, d.protocol))
        groups.setdefault(cfg["_source"], (cfg, []))[1].append(d)
    return list(groups.values())


class _GridInterrupted(KeyboardInterrupt):
    """Ctrl-C while the grid ran; ``done`` of its ``total`` cells are finished and saved."""

    def __init__(self, done: int, total: int) -> None:
        super().__init__(done, total)
        self.done, self.total = done, total


def run_bench(args: argparse.Namespace) -> int:
    """Run the grid of ``args`` (see :func:`add_arguments`) and write the report.

    Ctrl-C prints one line (how many cells are saved; rerunning resumes) and returns 130, the
    shell's code for SIGINT, without a traceback. Handled here, not in :func:`main`:
    ``xlstm-ts bench`` calls this function directly.
    """
    try:
        return _run_bench(args)
    except KeyboardInterrupt as e:
        saved = (f"{e.done} of {e.total} cells finished and saved" if isinstance(e, _GridInterrupted)
                 else "finished cells are saved")
        print(f"bench: interrupted: {saved} in {Path(args.out) / 'cells'}; rerun the same command "
              "to resume (finished cells are not rerun)", file=sys.stderr, flush=True)
        return 130


def _run_bench(args: argparse.Namespace) -> int:
    import torch

    from xlstm_ts.bench.config import expand_cells
    from xlstm_ts.bench.protocol import check_grid_fits
    from xlstm_ts.bench.report import check_cell_dirs, write_report
    from xlstm_ts.bench.runner import _finished, run_grid

    out = Path(args.out)
    # before the grid runs: a mistyped --include must not surface only after hours of cells
    check_cell_dirs(out if args.report_only else None, args.include)
    if args.threads:
        torch.set_num_threads(args.threads)
    counts = {"failed": 0}
    if not args.report_only:
        override = {"max_epochs": args.max_epochs, "patience": args.patience,
                    "batch_size": args.batch_size, "learning_rate": args.learning_rate,
                    "limit_train_batches": args.limit_train_batches,
                    "limit_val_batches": args.limit_val_batches, "max_minutes": args.max_minutes}
        cells, data_by_name = [], {}
        for cfg, datas in _groups(args):
            cells += expand_cells(cfg, datas, horizons=args.horizons, models=args.models,
                                  seeds=args.seeds, lookbacks=args.lookback, regimes=args.regimes,
                                  train_override=override, val_folds=args.val_folds)
            data_by_name.update({d.name: d for d in datas})
        # run_grid checks it too; here a --dry-run says it as well
        check_grid_fits(data_by_name, ((c.dataset, c.lookback, c.horizon, c.val_fold) for c in cells))
        if args.dry_run:
            for c in cells:
                done = "done" if _finished(out, c, data_by_name[c.dataset].digest) else "todo"
                print(f"[{done}] {c.describe()} ({c.model}, {c.config})")
            print(f"{len(cells)} cells")
            return 0
        t0 = time.perf_counter()
        try:
            counts = run_grid(cells, data_by_name, out, verbose=args.verbose, fail_fast=args.fail_fast,
                              progress=not args.no_progress)
        except KeyboardInterrupt:
            # counted on disk, as the rerun will: the interrupted cell wrote nothing (a row is
            # written atomically once its cell ends)
            done = sum(_finished(out, c, data_by_name[c.dataset].digest) for c in cells)
            raise _GridInterrupted(done, len(cells)) from None
        print(f"bench: {counts['ran']} run, {counts['skipped']} already done, {counts['failed']} failed "
              f"of {counts['total']} cells in {time.perf_counter() - t0:.0f} s -> {out}", flush=True)
    written = write_report(out, args.report_dir, plots=not args.no_plots, include=args.include)
    rep = Path(args.report_dir) if args.report_dir else out
    print(f"tables: {rep}/{{runs,summary,averages,comparison,targets,selection,folds,fold_runs}}.{{md,csv,parquet}}; "
          f"{len(written['plots'])} plots in {rep / 'plots'}")
    return 1 if counts["failed"] else 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m xlstm_ts.bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return run_bench(args)
    except (ValueError, FileNotFoundError) as e:
        print(f"bench: error: {e}", file=sys.stderr)
        return 2

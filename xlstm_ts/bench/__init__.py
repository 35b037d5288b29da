"""Long-horizon benchmark harness: the TSLib protocol, a resumable grid runner, result tables
(Markdown/CSV/Parquet), a comparison with published numbers, and sample-forecast plots.

>>> from xlstm_ts.bench import load_bench_data, load_bench_config, expand_cells, run_grid
>>> cfg = load_bench_config("etth1")
>>> data = load_bench_data("ETTh1")
>>> cells = expand_cells(cfg, [data], horizons=[96], models=["dlinear"], seeds=[2021])
>>> run_grid(cells, {data.name: data}, "runs/bench")          # doctest: +SKIP
>>> write_report("runs/bench")                                 # doctest: +SKIP

Command line: ``xlstm-ts bench`` / ``python -m xlstm_ts.bench`` (see :mod:`xlstm_ts.bench.cli`).
"""

from xlstm_ts.bench.config import Cell, expand_cells, find_preset, load_bench_config
from xlstm_ts.bench.protocol import BenchData, PreparedSplits, load_bench_data, prepare_splits
from xlstm_ts.bench.published import PUBLISHED, TARGETS
from xlstm_ts.bench.report import write_report
from xlstm_ts.bench.runner import load_rows, run_cell, run_grid

__all__ = [
    "PUBLISHED",
    "TARGETS",
    "BenchData",
    "Cell",
    "PreparedSplits",
    "expand_cells",
    "find_preset",
    "load_bench_config",
    "load_bench_data",
    "load_rows",
    "prepare_splits",
    "run_cell",
    "run_grid",
    "write_report",
]

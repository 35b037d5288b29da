#!/usr/bin/env python
"""Reuse a tuning grid's finished cells as a preset's cells when they are the same run
(:func:`xlstm_ts.bench.adopt.adopt_cells`: refused unless only the label differs).

    python scripts/adopt_tuning_cells.py --config ettm1 --label xlstm_mixer \\
        --from runs/bench/ettm1_tuning --from-label mixer_e64_do5_e12 --out runs/bench/ettm1_mixer

``--horizons 96,192`` adopts a variant for those horizons only (a preset chosen per horizon);
``--val-folds 0,1,2`` adopts its validation-fold cells too (what ``selection`` ranks on).
"""

from __future__ import annotations

import argparse
import sys

from xlstm_ts.bench import expand_cells, load_bench_config, load_bench_data
from xlstm_ts.bench.adopt import adopt_cells


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", required=True, help="preset name or YAML (bundled datasets)")
    ap.add_argument("--label", required=True, help="the preset's model label")
    ap.add_argument("--from", dest="src", required=True, help="output directory of the tuning grid")
    ap.add_argument("--from-label", required=True, help="the tuning variant's label")
    ap.add_argument("--out", required=True, help="output directory of the preset's grid")
    ap.add_argument("--regimes", help="long and/or short (default: the preset's)")
    ap.add_argument("--horizons", help="only these horizons (a variant chosen for some horizons only)")
    ap.add_argument("--seeds", help="these seeds (default: the config's), e.g. 2021,2022,2023")
    ap.add_argument("--val-folds", default="0",
                    help="validation folds to adopt (default 0, the protocol's split), e.g. 0,1,2")
    args = ap.parse_args(argv)
    cfg = load_bench_config(args.config)
    cells = expand_cells(cfg, [load_bench_data(ds) for ds in cfg["datasets"]], models=[args.label],
                         regimes=args.regimes.split(",") if args.regimes else None,
                         horizons=[int(h) for h in args.horizons.split(",")] if args.horizons else None,
                         seeds=[int(s) for s in args.seeds.split(",")] if args.seeds else None,
                         val_folds=[int(k) for k in args.val_folds.split(",")])
    try:
        adopted = adopt_cells(cells, args.src, args.from_label, args.out)
    except ValueError as err:
        print(f"refused: {err}", file=sys.stderr)
        return 1
    for c in adopted:
        print(f"adopted {c.describe()}")
    print(f"{len(adopted)} cell(s) adopted into {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""What would averaging the forecasts of several trained models gain? (a diagnostic, no preset)

Runs every member — each (model label, look-back, seed) — of a preset as ``xlstm-ts bench``
cells that store their forecasts (``keep_forecasts``) in ``--run-dir`` (resumable: finished
cells with stored forecasts are reused, also those of a bench run directory), and prints per
split: each member's MSE, their mean (what the bench table reports for single models) and the
MSE of the members' averaged forecast. With several labels (``--label xlstm_mixer,patchtst,dlinear``)
it also prints the averaged forecast of every combination of two or more labels. Members with
different look-backs forecast the same target windows (the protocol starts every split's first
target at its border), which the script checks. An ensemble the bench should report is a preset
label with ``members`` (docs/benchmarks.md §2); this script explores seeds, look-backs and
combinations before one is chosen.

    python scripts/ensemble_gain.py --config etth1 --label xlstm_mixer --horizon 96 \
        --val-folds 0,1,2 --seeds 2021,2022,2023 --out runs/ens/etth1_96.json
    python scripts/ensemble_gain.py --config etth1 --label xlstm_mixer --horizon 96 \
        --val-folds 0,1,2 --seeds 2021 --lookbacks 336,512,720 --out runs/ens/etth1_96_lb.json
    python scripts/ensemble_gain.py --config etth1 --label xlstm_mixer,patchtst,dlinear --horizon 96 \
        --val-folds 0,1,2 --seeds 2021 --out runs/ens/etth1_96_models.json

The JSON holds the numbers printed.
"""

from __future__ import annotations

import argparse
import itertools
import json
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from xlstm_ts._atomic import atomic_write_json
from xlstm_ts.bench import prepare_splits, run_grid
from xlstm_ts.bench.config import expand_cells, load_bench_config
from xlstm_ts.bench.protocol import load_bench_data
from xlstm_ts.bench.runner import cell_path, forecasts_path

SPLITS = ("val", "test")


def _truth(data, cell, split: str) -> np.ndarray:
    ds = getattr(prepare_splits(data, cell.lookback, cell.horizon, cell.val_fold, cell.calendar), split)
    return ds.get_batch(list(range(len(ds))))["y"].double().numpy()


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", required=True, help="bench preset (name or YAML path)")
    ap.add_argument("--label", required=True, help="model label(s) in the preset, comma-separated")
    ap.add_argument("--regime", default="long")
    ap.add_argument("--horizon", type=int, required=True)
    ap.add_argument("--val-folds", default="0", help="e.g. 0,1,2 (fold 0 also scores the test split)")
    ap.add_argument("--seeds", default="2021,2022,2023")
    ap.add_argument("--lookbacks", default=None, help="e.g. 336,512,720 (default: the preset's)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--run-dir", default=None,
                    help="bench run directory for the member cells (default: a new temporary one)")
    ap.add_argument("--out", required=True, help="JSON file for the results")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)

    cfg = load_bench_config(a.config)
    data = load_bench_data(cfg["datasets"][0])
    folds = [int(k) for k in a.val_folds.split(",")]
    labels = a.label.split(",")
    cells = expand_cells(cfg, [data], horizons=[a.horizon], models=labels, regimes=[a.regime],
                         seeds=[int(s) for s in a.seeds.split(",")], val_folds=folds,
                         lookbacks=[int(L) for L in a.lookbacks.split(",")] if a.lookbacks else None)
    cells = [replace(c, keep_forecasts=True) for c in cells]
    run_dir = Path(a.run_dir) if a.run_dir else Path(tempfile.mkdtemp(prefix="ensemble_gain_"))
    run_grid(cells, {data.name: data}, run_dir, progress=False, fail_fast=True)
    forecasts: dict[int, dict[str, list]] = {}   # fold -> member -> [(pred, truth) per split]
    for cell in cells:
        row = json.loads(cell_path(run_dir, cell).read_text())
        member = f"{cell.label}/L{cell.lookback}/seed{cell.seed}"
        with np.load(forecasts_path(run_dir, cell)) as z:
            forecasts.setdefault(cell.val_fold, {})[member] = [
                (z[split].astype(np.float64), _truth(data, cell, split)) for split in SPLITS if split in z.files]
        print(f"fold {cell.val_fold} {member}: val MSE {row['val_mse']:.4f}"
              + (f" test MSE {row['mse']:.4f}" if "mse" in row else "")
              + f" (best epoch {row['best_epoch']}, {row['wall_seconds']:.0f} s)", flush=True)

    results: dict = {"config": a.config, "label": a.label, "regime": a.regime, "horizon": a.horizon,
                     "splits": {}}
    for fold, members in sorted(forecasts.items()):
        for i, split in enumerate(SPLITS[: len(next(iter(members.values())))]):
            preds = [m[i][0] for m in members.values()]
            truths = [m[i][1] for m in members.values()]
            if not all(np.array_equal(truths[0], t) for t in truths[1:]):
                raise AssertionError(f"fold {fold} {split}: members forecast different windows")
            singles = {name: float(((p - truths[0]) ** 2).mean()) for name, p in zip(members, preds, strict=True)}
            ens = float(((np.mean(preds, axis=0) - truths[0]) ** 2).mean())
            key = f"fold{fold}_{split}"
            results["splits"][key] = {"members": singles, "member_mean": float(np.mean(list(singles.values()))),
                                      "ensemble": ens}
            print(f"{key}: member mean {np.mean(list(singles.values())):.4f}, "
                  f"averaged forecast {ens:.4f}")
            if len(labels) > 1:  # every combination of two or more model labels
                combos = {}
                for k in range(2, len(labels) + 1):
                    for combo in itertools.combinations(labels, k):
                        picked = [p for name, p in zip(members, preds, strict=True) if name.split("/")[0] in combo]
                        combos["+".join(combo)] = float(((np.mean(picked, axis=0) - truths[0]) ** 2).mean())
                        print(f"{key}: averaged forecast of {'+'.join(combo)} {combos['+'.join(combo)]:.4f}")
                results["splits"][key]["label_combinations"] = combos
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out, results)
    return results


if __name__ == "__main__":
    main()

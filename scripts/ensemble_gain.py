"""What would averaging the forecasts of several trained models gain? (a diagnostic, no preset)

Runs every member — each (model label, look-back, seed) — of a preset as ``xlstm-ts bench``
cells that store their forecasts (``keep_forecasts``) in ``--run-dir`` (resumable: finished
cells with stored forecasts are reused, also those of a bench run directory), and prints per
split: each member's MSE, their mean (what the bench table reports for single models) and the
MSE of the members' averaged forecast. With several labels (``--label xlstm_mixer,patchtst,dlinear``)
it also prints the averaged forecast of every combination of two or more labels (all members
pooled, and per seed then the mean over seeds, as a bench ensemble label scores it; with
``--fit-weights`` also with per-seed weights fitted on the fold-0 validation split). Members with
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


def _combinations(labels: list[str]):
    return [c for k in range(2, len(labels) + 1) for c in itertools.combinations(labels, k)]


def _mse(pred: np.ndarray, truth: np.ndarray) -> float:
    return float(((pred - truth) ** 2).mean())


def _member(members: dict, label: str, seed: int):
    """The member of ``label`` for ``seed``; a label with one cell (a baseline) serves every seed,
    as in a bench ensemble label."""
    mine = {n: m for n, m in members.items() if n.split("/")[0] == label}
    own = [m for n, m in mine.items() if n.endswith(f"/seed{seed}")]
    return own[0] if own else next(iter(mine.values()))


def _simplex(k: int) -> list[np.ndarray]:
    """Weights of ``k`` members in steps of 0.05 that sum to 1."""
    return [np.array([*w, max(0.0, 1.0 - sum(w))])
            for w in itertools.product(np.arange(0.0, 1.0001, 0.05), repeat=k - 1) if sum(w) <= 1.0001]


def _fit_weights(members: dict[str, list], labels: list[str], seeds: list[int]) -> dict:
    """Per combination: simplex weights (step 0.05) with the lowest fold-0 validation MSE, per
    seed, and the test MSE they give, against the equal weights (means over seeds)."""
    out = {}
    for combo in _combinations(labels):
        rows = []
        for seed in seeds:
            gram = {}
            for i, split in enumerate(SPLITS):
                ps = [_member(members, label, seed)[i][0] for label in combo]
                y = next(iter(members.values()))[i][1]
                gram[split] = (np.array([[np.mean(p * q) for q in ps] for p in ps]),
                               np.array([np.mean(p * y) for p in ps]), float(np.mean(y * y)))

            def mse(w, split, gram=gram):
                g, b, c = gram[split]
                return float(w @ g @ w - 2 * w @ b + c)
            best = min(_simplex(len(combo)), key=lambda w: mse(w, "val"))
            equal = np.full(len(combo), 1.0 / len(combo))
            rows.append((best, mse(best, "val"), mse(best, "test"), mse(equal, "val"), mse(equal, "test")))
        name = "+".join(combo)
        out[name] = {"weights_per_seed": [[round(float(x), 2) for x in r[0]] for r in rows],
                     "fitted_val": float(np.mean([r[1] for r in rows])), "fitted_test": float(np.mean([r[2] for r in rows])),
                     "equal_val": float(np.mean([r[3] for r in rows])), "equal_test": float(np.mean([r[4] for r in rows]))}
        o = out[name]
        print(f"fold0 weights fitted on val for {name}: {o['weights_per_seed']} -> val {o['fitted_val']:.4f} "
              f"test {o['fitted_test']:.4f} (equal weights: val {o['equal_val']:.4f} test {o['equal_test']:.4f})")
    return out


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
    ap.add_argument("--fit-weights", action="store_true",
                    help="also weight each combination's labels on the protocol's validation split "
                         "(fold 0; the simplex in steps of 0.05, per seed) and score the test split with them")
    ap.add_argument("--run-dir", default=None,
                    help="bench run directory for the member cells (default: a new temporary one)")
    ap.add_argument("--out", required=True, help="JSON file for the results")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)

    cfg = load_bench_config(a.config)
    data = load_bench_data(cfg["datasets"][0])
    folds = [int(k) for k in a.val_folds.split(",")]
    labels = a.label.split(",")
    seeds = [int(s) for s in a.seeds.split(",")]
    cells = expand_cells(cfg, [data], horizons=[a.horizon], models=labels, regimes=[a.regime],
                         seeds=seeds, val_folds=folds,
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
            named = dict(zip(members, preds, strict=True))
            singles = {name: _mse(p, truths[0]) for name, p in named.items()}
            ens = _mse(np.mean(preds, axis=0), truths[0])
            key = f"fold{fold}_{split}"
            results["splits"][key] = {"members": singles, "member_mean": float(np.mean(list(singles.values()))),
                                      "ensemble": ens}
            print(f"{key}: member mean {np.mean(list(singles.values())):.4f}, "
                  f"averaged forecast {ens:.4f}")
            if len(labels) > 1:  # every combination of two or more model labels
                combos, per_seed = {}, {}
                for combo in _combinations(labels):
                    picked = [p for member, p in named.items() if member.split("/")[0] in combo]
                    name = "+".join(combo)
                    combos[name] = _mse(np.mean(picked, axis=0), truths[0])
                    # as a bench ensemble label scores it: members of one seed averaged, then the
                    # mean over seeds
                    per_seed[name] = float(np.mean([
                        _mse(np.mean([_member(named, label, seed) for label in combo], axis=0), truths[0])
                        for seed in seeds]))
                    print(f"{key}: averaged forecast of {name} {combos[name]:.4f} "
                          f"(per seed, mean over seeds: {per_seed[name]:.4f})")
                results["splits"][key]["label_combinations"] = combos
                results["splits"][key]["label_combinations_per_seed"] = per_seed
    if a.fit_weights:
        results["fitted_weights"] = _fit_weights(forecasts[0], labels, seeds)
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out, results)
    return results


if __name__ == "__main__":
    main()

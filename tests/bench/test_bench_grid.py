"""A tiny grid end to end through the CLI: results, resume, tables, plots, comparison."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from xlstm_ts.bench import (
    expand_cells,
    load_bench_config,
    load_bench_data,
    prepare_splits,
    run_grid,
)
from xlstm_ts.bench.cli import main, register
from xlstm_ts.bench.compare import targets_frame
from xlstm_ts.bench.config import model_lookback
from xlstm_ts.bench.published import PUBLISHED, published_avg
from xlstm_ts.bench.runner import evaluate_split, load_rows
from xlstm_ts.bench.tables import (
    averages_frame,
    droplast_frame,
    fold_runs_frame,
    folds_frame,
    rows_from_runs_frame,
    runs_frame,
    selection_frame,
)
from xlstm_ts.data import window_loader
from xlstm_ts.models import ModelSpec, build_model, make_loss

from .conftest import TINY_CONFIG


def _cells(out):
    return {p.relative_to(out).as_posix(): p.stat().st_mtime_ns for p in (out / "cells").rglob("*.json")}


def test_tiny_grid_end_to_end_and_resume(tmp_path, synthetic_csv, tiny_config, capsys):
    out = tmp_path / "run"
    argv = ["--config", str(tiny_config), "--data", str(synthetic_csv), "--target", "load",
            "--out", str(out), "--no-progress"]
    assert main(argv) == 0
    rows = {r["label"]: r for r in load_rows(out)}
    assert set(rows) == {"naive", "seasonal_naive", "dlinear", "xlstm_tiny"}
    for r in rows.values():
        assert r["status"] == "ok" and np.isfinite(r["mse"]) and r["wall_seconds"] > 0
        # ratio protocol on 400 rows: test = 80 target rows -> 80 - 12 + 1 windows
        assert r["test_windows"] == 69 and r["windows"]["test"] == 69
        assert r["borders"] == {"border1s": [0, 256, 296], "border2s": [280, 320, 400]}
    assert rows["xlstm_tiny"]["epochs"] == 1 and rows["xlstm_tiny"]["best_epoch"] == 0
    assert rows["seasonal_naive"]["hparams"]["season_length"] == 24
    # drop_last diagnostic: 69 windows, batch 16 -> the first 64 windows only
    assert set(rows["naive"]["diag_drop_last_mse"]) == {"16", "32"}
    assert (out / "diagnostic_droplast.md").read_text().count("| naive |") == 1
    for stem in ("runs", "summary", "averages", "comparison", "targets", "selection"):
        for ext in ("md", "csv", "parquet"):
            assert (out / f"{stem}.{ext}").stat().st_size > 0
    assert len(pd.read_parquet(out / "runs.parquet")) == 4
    assert (out / "plots" / "toy_L24_H12.png").stat().st_size > 1000
    assert "xlstm_tiny" in (out / "summary.md").read_text()

    # Tables of several output directories together.
    merged = tmp_path / "merged"
    assert main(["--report-only", "--out", str(merged), "--include", str(out), "--no-plots"]) == 0
    assert len(pd.read_csv(merged / "runs.csv")) == 4

    # Resume: nothing reruns, files untouched.
    before = _cells(out)
    capsys.readouterr()
    argv += ["--no-plots"]
    assert main(argv) == 0
    assert "0 run, 4 already done" in capsys.readouterr().out
    assert _cells(out) == before

    # A changed training setting changes the signature of trainable cells only.
    assert main(argv + ["--max-epochs", "2", "--models", "naive,dlinear"]) == 0
    assert "1 run, 1 already done" in capsys.readouterr().out
    assert json.loads((out / "cells/toy/L24/H12/dlinear/seed1.json").read_text())["train"]["max_epochs"] == 2


def test_plots_put_every_directory_and_lookback_of_a_horizon_in_one_file(tmp_path, synthetic_csv, tiny_config):
    from xlstm_ts.bench.plots import _collect

    base = ["--config", str(tiny_config), "--data", str(synthetic_csv), "--target", "load",
            "--no-progress", "--no-plots"]
    assert main(base + ["--models", "naive,seasonal_naive", "--out", str(tmp_path / "a")]) == 0
    assert main(base + ["--models", "naive", "--lookback", "32", "--out", str(tmp_path / "b")]) == 0
    got = _collect([tmp_path / "a", tmp_path / "b"])
    assert list(got) == [("toy", 12)]
    assert sorted(got["toy", 12]) == [("naive", 24), ("naive", 32), ("seasonal_naive", 24)]
    # the same test windows whatever the look-back (spans start L rows early)
    np.testing.assert_array_equal(got["toy", 12]["naive", 24]["y"], got["toy", 12]["naive", 32]["y"])
    merged = tmp_path / "m"
    assert main(["--report-only", "--out", str(merged), "--include", str(tmp_path / "a"),
                 "--include", str(tmp_path / "b")]) == 0
    assert [p.name for p in (merged / "plots").iterdir()] == ["toy_L24_H12.png"]


def test_etth1_naive_cell_scores_every_test_window(tmp_path):
    cfg = load_bench_config("etth1")
    data = load_bench_data("ETTh1")
    cells = expand_cells(cfg, [data], horizons=[96], models=["naive"], seeds=[0], lookbacks=[96])
    assert cells[0].regime == "short"
    counts = run_grid(cells, {data.name: data}, tmp_path, progress=False)
    assert counts == {"ran": 1, "skipped": 0, "failed": 0, "total": 1}
    (row,) = load_rows(tmp_path)
    assert row["test_windows"] == 2785 and row["test_values"] == 2785 * 96 * 7
    # Brute force over all windows on the standardised scale.
    from xlstm_ts.bench import prepare_splits
    prep = prepare_splits(data, 96, 96)
    z = prep.scaled[11520 - 96:14400]
    x_last = np.stack([z[i + 95] for i in range(2785)])
    y = np.stack([z[i + 96:i + 192] for i in range(2785)])
    err = y - x_last[:, None, :]
    assert abs(row["mse"] - float(np.mean(err.astype(np.float64) ** 2))) < 1e-6
    assert abs(row["mae"] - float(np.mean(np.abs(err.astype(np.float64))))) < 1e-6


def test_evaluate_split_keeps_samples_across_batches(synthetic_csv):
    data = load_bench_data(path=synthetic_csv, protocol="ratio")
    from xlstm_ts.bench import prepare_splits
    prep = prepare_splits(data, 24, 12)
    model = build_model("naive", ModelSpec(24, 12, 3))
    loader = window_loader(prep.test, 10)
    metrics, arrays = evaluate_split(model, make_loss("mse"), loader, samples=np.array([0, 34, 68]))
    assert metrics["windows"] == 69
    assert arrays["y"].shape == (3, 12)
    np.testing.assert_allclose(arrays["y"][1], prep.test.get_batch([34])["y"][0, :, -1].numpy())
    np.testing.assert_allclose(arrays["yhat"][2], np.full(12, prep.test.get_batch([68])["x"][0, -1, -1].item()))
    assert torch.is_grad_enabled()


def test_register_adds_bench_subcommand(tmp_path, synthetic_csv):
    ap = argparse.ArgumentParser(prog="xlstm-ts")
    sub = ap.add_subparsers(dest="command", required=True)
    register(sub)
    args = ap.parse_args(["bench", "--data", str(synthetic_csv), "--models", "naive", "--horizons", "12,24",
                          "--lookback", "24", "--out", str(tmp_path / "o"), "--dry-run",
                          "--limit-train-batches", "0.5"])
    assert args.horizons == [12, 24] and args.limit_train_batches == 0.5
    assert args.func(args) == 0


def test_published_averages_match_reference_tables():
    # "avg" rows of benchmarks.md §2.2 (±0.001: the papers average unrounded values)
    expected = {("long", "ETTh1", "PatchTST/64 L512"): 0.413, ("long", "ETTh1", "DLinear L336"): 0.423,
                ("long", "weather", "TimeMixer searched"): 0.222, ("long", "exchange_rate", "DLinear L336"): 0.297,
                ("long", "national_illness", "PatchTST/42 L336"): 1.539, ("short", "ETTm1", "TimeMixer L96"): 0.381,
                ("short", "exchange_rate", "iTransformer L96"): 0.360}
    for (regime, ds, src), avg in expected.items():
        assert abs(published_avg(ds, regime)[src] - avg) <= 0.0011, (regime, ds, src)
    assert all(len(rows) == 4 for reg in PUBLISHED.values() for d in reg.values() for rows in d.values())


def test_targets_frame_met_and_gap():
    av = pd.DataFrame([
        {"dataset": "ETTh1", "regime": "long", "lookback": 336, "label": "m", "horizons": "96/192/336/720",
         "n_seeds": 3, "mse_mean": 0.405, "mse_std": 0.001, "mae_mean": 0.42, "mae_std": 0.0,
         "val_mse_mean": 0.7, "wall_seconds_total": 1.0},
        {"dataset": "national_illness", "regime": "long", "lookback": 104, "label": "m", "horizons": "24/36/48/60",
         "n_seeds": 1, "mse_mean": 1.40, "mse_std": np.nan, "mae_mean": 0.8, "mae_std": np.nan,
         "val_mse_mean": 0.7, "wall_seconds_total": 1.0},
    ])
    t = targets_frame(av).set_index("dataset")
    assert t.loc["ETTh1", "met"] == "no" and abs(t.loc["ETTh1", "gap"] - 0.010) < 1e-9
    assert t.loc["national_illness", "met"] == "yes (1 of 3 seeds)"


def test_selection_frame_chooses_on_validation_not_test():
    def row(ds, label, val, test):
        return {"dataset": ds, "regime": "long", "lookback": 336, "label": label, "horizons": "96/192/336/720",
                "n_seeds": 3, "mse_mean": test, "mse_std": 0.001, "mae_mean": 0.4, "mae_std": 0.0,
                "val_mse_mean": val, "wall_seconds_total": 1.0}
    av = pd.DataFrame([row("ETTh1", "a", 1.05, 0.42), row("ETTh1", "b", 1.04, 0.43), row("ETTh1", "c", np.nan, 0.30),
                       row("ETTm1", "a", 0.62, 0.35)])
    sel = selection_frame(av).set_index("dataset")
    # b wins on validation although a is better on test; c has no validation metric and is skipped
    assert sel.loc["ETTh1", "chosen"] == "b" and sel.loc["ETTh1", "chosen_mse"] == 0.43
    assert sel.loc["ETTh1", "test_best"] == "a" and sel.loc["ETTh1", "n_models"] == 2
    assert sel.loc["ETTm1", "chosen"] == "a" and sel.loc["ETTm1", "chosen_n_seeds"] == 3
    assert selection_frame(av.iloc[:0]).empty


def test_selection_frame_lets_lookbacks_of_a_regime_compete():
    def row(label, L, val, test, regime="long"):
        return {"dataset": "weather", "regime": regime, "lookback": L, "label": label,
                "horizons": "96/192/336/720", "n_seeds": 3, "mse_mean": test, "mse_std": 0.001,
                "mae_mean": 0.3, "mae_std": 0.0, "val_mse_mean": val, "wall_seconds_total": 1.0}
    av = pd.DataFrame([row("dlinear", 336, 0.55, 0.246), row("mixer", 336, 0.51, 0.226),
                       row("mixer", 720, 0.49, 0.229), row("mixer", 96, 0.40, 0.260, "short")])
    sel = selection_frame(av).set_index("regime")
    assert sel.loc["long", "chosen"] == "mixer" and sel.loc["long", "chosen_lookback"] == 720
    assert sel.loc["long", "n_models"] == 3 and sel.loc["long", "chosen_mse"] == 0.229
    assert sel.loc["long", "test_best_lookback"] == 336
    assert sel.loc["short", "chosen_lookback"] == 96 and sel.loc["short", "n_models"] == 1


def test_selection_frame_chooses_on_the_validation_folds_when_every_candidate_has_them():
    def row(label, val):
        return {"dataset": "ETTh1", "regime": "long", "lookback": 336, "label": label, "horizons": "96/192/336/720",
                "n_seeds": 3, "mse_mean": 0.4, "mse_std": 0.001, "mae_mean": 0.4, "mae_std": 0.0,
                "val_mse_mean": val, "wall_seconds_total": 1.0}

    def fold_rows(label, means, horizons=(96, 192, 336, 720)):
        return [{"dataset": "ETTh1", "regime": "long", "lookback": 336, "label": label, "horizon": h,
                 "val_mse_fold0": m, "val_mse_fold1": m, "val_mse_fold2": m, "val_mse_folds_mean": m}
                for h, m in zip(horizons, means, strict=True)]
    av = pd.DataFrame([row("a", 1.04), row("b", 1.05)])  # a wins on the protocol's split
    folds = pd.DataFrame(fold_rows("a", [0.9] * 4) + fold_rows("b", [0.8] * 4))
    sel = selection_frame(av, folds).iloc[0]
    assert sel["chosen"] == "b" and sel["selected_on"] == "folds 0,1,2" and sel["chosen_val_mse"] == pytest.approx(0.8)
    # b lacks a horizon's folds: every candidate is judged on the protocol's split alone
    partial = pd.DataFrame(fold_rows("a", [0.9] * 4) + fold_rows("b", [0.8] * 3, horizons=(96, 192, 336)))
    sel = selection_frame(av, partial).iloc[0]
    assert sel["chosen"] == "a" and sel["selected_on"] == "fold 0" and sel["chosen_val_mse"] == 1.04
    assert selection_frame(av).iloc[0]["selected_on"] == "fold 0"


def test_tables_name_a_model_with_its_own_lookback():
    from xlstm_ts.bench.compare import comparison_markdown
    from xlstm_ts.bench.tables import shared_lookback, summary_markdown

    assert shared_lookback([720, 336, 720]) == 720 and shared_lookback([720, 336]) == 336  # tie: shortest
    def row(label, L, H, mse):
        return {"dataset": "weather", "regime": "long", "lookback": L, "horizon": H, "label": label,
                "n_seeds": 1, "mse_mean": mse, "mse_std": np.nan, "mae_mean": 0.3, "mae_std": np.nan}
    summ = pd.DataFrame([row("dlinear", 336, 96, 0.176), row("naive", 336, 96, 0.259),
                         row("mixer", 720, 96, 0.150)])
    empty = pd.DataFrame(columns=["dataset", "regime", "lookback", "label"])
    md = summary_markdown(summ, empty)
    assert md.count("### weather") == 1 and "L=336; L=720 where named" in md
    assert "| mixer (L=720) (n=1) |" in md and "| dlinear (n=1) |" in md
    cmp = comparison_markdown(summ, empty)
    assert cmp.count("### weather") == 1 and "0.150 (+0.003)" in cmp  # best published H=96: 0.147


def test_model_lookback_replaces_the_regime_lookback_for_that_model(synthetic_csv, tiny_config, tmp_path):
    cfg = load_bench_config(str(tiny_config))
    cfg["models"]["dlinear"] = {"lookback": {"long": 48}}
    data = load_bench_data(path=synthetic_csv, protocol="ratio")
    cells = expand_cells(cfg, [data], models=["naive", "dlinear"], regimes=["long", "short"])
    got = {(c.regime, c.label): c.lookback for c in cells}
    assert got == {("long", "naive"): 24, ("long", "dlinear"): 48,
                   ("short", "naive"): 16, ("short", "dlinear"): 16}
    assert model_lookback(cfg, "dlinear", "long") == 48 and model_lookback(cfg, "naive", "short") == 16
    assert model_lookback({}, "naive", "long") == 336 and model_lookback({}, "naive", "short") == 96
    # an explicit --lookback replaces the model's own as well
    assert {c.lookback for c in expand_cells(cfg, [data], models=["dlinear"], lookbacks=[32])} == {32}
    bad = dict(TINY_CONFIG, models={"dlinear": {"lookback": {"long": "720"}}})
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(bad))
    with pytest.raises(ValueError, match="'lookback' must map"):
        load_bench_config(str(path))


def test_adopt_cells_reuses_identical_runs_only(tmp_path, synthetic_csv, tiny_config, capsys):
    from xlstm_ts.bench.adopt import adopt_cells

    cfg = load_bench_config(str(tiny_config))
    cfg["models"]["dl_tuned"] = {"model": "dlinear", "hparams": {"kernel_size": 5}}
    cfg["models"]["dl_preset"] = {"model": "dlinear", "hparams": {"kernel_size": 5}}
    cfg["models"]["dl_other"] = {"model": "dlinear", "hparams": {"kernel_size": 7}}
    data = load_bench_data(path=synthetic_csv, protocol="ratio", target="load")
    src, out = tmp_path / "tuning", tmp_path / "preset"
    run_grid(expand_cells(cfg, [data], models=["dl_tuned"]), {data.name: data}, src, progress=False)
    preset = expand_cells(cfg, [data], models=["dl_preset"])
    adopted = adopt_cells(preset, src, "dl_tuned", out)
    assert [c.label for c in adopted] == ["dl_preset"]
    row = load_rows(out)[0]
    assert row["label"] == "dl_preset" and row["signature"] == preset[0].signature() and "adopted_from" in row
    # the preset's grid now has nothing left to run
    assert run_grid(preset, {data.name: data}, out, progress=False)["ran"] == 0
    with pytest.raises(ValueError, match="differs in \\['hparams'\\]"):
        adopt_cells(expand_cells(cfg, [data], models=["dl_other"]), src, "dl_tuned", tmp_path / "other")
    assert not (tmp_path / "other").exists()


def test_overrides_per_regime_per_horizon_and_per_horizon_within_a_regime(tmp_path):
    from xlstm_ts.bench.config import resolve_model

    entry = {"model": "dlinear", "hparams": {"kernel_size": 25}, "train": {"max_epochs": 5},
             "by_horizon": {720: {"train": {"max_epochs": 7}}},
             "by_regime": {"short": {"hparams": {"kernel_size": 13},
                                     "by_horizon": {"96": {"hparams": {"kernel_size": 5}},
                                                    720: {"train": {"max_epochs": 9}}}}}}
    cfg = dict(TINY_CONFIG, models={"dl": entry})
    got = {(reg, h): (hp["kernel_size"], tr["max_epochs"])
           for reg in ("long", "short") for h in (96, 720)
           for _, hp, tr in [resolve_model(cfg, "dl", reg, h)]}
    # most specific wins: regime < horizon < horizon within the regime
    assert got == {("long", 96): (25, 5), ("long", 720): (25, 7),
                   ("short", 96): (5, 5), ("short", 720): (13, 9)}
    for bad_entry, msg in [({"by_horizon": {96: {"hparam": {}}}}, "by_horizon 96: unknown keys \\['hparam'\\]"),
                           ({"by_regime": {"short": {"by_horizon": {96: {"lookback": 5}}}}},
                            "by_horizon 96: unknown keys \\['lookback'\\]"),
                           ({"by_regime": {"short": {"by_regime": {}}}}, "unknown keys \\['by_regime'\\]")]:
        path = tmp_path / "bad.yaml"
        path.write_text(yaml.safe_dump(dict(TINY_CONFIG, models={"dlinear": bad_entry})))
        with pytest.raises(ValueError, match=msg):
            load_bench_config(str(path))


def test_train_setting_values_are_checked_when_the_config_loads(tmp_path):
    """A misspelt loss must fail at load, not when its first cell trains hours into a grid."""
    path = tmp_path / "bad.yaml"
    for cfg, msg in [(dict(TINY_CONFIG, train={"loss": "rmse"}), "train loss='rmse'"),
                     (dict(TINY_CONFIG, models={"dlinear": {"train": {"valid_loss": "quantile"}}}),
                      "model 'dlinear', entry: train valid_loss='quantile'"),
                     (dict(TINY_CONFIG, models={"dlinear": {"by_regime": {"short": {"by_horizon": {
                         96: {"train": {"lr_schedule": "step"}}}}}}}),
                      "by_regime 'short' by_horizon 96: train lr_schedule='step'"),
                     (dict(TINY_CONFIG, models={"dlinear": {"by_horizon": {96: {"train": {"epochs": 3}}}}}),
                      "by_horizon 96: unknown train settings \\['epochs'\\]")]:
        path.write_text(yaml.safe_dump(cfg))
        with pytest.raises(ValueError, match=msg):
            load_bench_config(str(path))
    path.write_text(yaml.safe_dump(dict(TINY_CONFIG, models={"dlinear": {"train": {
        "loss": "mae", "valid_loss": "mse", "lr_schedule": "halving"}}})))
    assert load_bench_config(str(path))["models"]["dlinear"]["train"]["valid_loss"] == "mse"


def test_validation_folds_are_selection_only_and_kept_out_of_the_test_tables(tmp_path, synthetic_csv,
                                                                              tiny_config):
    out = tmp_path / "run"
    base = ["--config", str(tiny_config), "--data", str(synthetic_csv), "--target", "load",
            "--models", "naive,dlinear", "--out", str(out), "--no-progress", "--no-plots"]
    assert main(base) == 0
    plain = {r["label"]: r["signature"] for r in load_rows(out)}
    assert main(base + ["--val-folds", "0,1,2"]) == 0
    rows = load_rows(out)
    # fold 0 is the protocol's cell: same signature as without --val-folds (it did not rerun)
    assert {r["label"]: r["signature"] for r in rows if not r.get("val_fold")} == plain
    folds = [r for r in rows if r.get("val_fold")]
    assert sorted((r["label"], r["val_fold"]) for r in folds) == [
        ("dlinear", 1), ("dlinear", 2), ("naive", 1), ("naive", 2)]
    for r in folds:
        assert r["status"] == "ok" and np.isfinite(r["val_mse"])
        assert "mse" not in r and "test_windows" not in r and "test" not in r["windows"]
        # ratio protocol on 400 rows: train ends at 280, validation holds 40 target rows
        k = r["val_fold"]
        assert r["borders"]["border2s"][:2] == [280 - 40 * k, 320 - 40 * k]
    assert (out / "cells/toy/L24/H12/dlinear/fold1/seed1.json").is_file()
    assert len(pd.read_csv(out / "runs.csv")) == 2          # the test tables hold fold 0 only
    table = pd.read_csv(out / "folds.csv")
    assert list(table["label"]) == ["dlinear", "naive"]
    naive = table.set_index("label").loc["naive"]
    per_fold = [naive[f"val_mse_fold{k}"] for k in (0, 1, 2)]
    assert naive["val_mse_folds_mean"] == pytest.approx(np.mean(per_fold))
    assert "val_mse_folds_mean" in (out / "folds.md").read_text()


def test_valid_loss_selects_on_validation_mse_and_keeps_older_signatures(tmp_path, synthetic_csv):
    """A cell trained on MAE with ``valid_loss: mse`` keeps the epoch of lowest validation MSE,
    so its best validation loss is the validation MSE the harness reports; cells that do not set
    valid_loss keep the signatures they had before the setting existed."""
    from xlstm_ts.bench.config import Cell

    base = dict(dataset="toy", source="f", protocol="ratio", target="load", regime="long", lookback=24,
                horizon=12, label="dlinear", model="dlinear", hparams={}, seed=1)
    old = Cell(train={"loss": "mae"}, **base).signature()
    assert Cell(train={"loss": "mae", "valid_loss": None}, **base).signature() == old
    assert Cell(train={"loss": "mae", "valid_loss": "mse"}, **base).signature() != old

    cfg = dict(TINY_CONFIG, models={"dlinear_mae": {"model": "dlinear",
                                                    "train": {"loss": "mae", "valid_loss": "mse", "max_epochs": 3,
                                                              "patience": 3}}})
    path = tmp_path / "mae.yaml"
    path.write_text(yaml.safe_dump(cfg))
    out = tmp_path / "run"
    assert main(["--config", str(path), "--data", str(synthetic_csv), "--target", "load", "--out", str(out),
                 "--no-progress", "--no-plots"]) == 0
    (row,) = load_rows(out)
    assert row["train"]["valid_loss"] == "mse" and row["epochs"] == 3
    assert row["best_val_loss"] == pytest.approx(row["val_mse"], rel=1e-5)
    assert row["best_val_loss"] != pytest.approx(row["val_mae"], rel=1e-3)


def _run_tiny_models(tmp_path, synthetic_csv, models: dict) -> dict[str, dict]:
    """Run TINY_CONFIG with these model entries on the synthetic file; rows by label."""
    path = tmp_path / "models.yaml"
    path.write_text(yaml.safe_dump(dict(TINY_CONFIG, models=models)))
    out = tmp_path / "run"
    assert main(["--config", str(path), "--data", str(synthetic_csv), "--target", "load", "--out", str(out),
                 "--no-progress", "--no-plots"]) == 0
    return {r["label"]: r for r in load_rows(out)}


def test_calendar_covariates_reach_the_model_and_keep_older_signatures(tmp_path, synthetic_csv):
    """``train: {calendar: true}`` gives every window the calendar features of its L + H
    timestamps as ``x_futr`` (the model is built with them: more parameters); cells without the
    setting keep the signatures they had before it existed; a non-boolean value fails at load."""
    from xlstm_ts.bench.config import Cell
    from xlstm_ts.data import calendar_features

    base = dict(dataset="toy", source="f", protocol="ratio", target="load", regime="long", lookback=24,
                horizon=12, label="m", model="xlstm_mixer", hparams={}, seed=1)
    old = Cell(train={"loss": "mae"}, **base).signature()
    assert Cell(train={"loss": "mae", "calendar": False}, **base).signature() == old
    assert Cell(train={"loss": "mae", "calendar": True}, **base).signature() != old

    data = load_bench_data(path=synthetic_csv, target="load")
    prep = prepare_splits(data, 24, 12, calendar=True)
    assert prep.n_futr == 4 and prepare_splits(data, 24, 12).n_futr == 0  # hourly: hour, weekday, day, yearday
    cal = calendar_features(data.index, "h")
    for split in (prep.train, prep.val, prep.test):
        w = split[len(split) - 1]
        start = int(w["start"])
        np.testing.assert_array_equal(w["x_futr"].numpy(), cal[start:start + 36])

    mixer = {"model": "xlstm_mixer", "hparams": {"xlstm": {"embedding_dim": 8}, "views": 1}}
    rows = _run_tiny_models(tmp_path, synthetic_csv, {"plain": mixer, "cal": dict(mixer, train={"calendar": True})})
    assert rows["cal"]["status"] == rows["plain"]["status"] == "ok"
    # futr_embed Linear(L + H -> E) + one id vector per calendar feature
    assert rows["cal"]["params"] - rows["plain"]["params"] == (36 + 1) * 8 + 4 * 8
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(dict(TINY_CONFIG, train={"calendar": "yes"})))
    with pytest.raises(ValueError, match="train calendar='yes' must be true or false"):
        load_bench_config(str(path))


def test_ema_decay_reaches_the_fit_and_keeps_older_signatures(tmp_path, synthetic_csv):
    """``train: {ema_decay: d}`` validates and keeps the moving average of the weights: the best
    validation loss is the validation MSE of the weights the cell is scored with, and it differs
    from the plain fit's; cells without the setting keep their signatures; bad values fail at load."""
    from xlstm_ts.bench.config import Cell

    base = dict(dataset="toy", source="f", protocol="ratio", target="load", regime="long", lookback=24,
                horizon=12, label="dlinear", model="dlinear", hparams={}, seed=1)
    old = Cell(train={"loss": "mse"}, **base).signature()
    assert Cell(train={"loss": "mse", "ema_decay": None}, **base).signature() == old
    assert Cell(train={"loss": "mse", "ema_decay": 0.9}, **base).signature() != old

    train = {"max_epochs": 3, "patience": 3}
    rows = _run_tiny_models(tmp_path, synthetic_csv, {"plain": {"model": "dlinear", "train": train},
                                                      "ema": {"model": "dlinear", "train": dict(train, ema_decay=0.9)}})
    assert rows["ema"]["train"]["ema_decay"] == 0.9
    assert rows["ema"]["best_val_loss"] == pytest.approx(rows["ema"]["val_mse"], rel=1e-5)
    assert rows["ema"]["val_mse"] != pytest.approx(rows["plain"]["val_mse"], rel=1e-4)
    path = tmp_path / "bad.yaml"
    for bad in (1.0, 0, "0.9"):
        path.write_text(yaml.safe_dump(dict(TINY_CONFIG, train={"ema_decay": bad})))
        with pytest.raises(ValueError, match="ema_decay"):
            load_bench_config(str(path))


def test_rows_restored_from_a_report_table_give_the_same_tables(tmp_path, synthetic_csv, tiny_config):
    """A report directory outlives its run directory: the rows of its runs.parquet rebuild the
    same runs, averages and drop-last tables as the cells they were written from."""
    out = tmp_path / "run"
    assert main(["--config", str(tiny_config), "--data", str(synthetic_csv), "--target", "load", "--out", str(out),
                 "--models", "naive,dlinear", "--seeds", "1,2", "--no-progress", "--no-plots"]) == 0
    recorded = pd.read_parquet(out / "runs.parquet")
    rows = rows_from_runs_frame(recorded, recorded_in=str(out))
    assert len(rows) == 3 and all(r["status"] == "ok" and r["recorded_in"] == str(out) for r in rows)
    assert isinstance(rows[0]["train"], dict) and isinstance(rows[0]["seed"], int)
    again = runs_frame(rows)
    pd.testing.assert_frame_equal(again, runs_frame(load_rows(out)))
    pd.testing.assert_frame_equal(averages_frame(again), averages_frame(runs_frame(load_rows(out))))
    pd.testing.assert_frame_equal(droplast_frame(again), droplast_frame(recorded))


def test_validation_fold_cells_are_recorded_and_restored_with_the_report(tmp_path, synthetic_csv, tiny_config):
    """fold_runs.parquet keeps the fold cells, so that the folds and selection tables of a report
    directory can be rebuilt after its run directory is gone."""
    out = tmp_path / "run"
    assert main(["--config", str(tiny_config), "--data", str(synthetic_csv), "--target", "load", "--out", str(out),
                 "--models", "naive,dlinear", "--val-folds", "0,1,2", "--no-progress", "--no-plots"]) == 0
    fold_runs = pd.read_parquet(out / "fold_runs.parquet")
    assert sorted(zip(fold_runs["label"], fold_runs["val_fold"], strict=True)) == [
        ("dlinear", 1), ("dlinear", 2), ("naive", 1), ("naive", 2)]
    assert "mse" not in fold_runs and fold_runs["val_mse"].notna().all()
    restored = (rows_from_runs_frame(pd.read_parquet(out / "runs.parquet"))
                + rows_from_runs_frame(fold_runs))
    assert sorted(r.get("val_fold") or 0 for r in restored) == [0, 0, 1, 1, 2, 2]
    original = load_rows(out)
    pd.testing.assert_frame_equal(folds_frame(restored), folds_frame(original))
    pd.testing.assert_frame_equal(fold_runs_frame(restored), fold_runs)
    assert folds_frame(restored)["val_mse_folds_mean"].notna().all()
    assert "no validation-fold cells" not in (out / "fold_runs.md").read_text()

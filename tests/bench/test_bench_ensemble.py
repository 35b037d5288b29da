"""Ensemble labels: the averaged forecasts of other labels' cells, scored like any cell."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import yaml

from xlstm_ts.bench import (
    expand_cells,
    load_bench_config,
    load_bench_data,
    prepare_splits,
    run_grid,
)
from xlstm_ts.bench.cli import main
from xlstm_ts.bench.runner import forecasts_path, load_rows, run_cell

from .conftest import TINY_CONFIG


def _config(tmp_path, **models) -> str:
    cfg = copy.deepcopy(TINY_CONFIG)
    cfg["seeds"] = [1, 2]
    cfg["models"].update(models)
    path = tmp_path / "ens.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


ENSEMBLES = {
    "ens": {"members": ["naive", "dlinear", "wide"]},
    "twins": {"members": ["naive", "naive_again"]},
    "naive_again": {"model": "naive"},
    "wide": {"model": "dlinear", "lookback": {"long": 32}},  # a member with its own look-back
}


def _truth(data, lookback: int, horizon: int, split: str) -> np.ndarray:
    ds = getattr(prepare_splits(data, lookback, horizon), split)
    return ds.get_batch(list(range(len(ds))))["y"].double().numpy()


def test_ensemble_scores_the_average_of_its_members_stored_forecasts(tmp_path, synthetic_csv, capsys):
    out = tmp_path / "run"
    argv = ["--config", _config(tmp_path, **ENSEMBLES), "--data", str(synthetic_csv), "--target", "load",
            "--out", str(out), "--no-progress", "--no-plots", "--models", "ens,twins"]
    assert main(argv) == 0
    rows = {(r["label"], r["seed"]): r for r in load_rows(out)}
    # the members joined the grid although --models names only the ensembles; naive (nothing
    # to train) has one cell, which serves both seeds
    assert set(rows) == {("naive", 1), ("naive_again", 1), ("dlinear", 1), ("dlinear", 2),
                         ("wide", 1), ("wide", 2), ("ens", 1), ("ens", 2), ("twins", 1), ("twins", 2)}
    assert all(r["status"] == "ok" for r in rows.values())
    data = load_bench_data(path=synthetic_csv, protocol="ratio", target="load")
    for seed in (1, 2):
        ens = rows["ens", seed]
        assert ens["model"] == "ensemble" and ens["lookback"] == 32   # its longest member's
        members = [rows["naive", 1], rows["dlinear", seed], rows["wide", seed]]
        for split, key in (("val", "val_mse"), ("test", "mse")):
            stored = []
            for m in members:
                rel = f"toy/L{m['lookback']}/H12/{m['label']}/seed{m['seed']}.npz"
                with np.load(out / "forecasts" / rel) as z:
                    stored.append(z[split].astype(np.float64))
            y = _truth(data, 24, 12, split)
            # the stored forecasts are the members' own: they give the members' recorded scores
            for m, f in zip(members, stored, strict=True):
                assert abs(np.mean((f - y) ** 2) - m[key]) < 1e-9
            expected = np.mean((np.mean(stored, axis=0) - y) ** 2)
            assert abs(ens[key] - expected) < 1e-9
            assert ens[key] != pytest.approx(members[0][key])
        assert ens["wall_seconds"] >= sum(m["wall_seconds"] for m in members)
        assert ens["params"] == sum(m["params"] for m in members)
        assert set(ens["members"]) == {"naive", "dlinear", "wide"}
        # two members with the same forecasts average to that forecast, bit for bit
        assert rows["twins", seed]["mse"] == rows["naive", 1]["mse"]
        assert rows["twins", seed]["mae"] == rows["naive", 1]["mae"]
    assert (out / "samples" / "toy" / "L32" / "H12" / "ens" / "seed1.npz").is_file()
    assert "| ens" in (out / "summary.md").read_text()

    # Resume: nothing reruns. A changed member reruns, and so do the ensembles that hold it.
    capsys.readouterr()
    assert main(argv) == 0
    assert "0 run, 10 already done" in capsys.readouterr().out
    cfg = yaml.safe_load(open(argv[1]))
    cfg["models"]["dlinear"] = {"train": {"learning_rate": 0.01}}
    open(argv[1], "w").write(yaml.safe_dump(cfg))
    assert main(argv) == 0
    assert "4 run, 6 already done" in capsys.readouterr().out   # dlinear x2, ens x2


def test_a_member_finished_without_its_forecasts_reruns_to_store_them(tmp_path, synthetic_csv):
    out = tmp_path / "run"
    base = ["--config", _config(tmp_path, **ENSEMBLES), "--data", str(synthetic_csv), "--target", "load",
            "--out", str(out), "--no-progress", "--no-plots", "--seeds", "1"]
    assert main(base + ["--models", "dlinear"]) == 0
    before = json.loads((out / "cells/toy/L24/H12/dlinear/seed1.json").read_text())
    assert not (out / "forecasts").exists()        # nothing asked for them
    assert main(base + ["--models", "ens"]) == 0
    after = json.loads((out / "cells/toy/L24/H12/dlinear/seed1.json").read_text())
    assert after["finished"] >= before["finished"] and after["mse"] == before["mse"]  # same seed, same result
    assert (out / "forecasts/toy/L24/H12/dlinear/seed1.npz").is_file()


def test_ensemble_validation_fold_cells_average_validation_forecasts_only(tmp_path, synthetic_csv):
    out = tmp_path / "run"
    data = load_bench_data(path=synthetic_csv, protocol="ratio", target="load")
    cfg = load_bench_config(_config(tmp_path, **ENSEMBLES))
    cells = expand_cells(cfg, [data], models=["twins"], seeds=[1], val_folds=[0, 1])
    assert [(c.label, c.val_fold, c.keep_forecasts) for c in cells] == [
        ("naive", 0, True), ("naive", 1, True), ("naive_again", 0, True), ("naive_again", 1, True),
        ("twins", 0, False), ("twins", 1, False)]
    assert run_grid(cells, {data.name: data}, out, progress=False)["failed"] == 0
    rows = {(r["label"], r.get("val_fold", 0)): r for r in load_rows(out)}
    fold = rows["twins", 1]
    assert "mse" not in fold and fold["val_mse"] == rows["naive", 1]["val_mse"]
    with np.load(forecasts_path(out, cells[1])) as z:
        assert z.files == ["val"]


def test_an_ensemble_needs_its_members_results(tmp_path, synthetic_csv):
    data = load_bench_data(path=synthetic_csv, protocol="ratio", target="load")
    cfg = load_bench_config(_config(tmp_path, **ENSEMBLES))
    ens = [c for c in expand_cells(cfg, [data], models=["twins"], seeds=[1]) if c.label == "twins"][0]
    with pytest.raises(ValueError, match="needs the run directory"):
        run_cell(ens, data)
    with pytest.raises(ValueError, match="member 'naive' .* no finished result with stored forecasts"):
        run_cell(ens, data, out_dir=tmp_path / "empty")


@pytest.mark.parametrize("entry, message", [
    ({"members": ["naive"]}, "two or more distinct"),
    ({"members": ["naive", "naive"]}, "two or more distinct"),
    ({"members": "naive,dlinear"}, "two or more distinct"),
    ({"members": ["naive", "dlinaer"]}, r"member 'dlinaer' is neither .* \(did you mean 'dlinear'"),
    ({"members": ["naive", "twins"]}, "member 'twins' is an ensemble itself"),
    ({"members": ["naive", "dlinear"], "train": {"max_epochs": 3}}, "does not take"),
    ({"members": ["naive", "dlinear"], "model": "dlinear"}, "its model is 'ensemble'"),
])
def test_ensemble_entries_are_checked_when_the_config_loads(tmp_path, entry, message):
    path = _config(tmp_path, bad=entry, twins=ENSEMBLES["twins"], naive_again={"model": "naive"})
    with pytest.raises(ValueError, match=message):
        load_bench_config(path)


def test_an_ensemble_is_not_adopted_from_a_tuning_run(tmp_path, synthetic_csv):
    from xlstm_ts.bench.adopt import adopt_cells

    data = load_bench_data(path=synthetic_csv, protocol="ratio", target="load")
    cfg = load_bench_config(_config(tmp_path, **ENSEMBLES))
    cells = expand_cells(cfg, [data], models=["twins"], seeds=[1])
    with pytest.raises(ValueError, match="an ensemble is not adopted"):
        adopt_cells(cells, tmp_path / "tuning", "twins_variant", tmp_path / "out")

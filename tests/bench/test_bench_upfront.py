"""Up-front refusal of data too short for the grid, and Ctrl-C during a grid (one line, exit
130, the interrupted cell not recorded, a rerun resumes)."""

from __future__ import annotations

import signal

import pytest

from xlstm_ts.bench import (
    expand_cells,
    load_bench_config,
    load_bench_data,
    prepare_splits,
    run_grid,
)
from xlstm_ts.bench import runner as bench_runner
from xlstm_ts.bench.cli import main
from xlstm_ts.bench.protocol import check_grid_fits
from xlstm_ts.bench.runner import load_rows

from .conftest import synthetic_frame

RULE = ("each of train, val and test must hold at least one window, i.e. train at least L + H rows, "
        "val and test at least H rows after their border")


def _run(tiny_config, data, out, *extra):
    argv = ["--config", str(tiny_config), "--data", str(data), "--target", "load",
            "--out", str(out), "--no-progress", "--no-plots", *extra]
    return main(argv)


def _cell_files(out):
    return sorted(p.relative_to(out) for p in (out / "cells").rglob("*")) if (out / "cells").exists() else []


def test_a_short_data_file_is_refused_before_any_cell_runs(tmp_path, synthetic_csv, tiny_config, capsys):
    """400 rows under the ratio protocol: train 280 / val 40 / test 80 rows. H=12 fits, H=48 does
    not (val), L=300 does not (longer than the training rows): one error, nothing runs."""
    out = tmp_path / "run"
    for extra in ([], ["--dry-run"]):
        assert _run(tiny_config, synthetic_csv, out, "--models", "naive,dlinear", "--horizons", "12,48",
                    "--lookback", "24,300", *extra) == 2
        err = capsys.readouterr().err
        assert err.count("bench: error:") == 1 and RULE in err and "(no cell ran)" in err
        assert (f"toy ({synthetic_csv}): 400 rows, protocol ratio, train 280 / val 40 / test 80 rows; "
                "does not fit: L=24 H=48 (val 40 rows < H = 48), "
                "L=300 H=12 (lookback 300 is longer than the training part (280 rows)), "
                "L=300 H=48 (lookback 300 is longer than the training part (280 rows))") in err
        assert "L=24 H=12" not in err            # the pair that fits is not named
        assert "drop those pairs (--lookback, --horizons) or use a longer file" in err
        assert not out.exists()
    # the pairs that fit run as before
    assert _run(tiny_config, synthetic_csv, out, "--models", "naive", "--horizons", "12,40") == 0
    assert sorted((r["horizon"], r["status"]) for r in load_rows(out)) == [(12, "ok"), (40, "ok")]


def test_an_ett_file_shorter_than_the_borders_and_a_fold_too_far_back(tmp_path, tiny_config, capsys):
    short = tmp_path / "ETTh9.csv"
    synthetic_frame(n=2000).to_csv(short, index=False)
    assert _run(tiny_config, short, tmp_path / "a", "--models", "naive", "--horizons", "12,96") == 2
    err = capsys.readouterr().err
    assert (f"ETTh9 ({short}): 2000 rows, protocol ett-hour, the 'ett-hour' protocol needs at least "
            "14400 rows, got 2000; does not fit: L=24 H=12, L=24 H=96\n") in err
    # folds: fold 6 keeps 40 training rows (too few for L + H = 24 + 30), fold 7 none
    data = tmp_path / "toy.csv"
    synthetic_frame().to_csv(data, index=False)
    assert _run(tiny_config, data, tmp_path / "b", "--models", "naive", "--horizons", "12,30",
                "--val-folds", "0,6,7") == 2
    err = capsys.readouterr().err
    assert ("train 280 / val 40 / test 80 rows, validation fold 6: train 40 / val 40 rows; "
            "does not fit: L=24 H=30 (train 40 rows < L + H = 54)") in err
    assert "L=24 H=12 (validation fold 7 leaves no training rows" in err
    assert "(--lookback, --horizons, --val-folds)" in err
    assert not (tmp_path / "b").exists()


def test_the_up_front_rule_is_the_windowing_rule(synthetic_csv):
    """The check refuses exactly the (L, H, fold) that prepare_splits cannot window."""
    data = load_bench_data(path=synthetic_csv, target="load")
    for val_fold in range(8):
        for L in (1, 24, 200, 256, 279, 280, 300):
            for H in (1, 12, 40, 41, 80, 81, 256, 257):
                try:
                    prepare_splits(data, L, H, val_fold)
                    fits = True
                except ValueError:
                    fits = False
                try:
                    check_grid_fits({data.name: data}, [(data.name, L, H, val_fold)])
                    refused = False
                except ValueError:
                    refused = True
                assert fits != refused, (L, H, val_fold)


def test_run_grid_refuses_with_a_value_error(tmp_path, synthetic_csv, tiny_config):
    cfg = load_bench_config(str(tiny_config))
    data = load_bench_data(path=synthetic_csv, target="load")
    cells = expand_cells(cfg, [data], horizons=[12, 96], models=["naive"])
    with pytest.raises(ValueError, match=r"toy \(.*toy.csv\): 400 rows, .*does not fit: L=24 H=96 \(val 40 rows"):
        run_grid(cells, {data.name: data}, tmp_path, progress=False)
    assert not (tmp_path / "cells").exists()


def test_ctrl_c_between_cells_says_what_is_saved_and_a_rerun_resumes(tmp_path, synthetic_csv, tiny_config,
                                                                     capsys, monkeypatch):
    out = tmp_path / "run"
    real, calls = bench_runner.run_cell, []

    def interrupted_second(*args, **kwargs):
        calls.append(args[0])
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(bench_runner, "run_cell", interrupted_second)
    models = ("--models", "naive,seasonal_naive,dlinear")
    assert _run(tiny_config, synthetic_csv, out, *models) == 130
    err = capsys.readouterr().err
    assert err == (f"bench: interrupted: 1 of 3 cells finished and saved in {out / 'cells'}; rerun the "
                   "same command to resume (finished cells are not rerun)\n")
    assert [r["label"] for r in load_rows(out)] == ["naive"]
    monkeypatch.setattr(bench_runner, "run_cell", real)
    assert _run(tiny_config, synthetic_csv, out, *models) == 0
    assert "bench: 2 run, 1 already done, 0 failed of 3 cells" in capsys.readouterr().out


def test_ctrl_c_mid_training_records_nothing(tmp_path, synthetic_csv, tiny_config, capsys, monkeypatch):
    """Lightning turns a Ctrl-C in ``fit`` into ``sys.exit(1)`` and ignores SIGINT afterwards; the
    bench sees a KeyboardInterrupt, writes no row for the cell and restores the handler."""
    from xlstm_ts.training import ForecastModule

    def ctrl_c(self, *args, **kwargs):
        raise KeyboardInterrupt

    out = tmp_path / "run"
    handler = signal.getsignal(signal.SIGINT)
    monkeypatch.setattr(ForecastModule, "training_step", ctrl_c)
    assert _run(tiny_config, synthetic_csv, out, "--models", "dlinear") == 130
    err = capsys.readouterr().err
    assert "bench: interrupted: 0 of 1 cells finished and saved" in err and "Traceback" not in err
    assert signal.getsignal(signal.SIGINT) is handler
    assert [p for p in _cell_files(out) if p.suffix != ""] == []      # no row, no temporary file
    monkeypatch.undo()
    assert _run(tiny_config, synthetic_csv, out, "--models", "dlinear") == 0
    assert "bench: 1 run, 0 already done" in capsys.readouterr().out
    (row,) = load_rows(out)
    assert row["status"] == "ok" and row["epochs"] == 1

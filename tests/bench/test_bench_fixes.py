"""Regression tests of user-facing harness bugs: resume on edited data, report directories,
duplicated cells, stale failure lists, config keys for --data files and config validation."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import yaml

from xlstm_ts.bench import expand_cells, load_bench_config, load_bench_data, write_report
from xlstm_ts.bench.cli import _groups, build_parser, main
from xlstm_ts.bench.runner import load_rows, write_json_atomic

from .conftest import TINY_CONFIG, synthetic_frame


def _naive_run(tiny_config, synthetic_csv, out, *extra):
    argv = ["--config", str(tiny_config), "--data", str(synthetic_csv), "--target", "load",
            "--models", "naive", "--out", str(out), "--no-progress", "--no-plots", *extra]
    return main(argv)


def _write_config(tmp_path, **over):
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(dict(TINY_CONFIG, **over)))
    return path


def test_an_edited_data_file_reruns_its_cells(tmp_path, synthetic_csv, tiny_config, capsys):
    """The signature names a --data file by its path; the recorded data digest says whether the
    file still holds the data the result was computed on."""
    out = tmp_path / "run"
    assert _naive_run(tiny_config, synthetic_csv, out) == 0
    (old,) = load_rows(out)
    synthetic_frame(seed=1).to_csv(synthetic_csv, index=False)   # same path, other values
    capsys.readouterr()
    assert _naive_run(tiny_config, synthetic_csv, out, "--dry-run") == 0
    assert capsys.readouterr().out.startswith("[todo]")
    assert _naive_run(tiny_config, synthetic_csv, out) == 0
    assert "1 run, 0 already done" in capsys.readouterr().out
    (new,) = load_rows(out)
    assert new["signature"] == old["signature"] and new["data_digest"] != old["data_digest"]
    assert new["data_digest"] == load_bench_data(path=synthetic_csv, target="load").digest
    assert new["mse"] != old["mse"]
    assert _naive_run(tiny_config, synthetic_csv, out) == 0        # unchanged file: resumes
    assert "0 run, 1 already done" in capsys.readouterr().out


def test_report_refuses_a_directory_without_cells(tmp_path, synthetic_csv, tiny_config, capsys):
    out, rep = tmp_path / "run", tmp_path / "report"
    assert _naive_run(tiny_config, synthetic_csv, out, "--report-dir", str(rep)) == 0
    before = (rep / "runs.md").read_text()
    capsys.readouterr()
    # a mistyped --out must not write an empty report over a good one (a fresh --out is fine
    # when --include gives the cells: tables of other directories merged there)
    assert main(["--report-only", "--out", str(tmp_path / "rnu"), "--report-dir", str(rep), "--no-plots"]) == 2
    assert "--out" in capsys.readouterr().err and (rep / "runs.md").read_text() == before
    assert main(["--report-only", "--out", str(out), "--include", str(tmp_path / "nope"), "--no-plots"]) == 2
    assert "--include" in capsys.readouterr().err
    # and before a grid runs, not after it
    assert _naive_run(tiny_config, synthetic_csv, tmp_path / "fresh", "--include", str(tmp_path / "nope")) == 2
    assert not (tmp_path / "fresh").exists()


def test_a_cell_in_two_directories_is_tabulated_once(tmp_path, synthetic_csv, tiny_config):
    a, b = tmp_path / "a", tmp_path / "b"
    assert _naive_run(tiny_config, synthetic_csv, a) == 0
    shutil.copytree(a / "cells", b / "cells")
    (p,) = (b / "cells").rglob("*.json")
    row = json.loads(p.read_text())
    write_json_atomic(p, {**row, "mse": row["mse"] + 1.0})
    rep = tmp_path / "rep"
    with pytest.warns(UserWarning, match="more than one directory.*naive seed=1"):
        write_report(a, rep, plots=False, include=[b])
    runs = pd.read_csv(rep / "runs.csv")
    assert len(runs) == 1 and runs["mse"].iloc[0] == pytest.approx(row["mse"])   # --out wins
    summary = pd.read_csv(rep / "summary.csv")
    assert summary["n_seeds"].tolist() == [1] and summary["mse_std"].isna().all()
    with pytest.warns(UserWarning):
        write_report(b, rep, plots=False, include=[a])                           # first wins
    assert pd.read_csv(rep / "runs.csv")["mse"].iloc[0] == pytest.approx(row["mse"] + 1.0)


def test_failed_md_goes_when_no_cell_fails(tmp_path, synthetic_csv, tiny_config):
    out = tmp_path / "run"
    assert _naive_run(tiny_config, synthetic_csv, out) == 0
    failed = out / "cells/toy/L24/H12/dlinear/seed1.json"
    write_json_atomic(failed, {"dataset": "toy", "lookback": 24, "horizon": 12, "label": "dlinear",
                               "seed": 1, "signature": "abc", "status": "failed", "error": "boom"})
    write_report(out, plots=False)
    assert "boom" in (out / "failed.md").read_text()
    failed.unlink()                                  # fixed and rerun (here: just gone)
    write_report(out, plots=False)
    assert not (out / "failed.md").exists()


def test_config_protocol_and_target_apply_to_data_files(tmp_path, synthetic_csv):
    cfg = _write_config(tmp_path, protocol="ett-hour", target="load")

    def data(*flags):
        args = build_parser().parse_args(["--config", str(cfg), "--data", str(synthetic_csv), *flags])
        ((_, (d,)),) = _groups(args)
        return d.protocol, d.target

    assert data() == ("ett-hour", "load")
    assert data("--protocol", "ratio", "--target", "b") == ("ratio", "b")       # flags win
    plain = _write_config(tmp_path)
    args = build_parser().parse_args(["--config", str(plain), "--data", str(synthetic_csv)])
    assert _groups(args)[0][1][0].protocol == "ratio" and _groups(args)[0][1][0].target == "b"
    with pytest.raises(ValueError, match="protocol 'weekly'; valid"):
        load_bench_config(str(_write_config(tmp_path, protocol="weekly")))


def test_nested_hparam_typos_fail_when_the_config_loads(tmp_path, synthetic_csv, capsys):
    tiny = TINY_CONFIG["models"]["xlstm_tiny"]
    typo = {"model": "xlstm_patch", "hparams": {"xlstm": {"embeding_dim": 32}}}
    with pytest.raises(ValueError, match="model 'bad' \\(xlstm_patch\\): unknown XLSTMStackConfig keys \\['embeding_dim'\\]"):
        load_bench_config(str(_write_config(tmp_path, models={"bad": typo})))
    late = dict(tiny, by_regime={"short": {"by_horizon": {720: {"hparams": {"xlstm": {"mlstm": {"num_head": 4}}}}}}})
    with pytest.raises(ValueError, match="short look-back, H=720: .*num_head"):
        load_bench_config(str(_write_config(tmp_path, models={"xlstm_tiny": late})))
    path = _write_config(tmp_path, models={"bad": typo})
    assert main(["--config", str(path), "--data", str(synthetic_csv), "--dry-run"]) == 2
    assert "embeding_dim" in capsys.readouterr().err
    with pytest.raises(ValueError, match="by_horizon keys \\['long'\\] are not horizons"):
        load_bench_config(str(_write_config(tmp_path, models={"dlinear": {"by_horizon": {"long": {}}}})))


def test_scalars_of_list_keys_are_one_item_lists(tmp_path, synthetic_csv):
    cfg = load_bench_config(str(_write_config(tmp_path, horizons=12, regimes="long", run="naive", seeds=3)))
    assert (cfg["horizons"], cfg["regimes"], cfg["run"], cfg["seeds"]) == ([12], ["long"], ["naive"], [3])
    data = load_bench_data(path=synthetic_csv, target="load")
    assert [c.describe() for c in expand_cells(cfg, [data])] == ["toy L=24 H=12 naive seed=3"]
    for over, msg in [({"regimes": "weekly"}, "unknown regimes \\['weekly'\\]"),
                      ({"horizons": "96,192"}, "'horizons' holds \\['96,192'\\]; expected positive int"),
                      ({"horizons": [96, 0]}, "'horizons' holds \\[0\\]"),
                      ({"seeds": {"a": 1}}, "'seeds' must be a list of int"),
                      ({"run": "dlinaer"}, "'run' names models \\['dlinaer'\\]")]:
        with pytest.raises(ValueError, match=msg):
            load_bench_config(str(_write_config(tmp_path, **over)))


def test_a_yaml_syntax_error_names_the_file(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("horizons: [96, 192\nseeds: [1]\n")
    with pytest.raises(ValueError, match=f"{path}: invalid YAML at line \\d+, column \\d+: ") as e:
        load_bench_config(str(path))
    assert "\n" not in str(e.value)


def test_tables_say_why_a_custom_horizon_grid_has_no_average(tmp_path, synthetic_csv, tiny_config):
    out = tmp_path / "run"
    assert _naive_run(tiny_config, synthetic_csv, out) == 0
    for stem in ("averages", "selection", "targets"):
        text = (out / f"{stem}.md").read_text()
        assert "no horizon average" in text and "toy: H=96/192/336/720 (ran 12)" in text, stem
    assert np.isfinite(pd.read_csv(out / "runs.csv")["mse"]).all()

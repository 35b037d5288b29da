"""``xlstm-ts fit --id-col/--time-col/--target-col``: files whose columns are not named
``unique_id``/``ds``/``y``; ``predict`` reads files with the column names saved with the model."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from xlstm_ts.cli import build_parser, main

from .conftest import TINY_CLI_YAML, seasonal_panel


@pytest.fixture
def cfg(tmp_path):
    path = tmp_path / "fit.yaml"
    path.write_text(TINY_CLI_YAML)
    return path


@pytest.fixture
def long_csv(tmp_path):
    """Long data with other column names, as CSV (its dates are text)."""
    path = tmp_path / "sales.csv"
    seasonal_panel().rename(columns={"unique_id": "item", "ds": "date", "y": "sales"}).to_csv(path, index=False)
    return path


def test_fit_long_file_with_named_columns_then_predict(tmp_path, cfg, long_csv):
    model = tmp_path / "model"
    argv = ["fit", "--config", str(cfg), "--data", str(long_csv), "--out", str(model),
            "--id-col", "item", "--time-col", "date", "--target-col", "sales"]
    assert main(argv) == 0
    params = json.loads((model / "config.json").read_text())["params"]
    assert (params["id_col"], params["time_col"], params["target_col"]) == ("item", "date", "sales")
    # predict: from the end of the fitted data, and from a file read with the saved column names
    assert main(["predict", "--model", str(model), "--out", str(tmp_path / "pred.csv")]) == 0
    assert main(["predict", "--model", str(model), "--data", str(long_csv), "--out", str(tmp_path / "p2.csv")]) == 0
    for name in ("pred.csv", "p2.csv"):
        pred = pd.read_csv(tmp_path / name)
        assert list(pred.columns) == ["item", "date", "y_hat"] and len(pred) == 18
        assert set(pred["item"]) == {"s0", "s1", "s2"} and pred["y_hat"].notna().all()


def test_fit_wide_file_flags_override_the_config(tmp_path, cfg):
    wide = seasonal_panel(1).drop(columns="unique_id").rename(columns={"ds": "when", "y": "a"})
    wide["b"] = 2 * wide["a"]
    wide.to_parquet(tmp_path / "wide.parquet")
    cfg.write_text(TINY_CLI_YAML + "time_col: timestamp\n")  # a wrong name in the config: the flag wins
    model = tmp_path / "model"
    assert main(["fit", "--config", str(cfg), "--data", str(tmp_path / "wide.parquet"), "--out", str(model),
                 "--time-col", "when", "--target-col", "b"]) == 0
    assert main(["predict", "--model", str(model), "--out", str(tmp_path / "pred.parquet")]) == 0
    pred = pd.read_parquet(tmp_path / "pred.parquet")
    assert list(pred.columns) == ["unique_id", "when", "y_hat"] and set(pred["unique_id"]) == {"b"}
    assert len(pred) == 6


@pytest.mark.parametrize("flags,msg", [
    (["--id-col", "item", "--time-col", "when", "--target-col", "sales"],
     "df is missing column(s) 'when' (time); available columns: 'item', 'date', 'sales'"),
    (["--id-col", "item", "--time-col", "date", "--target-col", "qty"],
     "df is missing column(s) 'qty' (target); available columns: 'item', 'date', 'sales'"),
    # without its id column the file is read as wide: its text columns cannot be targets
    (["--time-col", "date"], "target column 'item' has non-numeric dtype str"),
])
def test_bad_column_names_are_one_line_errors(tmp_path, cfg, long_csv, capsys, flags, msg):
    argv = ["fit", "--config", str(cfg), "--data", str(long_csv), "--out", str(tmp_path / "m"), *flags]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"xlstm-ts fit: error: {msg}") and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "m").exists()


def test_target_col_takes_a_comma_separated_list(capsys):
    def target(value):
        return build_parser().parse_args(["fit", "--data", "d.csv", "--out", "m", "--target-col", value]).target_col

    assert target("sales") == "sales"
    assert target("a, b") == ["a", "b"]
    with pytest.raises(SystemExit) as e:
        target("a,,b")
    assert e.value.code == 2
    assert "expected a column name or a comma-separated list of them: 'a,,b'" in capsys.readouterr().err

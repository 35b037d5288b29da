"""The benchmark protocol against the published TSLib formulas (benchmarks.md §1)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from xlstm_ts.bench import expand_cells, load_bench_config, load_bench_data, prepare_splits
from xlstm_ts.bench.protocol import fold_spans, season_length_for


def _ett_hour_formula(L):
    return ([0, 12 * 30 * 24 - L, 12 * 30 * 24 + 4 * 30 * 24 - L],
            [12 * 30 * 24, 12 * 30 * 24 + 4 * 30 * 24, 12 * 30 * 24 + 8 * 30 * 24])


def _ratio_formula(n, L):
    num_train, num_test = int(n * 0.7), int(n * 0.2)
    num_vali = n - num_train - num_test
    return [0, num_train - L, n - num_test - L], [num_train, num_train + num_vali, n]


@pytest.mark.parametrize("L", [96, 336, 512])
def test_etth1_borders_windows_and_scaler(L):
    data = load_bench_data("ETTh1")
    assert data.n_rows == 17420 and data.target == "OT" and data.protocol == "ett-hour"
    prep = prepare_splits(data, L, 96)
    assert [list(b) for b in prep.borders] == [list(b) for b in _ett_hour_formula(L)]
    counts = prep.window_counts()
    assert counts["test"] == 2785  # 2880 - 96 + 1, independent of L
    assert counts["val"] == 2785
    assert counts["train"] == 8640 - L - 96 + 1
    # First test target row sits exactly on the border; the last test target is row 14399.
    first = prep.test.index[0, 1] + L
    last = prep.test.index[-1, 1] + L + 96 - 1
    assert first == 11520 and last == 14399
    # Scaler fitted on the training rows only (population std, like StandardScaler).
    train = data.values[:8640]
    np.testing.assert_allclose(prep.scaler.center_, train.mean(0))
    np.testing.assert_allclose(prep.scaler.scale_, train.std(0))
    np.testing.assert_allclose(prep.scaled[:8640].mean(0), 0, atol=1e-4)


@pytest.mark.parametrize(("name", "L", "H", "test_windows"), [
    ("exchange_rate", 96, 96, 1517 - 96 + 1),
    ("exchange_rate", 336, 720, 1517 - 720 + 1),
    ("ili", 36, 24, 193 - 24 + 1),
    ("ili", 104, 60, 193 - 60 + 1),
    ("ETTm1", 96, 96, 11520 - 96 + 1),
])
def test_ratio_and_minute_window_counts(name, L, H, test_windows):
    data = load_bench_data(name)
    prep = prepare_splits(data, L, H)
    assert prep.window_counts()["test"] == test_windows
    if data.protocol == "ratio":
        assert [list(b) for b in prep.borders] == [list(b) for b in _ratio_formula(data.n_rows, L)]


def test_weather_file_used_as_is():
    data = load_bench_data("weather")
    assert data.n_rows == 52696 and data.n_channels == 21 and data.target == "OT"
    assert prepare_splits(data, 96, 96).spans.test == (42157 - 96, 52696)


def test_custom_file_target_moved_last(synthetic_csv):
    data = load_bench_data(path=synthetic_csv, protocol="ratio", target="load")
    assert data.columns == ("a", "b", "load") and data.name == "toy"
    assert season_length_for(data.index) == 24
    with pytest.raises(ValueError, match="target column"):
        load_bench_data(path=synthetic_csv, target="nope")
    with pytest.raises(ValueError, match="protocol"):
        load_bench_data(path=synthetic_csv, protocol="weekly")


def test_a_file_out_of_time_order_is_refused(tmp_path):
    from .conftest import synthetic_frame

    path = tmp_path / "shuffled.csv"
    synthetic_frame().sample(frac=1.0, random_state=0).to_csv(path, index=False)
    with pytest.raises(ValueError, match="not in time order.*sort the file"):
        load_bench_data(path=path, protocol="ratio")


def test_presets_generalise_across_families(tmp_path, capsys):
    from xlstm_ts.bench.cli import main
    from xlstm_ts.bench.config import find_preset, load_bench_config

    assert find_preset("ETTh2", "ett-hour") == "etth1"
    assert find_preset("ETTm2", "ett-minute") == "ettm1"
    assert find_preset("my_sales", "ratio") == "default"
    for name in ("etth1", "ettm1", "weather", "exchange_rate", "national_illness", "default"):
        assert load_bench_config(name)["models"]
    # An ETTh2-like file: protocol from the file name, the ETTh preset's grid.
    import pandas as pd
    n = 14400
    frame = pd.DataFrame({"date": pd.date_range("2016-07-01", periods=n, freq="h"),
                          "HUFL": np.arange(n, dtype=float) % 24, "OT": np.sin(np.arange(n) / 24)})
    path = tmp_path / "ETTh2.parquet"
    frame.to_parquet(path)
    assert main(["--data", str(path), "--out", str(tmp_path / "o"), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "ETTh2 L=336 H=720 xlstm_patch seed=2023" in out and "configs/bench/etth1.yaml" in out


def test_cell_signature_follows_model_and_stack_defaults(monkeypatch):
    """A finished cell must rerun when a default it relied on changes (here the stack's final
    LayerNorm, which the cell's own hparams never mention)."""
    from xlstm_ts.bench.config import Cell
    from xlstm_ts.models.xlstm_patch import XLSTMPatch

    cell = Cell(dataset="ETTh1", source="bundled", protocol="ett-hour", target="OT", regime="long",
                lookback=336, horizon=96, label="xlstm_patch", model="xlstm_patch",
                hparams={"xlstm": {"embedding_dim": 32}}, train={"learning_rate": 1e-3}, seed=1)
    before = cell.signature()
    assert cell.signature() == before
    defaults = {**XLSTMPatch.defaults, "xlstm": {**XLSTMPatch.defaults["xlstm"]}}
    defaults["xlstm"]["add_post_blocks_norm"] = not defaults["xlstm"].get("add_post_blocks_norm", True)
    monkeypatch.setattr(XLSTMPatch, "defaults", defaults)
    assert cell.signature() != before


def test_an_added_hparam_at_its_old_behaviour_keeps_cell_signatures():
    """``linear_base`` and ``covariate_linear`` came after results were recorded: "shared" / False
    (what every earlier cell ran) must hash as before they existed, so finished cells are not
    rerun; another value must not."""
    from xlstm_ts.bench.config import Cell
    from xlstm_ts.models.xlstm_mixer import XLSTMMixer

    def sig(**hp):
        return Cell(dataset="weather", source="bundled", protocol="ratio", target="OT", regime="short",
                    lookback=96, horizon=336, label="xlstm_mixer", model="xlstm_mixer",
                    hparams={"views": 2, **hp}, train={"max_epochs": 15}, seed=2021).signature()

    assert XLSTMMixer.added_hparams == {"linear_base": "shared", "covariate_linear": False}
    assert sig() == sig(linear_base="shared") != sig(linear_base="individual") != sig(linear_base="decomposed")
    assert sig() == sig(covariate_linear=False) != sig(covariate_linear=True)
    # a cell recorded before the hparam existed (Weather L=96 H=336 seed 2021, run 2026-11-27
    # 17:34 in session 13) still has the signature it was stored with
    import pandas as pd

    runs = pd.read_parquet(Path(__file__).parents[2] / "docs/bench_results/short_mixer/runs.parquet")
    row = runs[(runs.dataset == "weather") & (runs.horizon == 336) & (runs.seed == 2021)]
    (cell,) = expand_cells(load_bench_config("weather"), [load_bench_data("weather")], models=["xlstm_mixer"],
                           regimes=["short"], horizons=[336], seeds=[2021])
    assert cell.hparams.get("linear_base", "shared") == "shared"
    assert cell.signature() == row.signature.item()


def test_validation_folds_never_read_the_protocol_validation_or_test_rows():
    data = load_bench_data("ETTh1")
    L, H = 336, 96
    b2_train = 12 * 30 * 24
    v = 4 * 30 * 24
    for k in (1, 2):
        prep = prepare_splits(data, L, H, val_fold=k)
        assert prep.test is None and set(prep.window_counts()) == {"train", "val"}
        assert prep.spans.train == (0, b2_train - k * v)
        assert prep.spans.val == (b2_train - k * v - L, b2_train - (k - 1) * v)
        assert len(prep.val) == len(prepare_splits(data, L, H).val)  # same validation length
        # the scaler is refitted on the fold's own training rows
        t0, t1 = prep.spans.train
        np.testing.assert_allclose(prep.scaled[t0:t1].mean(0), 0, atol=1e-4)
    # Rows from the protocol's validation border on cannot change a fold: overwrite them. The
    # scaler and every row a fold's windows can reach (all before the border) stay identical.
    spoiled = data.values.copy()
    spoiled[b2_train:] = 1e6
    other = dataclasses.replace(data, values=spoiled)
    a, b = prepare_splits(data, L, H, val_fold=1), prepare_splits(other, L, H, val_fold=1)
    assert a.spans == b.spans and a.spans.val[1] <= b2_train
    np.testing.assert_array_equal(a.scaled[:b2_train], b.scaled[:b2_train])
    np.testing.assert_array_equal(a.train[len(a.train) - 1]["y"], b.train[len(b.train) - 1]["y"])
    np.testing.assert_array_equal(a.val[len(a.val) - 1]["y"], b.val[len(b.val) - 1]["y"])


def test_a_fold_that_leaves_no_training_rows_is_refused():
    data = load_bench_data("ETTh1")
    with pytest.raises(ValueError, match="validation fold 3 leaves no training rows"):
        prepare_splits(data, 336, 96, val_fold=3)
    with pytest.raises(ValueError, match="val_fold must be >= 1"):
        fold_spans(data.n_rows, 336, "ett-hour", 0)


def test_calendar_step_is_the_most_common_one():
    """Calendar features need a frequency; Weather's timestamps have a gap and a duplicate, so
    the step is the most common difference, in the units calendar_feature_names knows."""
    import pandas as pd

    from xlstm_ts.bench.protocol import _dominant_step
    from xlstm_ts.data import calendar_feature_names

    ten = pd.date_range("2020-01-01", periods=50, freq="10min")
    irregular = ten.delete(7).insert(20, ten[19])  # a gap and a duplicated row
    assert _dominant_step(irregular) == "10min"
    assert calendar_feature_names(_dominant_step(irregular))[0] == "minute_of_hour"
    assert _dominant_step(pd.date_range("2020-01-01", periods=9, freq="D")) == "1D"
    assert _dominant_step(pd.date_range("2020-01-07", periods=9, freq="7D")) == "1W"
    assert calendar_feature_names("1W") == ["day_of_month", "week_of_year"]
    assert _dominant_step(pd.RangeIndex(10)) is None

"""Split borders against the published TSLib numbers (benchmarks.md §1.1)."""

from __future__ import annotations

import pytest

from xlstm_ts.data import (
    SplitSpans,
    load_dataset,
    protocol_for,
    tail_spans,
    tslib_borders,
    tslib_spans,
)


def test_etth1_borders():
    assert tslib_borders(17420, 96, "ett-hour") == ([0, 8544, 11424], [8640, 11520, 14400])
    assert tslib_borders(17420, 336, "ett-hour") == ([0, 8304, 11184], [8640, 11520, 14400])


def test_ettm1_borders():
    assert tslib_borders(69680, 96, "ett-minute") == ([0, 34464, 45984], [34560, 46080, 57600])


@pytest.mark.parametrize(
    ("n_rows", "train", "val", "test", "test_start"),
    [
        (52696, 36887, 5270, 10539, 42157),  # Weather
        (26304, 18412, 2632, 5260, 21044),  # ECL
        (17544, 12280, 1756, 3508, 14036),  # Traffic
        (7588, 5311, 760, 1517, 6071),  # Exchange
        (966, 676, 97, 193, 773),  # ILI
    ],
)
def test_ratio_split_sizes_match_published_table(n_rows, train, val, test, test_start):
    spans = tslib_spans(n_rows, lookback=96, protocol="ratio")
    assert spans.target_rows() == {"train": train, "val": val, "test": test}
    assert spans.test[0] + 96 == test_start
    assert spans.train == (0, train) and spans.test[1] == n_rows


@pytest.mark.parametrize(
    ("name", "rows"), [("weather", 52696), ("exchange_rate", 7588), ("ili", 966)]
)
def test_bundled_files_have_the_published_row_counts(name, rows):
    assert len(load_dataset(name)) == rows


@pytest.mark.parametrize("lookback", [96, 336, 512])
def test_etth1_h96_test_has_2785_windows(lookback):
    spans = tslib_spans(17420, lookback, "ett-hour")
    assert spans.window_counts(96)["test"] == 2785
    assert spans.window_counts(96)["val"] == 2785
    assert spans.window_counts(720)["test"] == 2880 - 720 + 1
    assert spans.window_counts(96)["train"] == 8640 - lookback - 96 + 1


def test_ili_short_lookback_counts():
    spans = tslib_spans(966, 36, "ratio")
    assert spans.window_counts(24) == {
        "train": 676 - 36 - 24 + 1,
        "val": 97 - 24 + 1,
        "test": 193 - 24 + 1,
    }


def test_protocol_for():
    assert protocol_for("ETTh1") == "ett-hour"
    assert protocol_for("ettm2") == "ett-minute"
    assert protocol_for("weather") == "ratio"


def test_errors():
    with pytest.raises(ValueError, match="needs at least 14400 rows, got 1000"):
        tslib_borders(1000, 96, "ett-hour")
    with pytest.raises(ValueError, match="unknown protocol 'monthly'"):
        tslib_borders(1000, 96, "monthly")
    with pytest.raises(ValueError, match="lookback 800 is longer than the training part"):
        tslib_borders(966, 800, "ratio")


def test_tail_spans_validation_is_the_last_part():
    spans = tail_spans(100, lookback=10, val_size=20, test_size=5)
    assert spans == SplitSpans(train=(0, 75), val=(65, 95), test=(85, 100), lookback=10)
    assert spans.target_rows() == {"train": 75, "val": 20, "test": 5}
    no_test = tail_spans(100, lookback=10, val_size=20)
    assert no_test.test == (100, 100) and no_test.window_counts(5)["test"] == 0
    with pytest.raises(ValueError, match="too short"):
        tail_spans(30, lookback=10, val_size=20)

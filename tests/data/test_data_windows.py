"""Lazy windowing: counts, boundaries, batching and memory."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from xlstm_ts.data import (
    WindowDataset,
    count_windows,
    from_wide,
    load_dataset,
    tslib_spans,
    window_loader,
)


def ramp_series(lengths=(30, 45), channels=2):
    """Series k holds k * 1000 + t in every channel, so any window reveals its origin."""
    return [
        (np.arange(n, dtype=np.float32)[:, None] + 1000 * k).repeat(channels, axis=1)
        for k, n in enumerate(lengths)
    ]


def test_item_contents_and_keys():
    series = ramp_series()
    ds = WindowDataset(series, lookback=5, horizon=3)
    item = ds[0]
    assert set(item) == {"x", "y", "series_idx", "start"}
    assert (
        item["x"].shape == (5, 2) and item["y"].shape == (3, 2) and item["x"].dtype == torch.float32
    )
    np.testing.assert_array_equal(item["x"][:, 0], np.arange(5))
    np.testing.assert_array_equal(item["y"][:, 0], [5, 6, 7])
    last = ds[len(ds) - 1]
    assert last["series_idx"].item() == 1
    assert last["y"][-1, 0].item() == 1000 + 44  # the last window ends on the last row


def test_counts_match_tslib_formula_per_series():
    ds = WindowDataset(ramp_series((30, 45)), lookback=5, horizon=3)
    assert len(ds) == (30 - 5 - 3 + 1) + (45 - 5 - 3 + 1)
    assert np.bincount(ds.index[:, 0]).tolist() == [23, 38]


def test_no_window_crosses_a_series_or_span_end():
    series = ramp_series((30, 45))
    spans = [(3, 20), (10, 45)]
    ds = WindowDataset(series, lookback=4, horizon=2, spans=spans)
    batch = ds.get_batch(np.arange(len(ds)))
    full = torch.cat([batch["x"], batch["y"]], dim=1)[..., 0].numpy()
    origin = full // 1000
    assert (origin == origin[:, :1]).all()  # one series per window
    assert (np.diff(full, axis=1) == 1).all()  # consecutive rows, y continues x
    for k, (start, end) in enumerate(spans):
        rows = full[batch["series_idx"].numpy() == k] - 1000 * k
        assert rows.min() == start and rows.max() == end - 1  # spans fully used, never left


def test_stride():
    ds = WindowDataset(ramp_series((30,)), lookback=5, horizon=3, stride=4)
    assert ds.index[:, 1].tolist() == list(range(0, 23, 4))
    assert len(ds) == count_windows(30, 5, 3, stride=4) == 6


def test_get_batch_equals_items():
    series = ramp_series((30, 45))
    futr = [
        np.random.default_rng(k).normal(size=(len(s), 3)).astype(np.float32)
        for k, s in enumerate(series)
    ]
    static = np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32)
    ds = WindowDataset(series, lookback=6, horizon=4, futr=futr, static=static)
    picks = [40, 0, 7, 39, 21]
    batch = ds.get_batch(picks)
    assert batch["x_futr"].shape == (5, 10, 3) and batch["static"].shape == (5, 2)
    for b, i in enumerate(picks):
        item = ds[i]
        for key, value in item.items():
            torch.testing.assert_close(batch[key][b], value)


def test_loader_batches_and_keeps_the_last_partial_batch():
    ds = WindowDataset(ramp_series((30, 45)), lookback=5, horizon=3)
    loader = window_loader(
        ds, batch_size=16, shuffle=True, generator=torch.Generator().manual_seed(0)
    )
    batches = list(loader)
    assert len(batches) == -(-len(ds) // 16)
    assert sum(len(b["x"]) for b in batches) == len(ds)
    assert batches[0]["x"].shape == (16, 5, 2)
    seen = torch.cat([b["series_idx"] * 10_000 + b["start"] for b in batches])
    assert len(torch.unique(seen)) == len(ds)


def test_items_do_not_alias_the_data():
    series = ramp_series((30,))
    ds = WindowDataset(series, lookback=5, horizon=3)
    ds[0]["x"].zero_()
    ds.get_batch([0])["x"].zero_()
    assert series[0][1, 0] == 1.0


def test_from_series_uses_covariates_and_replacement_values():
    (item,) = from_wide(load_dataset("ETTh1").iloc[:500])
    scaled = [item.values * 2]
    ds = WindowDataset.from_series([item], 96, 24, values=scaled)
    np.testing.assert_array_equal(ds[0]["x"].numpy(), scaled[0][:96])


@settings(max_examples=40, deadline=None)
@given(
    lengths=st.lists(st.integers(1, 60), min_size=1, max_size=4),
    lookback=st.integers(1, 10),
    horizon=st.integers(1, 10),
    stride=st.integers(1, 5),
)
def test_window_count_property(lengths, lookback, horizon, stride):
    expected = sum(count_windows(n, lookback, horizon, stride) for n in lengths)
    series = [np.zeros((n, 1), np.float32) for n in lengths]
    if expected == 0:
        with pytest.raises(ValueError, match="no window"):
            WindowDataset(series, lookback, horizon, stride=stride)
        return
    ds = WindowDataset(series, lookback, horizon, stride=stride)
    assert len(ds) == expected
    ends = ds.index[:, 1] + lookback + horizon
    assert (ends <= np.array(lengths)[ds.index[:, 0]]).all()


def test_errors():
    with pytest.raises(ValueError, match="same number of channels"):
        WindowDataset([np.zeros((20, 1)), np.zeros((20, 2))], 3, 2)
    with pytest.raises(ValueError, match=r"span \(0, 50\) of series 0 is outside its 20 rows"):
        WindowDataset([np.zeros((20, 1))], 3, 2, spans=[(0, 50)])
    with pytest.raises(ValueError, match="futr 0 has 10 rows, series 0 has 20"):
        WindowDataset([np.zeros((20, 1))], 3, 2, futr=[np.zeros((10, 1))])
    with pytest.raises(ValueError, match="lookback, horizon and stride must be >= 1"):
        WindowDataset([np.zeros((20, 1))], 0, 2)


# ---------------------------------------------------------------------------- benchmarks


def test_etth1_split_window_counts_match_tslib():
    values = load_dataset("ETTh1").to_numpy(np.float32)
    spans = tslib_spans(len(values), lookback=336, protocol="ett-hour")
    lengths = {
        name: len(WindowDataset([values], 336, 96, spans=[span]))
        for name, span in spans.as_dict().items()
    }
    assert lengths == {"train": 8640 - 336 - 96 + 1, "val": 2785, "test": 2785}
    test = WindowDataset([values], 336, 96, spans=[spans.test])
    first = test[0]
    np.testing.assert_array_equal(
        first["y"][0].numpy(), values[11520]
    )  # first target on the border
    np.testing.assert_array_equal(test[len(test) - 1]["y"][-1].numpy(), values[14399])


def test_ettm1_long_lookback_stores_no_windows():
    values = load_dataset("ETTm1").to_numpy(np.float32)
    spans = tslib_spans(len(values), lookback=720, protocol="ett-minute")
    tracemalloc.start()
    ds = WindowDataset([values], lookback=720, horizon=96, spans=[spans.train])
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    n = len(ds)
    assert n == 34560 - 720 - 96 + 1
    materialised = n * (720 + 96) * values.shape[1] * 4  # what window copies would take (~0.8 GB)
    assert peak < 4 * ds.index.nbytes + 1_000_000 < materialised / 100
    # The data is held by reference and the index is the only per-window array.
    assert np.shares_memory(ds.series[0], values)
    assert ds.index.shape == (n, 2) and ds.index.dtype == np.int64
    per_window = [
        name
        for name, value in vars(ds).items()
        if isinstance(value, np.ndarray) and value.shape[:1] == (n,)
    ]
    assert per_window == ["index"]

"""TBPTT pieces: segment batches in time order, carried states, validation targets, state trees."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from xlstm_ts.models import ModelSpec, build_model, make_loss
from xlstm_ts.streaming import flatten_state, state_nbytes, unflatten_state
from xlstm_ts.streaming.state import state_cat, state_scatter, state_select
from xlstm_ts.streaming.training import (
    SegmentDataset,
    StreamModule,
    StreamValidationDataset,
    auto_lane_len,
)

H, S = 3, 5


def _series(lengths, C=2, F=1, seed=0):
    rng = np.random.default_rng(seed)
    values = [rng.standard_normal((n, C)).astype(np.float32) for n in lengths]
    futr = [rng.standard_normal((n, F)).astype(np.float32) for n in lengths]
    return values, futr


def test_segments_cover_each_training_step_once_with_its_future_targets():
    values, futr = _series([23, 40])
    train_end = [20, 31]
    ds = SegmentDataset(values, futr, None, train_end, H, S, lane_len=12, batch_size=3)
    seen = {}
    last_seg = {}
    for k in range(len(ds)):
        b = ds[k]
        g = b["group"]
        j = sum(1 for kk in range(k) if ds.order[kk][0] == g)  # segment index inside the group
        assert b["reset"] == (j == 0)
        assert last_seg.get(g, -1) == j - 1  # each group advances in time order
        last_seg[g] = j
        for r, (i, a, stop) in enumerate(ds.groups[g]):
            for s in range(b["x"].shape[1]):
                t = a + j * S + s
                if t >= stop:
                    assert torch.isnan(b["y"][r, s]).all()
                    continue
                seen[(i, t)] = seen.get((i, t), 0) + 1
                np.testing.assert_array_equal(b["x"][r, s].numpy(), values[i][t])
                np.testing.assert_array_equal(b["futr"][r, s].numpy(), futr[i][t])
                for h in range(H):
                    want = values[i][t + 1 + h] if t + 1 + h < train_end[i] else np.full(2, np.nan)
                    np.testing.assert_array_equal(b["y"][r, s, h].numpy(), want)  # never past the span
                    np.testing.assert_array_equal(b["futr_next"][r, s, h].numpy(),
                                                  futr[i][t + 1 + h] if t + 1 + h < len(futr[i]) else 0.0)
    assert seen == {(i, t): 1 for i, e in enumerate(train_end) for t in range(e)}
    assert len(ds.groups) == 2 and sum(len(g) for g in ds.groups) == 2 + 3  # 20 -> 2 lanes, 31 -> 3


def test_batch_size_does_not_depend_on_series_length():
    shapes = []
    for n in (1_000, 100_000):
        values, futr = _series([n], C=1, F=0)
        ds = SegmentDataset(values, None, None, [n], H, S, lane_len=auto_lane_len([n], S, 4), batch_size=4)
        b = ds[len(ds) // 2]
        shapes.append((tuple(b["x"].shape), tuple(b["y"].shape)))
    assert shapes[0] == shapes[1] == (((4, S, 1)), (4, S, H, 1))


def test_validation_targets_start_after_the_training_span():
    values, futr = _series([30, 30, 25])
    ds = StreamValidationDataset(values, futr, None, [24, 24, 25], H, batch_size=8)
    assert len(ds) == 1  # the third series has no validation rows
    b = ds[0]
    assert b["train_end"] == 24 and b["y"].shape == (2, 6, H, 2)
    np.testing.assert_array_equal(b["y"][1, 0].numpy(), values[1][24:27])  # origin 23 -> 24..26
    assert torch.isnan(b["y"][0, -1, 1:]).all()  # origin 28: only step 29 exists


def test_module_carries_the_state_between_segments():
    values, futr = _series([30], C=2, F=1)
    spec = ModelSpec(lookback=S, horizon=H, n_channels=2, n_futr=1)
    model = build_model("xlstm_stream", spec, xlstm={"embedding_dim": 16, "num_blocks": 1}).eval()
    module = StreamModule(model, make_loss("mse"))
    module.log = lambda *a, **k: None
    ds = SegmentDataset(values, futr, None, [30], H, S, lane_len=30, batch_size=1)
    for k in range(3):
        module.training_step(ds[k], k)
    x = torch.from_numpy(values[0][None, :3 * S])
    _, want = model.read(x, torch.from_numpy(futr[0][None, :3 * S]), None)
    got = module._states[0]
    for a, b in zip(flatten_state(got)[0].values(), flatten_state(want)[0].values(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert all(not t.requires_grad for t in flatten_state(got)[0].values())
    module.on_train_epoch_start()
    assert module._states == {}


@pytest.mark.parametrize("slstm_at", ["1:0", "1:1"])
def test_state_tree_round_trip_and_batch_ops(slstm_at):
    spec = ModelSpec(lookback=8, horizon=2, n_channels=1)
    m = build_model("xlstm_stream", spec, xlstm={"embedding_dim": 16, "num_blocks": 2, "slstm_at": slstm_at,
                                                 "mlstm": {"num_heads": 2}, "slstm": {"num_heads": 2}}).eval()
    x = torch.randn(3, 50, 1)
    out, state = m.read(x, None, None, block=16)
    tensors, structure = flatten_state(state)
    rebuilt = unflatten_state(structure, tensors)
    assert type(rebuilt[0][1]) is type(state[0][1]) and state_nbytes(rebuilt) == state_nbytes(state)
    # advancing the rebuilt state equals advancing the original, one step (the O(1) path) or several
    for k in (1, 4):
        a, _ = m.read(x[:, :k], None, None, state)
        b, _ = m.read(x[:, :k], None, None, rebuilt)
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    whole, _ = m.read(torch.cat([x, x[:, :4]], 1), None, None)
    step = out
    st = state
    for t in range(4):
        step, st = m.read(x[:, t:t + 1], None, None, st)
    torch.testing.assert_close(step, whole, rtol=1e-5, atol=1e-5)
    idx = torch.tensor([2, 0])
    sub = state_select(state, idx)
    back = state_scatter(state_select(state, torch.tensor([1, 1, 1])), idx, sub)
    torch.testing.assert_close(state_cat([state_select(back, torch.tensor([0])), state_select(state, torch.tensor([1]))])[0][1][0],
                               state_select(state, torch.tensor([0, 1]))[0][1][0])
    assert state_nbytes(m.read(torch.randn(3, 500, 1), None, None)[1]) == state_nbytes(state)

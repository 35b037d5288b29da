"""Blocks and stacks: streaming equals the full forward, state size is constant, configs round-trip."""

from __future__ import annotations

import pytest
import torch

from xlstm_ts.nn import (
    MLSTMLayer,
    MLSTMLayerConfig,
    SLSTMLayer,
    SLSTMLayerConfig,
    XLSTMStack,
    XLSTMStackConfig,
)


def state_numel(state) -> int:
    if state is None:
        return 0
    if isinstance(state, torch.Tensor):
        return state.numel()
    return sum(state_numel(s) for s in state)


def small_stack(slstm_at="1:1", num_blocks=4, E=32, chunk=8, seed=0):
    torch.manual_seed(seed)
    cfg = XLSTMStackConfig(embedding_dim=E, num_blocks=num_blocks, slstm_at=slstm_at,
                           mlstm=MLSTMLayerConfig(num_heads=2, chunk_size=chunk),
                           slstm=SLSTMLayerConfig(num_heads=2), backend="torch")
    return XLSTMStack(cfg).eval()


@pytest.mark.parametrize("slstm_at", ["1:0", "1:1", "0:1", [1]])
def test_step_by_step_equals_full_forward(slstm_at):
    stack = small_stack(slstm_at)
    x = torch.randn(2, 37, 32)
    with torch.no_grad():
        y_full, s_full = stack(x)
        state, ys = None, []
        for t in range(x.shape[1]):
            y_t, state = stack.step(x[:, t], state)
            ys.append(y_t)
    y_step = torch.stack(ys, 1)
    assert (y_step - y_full).abs().max() <= 1e-4 * y_full.abs().max()


def test_pieces_with_carried_state_equal_whole():
    stack = small_stack("1:1")
    x = torch.randn(3, 50, 32)
    with torch.no_grad():
        y, _ = stack(x)
        y1, s1 = stack(x[:, :17])
        y2, s2 = stack(x[:, 17:41], s1)
        y3, _ = stack(x[:, 41:], s2)
    assert torch.allclose(torch.cat([y1, y2, y3], 1), y, atol=1e-5, rtol=1e-4)


def test_state_size_does_not_depend_on_sequence_length():
    stack = small_stack("1:1")
    with torch.no_grad():
        _, s_short = stack(torch.randn(2, 5, 32))
        _, s_long = stack(torch.randn(2, 500, 32))
        state = s_long
        for _ in range(20):
            _, state = stack.step(torch.randn(2, 32), state)
    assert state_numel(s_short) == state_numel(s_long) == state_numel(state) > 0


def test_any_sequence_length_no_context_limit():
    stack = small_stack("1:0", num_blocks=2)
    for S in (1, 3, 64, 1000):
        y, _ = stack(torch.randn(1, S, 32))
        assert y.shape == (1, S, 32) and torch.isfinite(y).all()


def test_gradients_flow_and_are_finite():
    stack = small_stack("1:1").train()
    x = torch.randn(2, 20, 32, requires_grad=True)
    y, _ = stack(x)
    y.pow(2).mean().backward()
    assert torch.isfinite(x.grad).all()
    for name, p in stack.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


def test_large_inputs_stay_finite():
    """Gate soft-capping plus the stabilisers keep the stack finite for inputs of any scale."""
    stack = small_stack("1:1")
    x = torch.randn(2, 30, 32) * 1e4
    y, _ = stack(x)
    assert torch.isfinite(y).all()


@pytest.mark.parametrize("spec,n,expected", [
    ("7:1", 8, [7]), ("1:1", 4, [1, 3]), ("1:0", 3, []), ("0:1", 2, [0, 1]),
    ("all", 3, [0, 1, 2]), ([0, 2], 3, [0, 2]), ("3:1", 8, [3, 7]),
])
def test_slstm_positions(spec, n, expected):
    assert XLSTMStackConfig(num_blocks=n, slstm_at=spec).slstm_positions() == expected


@pytest.mark.parametrize("spec,n,msg", [
    ("7:1", 6, "not a multiple"), ("x:1", 2, "ratio"), ([0, 5], 3, "positions"), ([1, 1], 3, "distinct"),
])
def test_bad_slstm_positions(spec, n, msg):
    with pytest.raises(ValueError, match=msg):
        XLSTMStackConfig(num_blocks=n, slstm_at=spec)


def test_config_round_trips_through_dict_and_yaml():
    cfg = XLSTMStackConfig(embedding_dim=64, num_blocks=4, slstm_at="3:1",
                           mlstm=MLSTMLayerConfig(num_heads=8, chunk_size=32, gate_soft_cap=None),
                           slstm=SLSTMLayerConfig(num_heads=2, conv1d_kernel_size=0), dropout=0.1)
    assert XLSTMStackConfig.from_dict(cfg.to_dict()) == cfg
    assert XLSTMStackConfig.from_yaml(cfg.to_yaml()) == cfg
    assert XLSTMStack(cfg.to_dict()).config == cfg


def test_unknown_config_key_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown MLSTMLayerConfig keys"):
        XLSTMStackConfig.from_dict({"mlstm": {"num_head": 4}})


def test_reference_initialisation():
    layer = MLSTMLayer(64, MLSTMLayerConfig(num_heads=4))
    NH = 4
    assert torch.equal(layer.gates.weight, torch.zeros_like(layer.gates.weight))
    assert torch.allclose(layer.gates.bias[NH:], torch.linspace(3, 6, NH))
    assert torch.equal(layer.skip, torch.ones_like(layer.skip))
    s = SLSTMLayer(64, SLSTMLayerConfig(num_heads=4), block_idx=0, num_blocks=1)
    assert torch.equal(s.R, torch.zeros_like(s.R))
    fb = s.b[1, 0]
    assert fb[0].item() == pytest.approx(5.0) and fb[-1].item() == pytest.approx(-7.0)


def test_inner_dim_and_heads():
    layer = MLSTMLayer(128, MLSTMLayerConfig(num_heads=4, proj_factor=2.0))
    assert layer.inner_dim == 256 and layer.head_dim == 64
    with pytest.raises(ValueError, match="divisible"):
        SLSTMLayer(30, SLSTMLayerConfig(num_heads=4))

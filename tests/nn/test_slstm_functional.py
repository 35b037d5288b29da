"""sLSTM: the fast sequence path equals the autograd step loop; exact gradients; stability."""

from __future__ import annotations

import pytest
import torch

from xlstm_ts.nn.functional import slstm_recurrent_autograd, slstm_sequence, slstm_step


def make(B, S, NH, DH, scale=1.0, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    xg = torch.randn(B, S, 4, NH, DH, generator=g, dtype=dtype) * scale
    R = torch.randn(NH, DH, 4, DH, generator=g, dtype=dtype) / DH**0.5
    b = torch.randn(4, NH, DH, generator=g, dtype=dtype)
    return xg, R, b


def rand_state(B, NH, DH, dtype=torch.float64, seed=1):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(B, NH, DH, generator=g, dtype=dtype), torch.randn(B, NH, DH, generator=g, dtype=dtype),
            torch.rand(B, NH, DH, generator=g, dtype=dtype) + 1, torch.randn(B, NH, DH, generator=g, dtype=dtype))


def rel_err(a, b):
    return ((a - b).abs().max() / b.abs().max()).item()


@pytest.mark.parametrize("with_state", [False, True])
def test_sequence_equals_step_loop(with_state):
    xg, R, b = make(3, 23, 2, 8)
    st = rand_state(3, 2, 8) if with_state else None
    h_ref, s_ref = slstm_recurrent_autograd(xg, R, b, st)
    h, s = slstm_sequence(xg, R, b, st, backend="torch")
    assert h.shape == (3, 23, 2, 8)
    assert rel_err(h, h_ref) < 1e-12
    for a, r in zip(s, s_ref, strict=True):
        assert rel_err(a, r) < 1e-12


def test_gradcheck_sequence():
    xg, R, b = make(2, 6, 2, 3, seed=2)
    st = rand_state(2, 2, 3, seed=3)
    leaves = [x.clone().requires_grad_() for x in (xg, R, b, *st)]

    def fn(xg, R, b, h0, c0, n0, m0):
        h, (hS, c, n, m) = slstm_sequence(xg, R, b, (h0, c0, n0, m0), backend="torch")
        return h, c, n, m

    assert torch.autograd.gradcheck(fn, leaves, eps=1e-6, atol=1e-7, rtol=1e-5)


def test_gradients_match_autograd_reference_fp32():
    xg, R, b = make(4, 40, 4, 16, dtype=torch.float32, seed=4)
    w = torch.randn(4, 40, 4, 16)
    grads = []
    for fn in (slstm_recurrent_autograd, lambda *a: slstm_sequence(*a, backend="torch")):
        leaves = [x.clone().requires_grad_() for x in (xg, R, b)]
        h, (hS, c, n, m) = fn(*leaves)
        ((h * w).sum() + c.sum()).backward()
        grads.append([x.grad for x in leaves])
    for a, r in zip(*grads, strict=True):
        assert rel_err(a, r) < 1e-4


@pytest.mark.parametrize("scale", [1e2, 1e3, 1e4])
def test_extreme_gate_preactivations_stay_finite(scale):
    xg, R, b = make(2, 50, 2, 8, scale=scale, dtype=torch.float32, seed=5)
    xg.requires_grad_()
    h, (hS, c, n, m) = slstm_sequence(xg, R * scale, b, backend="torch")
    assert torch.isfinite(h).all() and torch.isfinite(c).all() and torch.isfinite(n).all()
    assert (n >= 1 - 1e-6).all()
    h.sum().backward()
    assert torch.isfinite(xg.grad).all()


@pytest.mark.parametrize("const", [1e4, -1e4])
def test_constant_extreme_gates_stay_finite(const):
    xg = torch.full((1, 64, 4, 1, 4), const)
    R = torch.zeros(1, 4, 4, 4)
    b = torch.zeros(4, 1, 4)
    h, state = slstm_sequence(xg, R, b, backend="torch")
    assert torch.isfinite(h).all() and all(torch.isfinite(s).all() for s in state)


@pytest.mark.slow
def test_hundred_thousand_steps_stay_finite():
    """100,000 steps in segments with the carried state (as a stream would run)."""
    g = torch.Generator().manual_seed(6)
    R = torch.randn(2, 4, 4, 4, generator=g) * 0.5
    b = torch.zeros(4, 2, 4)
    b[1] = 5.0  # forget gate mostly open: the normaliser grows with the history
    state, steps = None, 0
    while steps < 100_000:
        xg = torch.randn(2, 10_000, 4, 2, 4, generator=g) * 10
        with torch.no_grad():
            h, state = slstm_sequence(xg, R, b, state, backend="torch")
        assert torch.isfinite(h).all()
        steps += xg.shape[1]
    assert all(torch.isfinite(s).all() for s in state)
    assert (state.n >= 1 - 1e-6).all()


def test_step_equals_sequence():
    xg, R, b = make(2, 10, 2, 4, dtype=torch.float32)
    h_seq, s_seq = slstm_sequence(xg, R, b, backend="torch")
    state = None
    for t in range(10):
        h_t, state = slstm_step(xg[:, t], R, b, state)
        assert rel_err(h_t, h_seq[:, t]) < 1e-5
    for a, r in zip(state, s_seq, strict=True):
        assert rel_err(a, r) < 1e-5


def test_bad_shapes():
    xg, R, b = make(1, 3, 2, 4)
    with pytest.raises(ValueError, match="R must be"):
        slstm_sequence(xg, R[:1], b, backend="torch")
    with pytest.raises(ValueError, match="x_gates"):
        slstm_sequence(xg[:, :, :3], R, b, backend="torch")

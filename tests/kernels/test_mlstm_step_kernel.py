"""Fused mLSTM step kernel (interpreter) against the torch step in float64."""

from __future__ import annotations

import pytest
import torch
from xlstm_ts_kernels import mlstm_step

from xlstm_ts.nn.functional import mlstm_chunkwise_torch
from xlstm_ts.nn.functional import mlstm_step as torch_step

from ._helpers import rel_err


def make(B, H, Dqk, Dv, init, i_shift=0.0, f_scale=1.0, nonneg=False, seed=0):
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g, dtype=torch.float64)  # noqa: E731
    q, k = r(B, H, Dqk), r(B, H, Dqk)
    if nonneg:
        q, k = q.abs(), k.abs()
    xs = [q, k, r(B, H, Dv), r(B, H) * 3 + i_shift, r(B, H) * f_scale + 2]
    state = (r(B, H, Dqk, Dv), r(B, H, Dqk).abs(), r(B, H)) if init else None
    return xs, state


@pytest.mark.parametrize(
    "B,H,Dqk,Dv,init,i_shift,f_scale,nonneg",
    [
        (2, 3, 16, 32, False, 0.0, 1.0, False),
        (2, 2, 32, 16, True, 0.0, 1.0, False),
        (1, 2, 100, 130, True, 0.0, 1.0, False),  # several ragged tiles each way
        (2, 2, 64, 16, True, 50.0, 20.0, True),
        (2, 2, 16, 64, True, -50.0, 20.0, True),
    ],
)
def test_step_matches_torch(B, H, Dqk, Dv, init, i_shift, f_scale, nonneg):
    xs, state = make(B, H, Dqk, Dv, init, i_shift, f_scale, nonneg, seed=Dqk + Dv)
    hr, sr = torch_step(*xs, state)
    h, s = mlstm_step(*(x.float() for x in xs), None if state is None else tuple(t.float() for t in state))
    assert h.dtype == torch.float32 and all(t.dtype == torch.float32 for t in s)
    assert rel_err(h, hr) < 1e-5
    for a, r in zip(s, sr, strict=False):
        assert rel_err(a, r) < 1e-5


def test_steps_equal_chunkwise():
    g = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn(1, 2, 12, d, generator=g) for d in (16, 16, 32))
    i, f = torch.randn(1, 2, 12, generator=g), torch.randn(1, 2, 12, generator=g) + 2
    hc, sc = mlstm_chunkwise_torch(q, k, v, i, f)
    state = None
    for t in range(12):
        h, state = mlstm_step(q[:, :, t], k[:, :, t], v[:, :, t], i[:, :, t], f[:, :, t], state)
        assert rel_err(h, hc[:, :, t]) < 1e-5
    for a, r in zip(state, sc, strict=False):
        assert rel_err(a, r) < 1e-5


def test_half_inputs_and_state_not_modified():
    xs, state = make(2, 2, 32, 16, True, seed=3)
    st = tuple(t.float() for t in state)
    before = [t.clone() for t in st]
    h, s = mlstm_step(*(x.half() for x in xs), st)
    hr, _ = torch_step(*(x.half().double() for x in xs), tuple(t.double() for t in st))
    assert h.dtype == torch.float16 and rel_err(h, hr) < 2e-3
    for a, b in zip(st, before, strict=False):
        assert torch.equal(a, b)


def test_bad_shapes():
    q = torch.zeros(1, 2, 16)
    with pytest.raises(ValueError):
        mlstm_step(q, q, torch.zeros(1, 2, 8), torch.zeros(1, 3), torch.zeros(1, 2), None)

"""The three mLSTM forms and the step agree with the parallel reference; gradients are exact.

Tolerances: fp64 forms agree to 1e-10; fp32 forms agree with the fp64 reference to 1e-5
(max-abs error over max-abs reference). For the fp32 cases with extreme input gates the keys
and queries are non-negative: with signed ``q·k`` and ``i ~ +50`` the normaliser ``q·n`` is a
sum of huge terms of both signs that can cancel to almost nothing, and then *any* fp32
implementation loses digits (the fp64 runs below cover that regime exactly).
"""

from __future__ import annotations

import pytest
import torch

from xlstm_ts.nn.functional import (
    mlstm_chunkwise,
    mlstm_parallel,
    mlstm_recurrent,
    mlstm_step,
)


def rel_err(a: torch.Tensor, ref: torch.Tensor) -> float:
    return ((a.double() - ref.double()).abs().max() / ref.double().abs().max().clamp_min(1e-300)).item()


def make_inputs(B, H, S, Dqk, Dv, i_shift=0.0, i_scale=1.0, f_shift=3.0, f_scale=1.0,
                nonneg_qk=False, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(B, H, S, Dqk, generator=g, dtype=dtype)
    k = torch.randn(B, H, S, Dqk, generator=g, dtype=dtype)
    if nonneg_qk:
        q, k = q.abs(), k.abs()
    v = torch.randn(B, H, S, Dv, generator=g, dtype=dtype)
    i = torch.randn(B, H, S, generator=g, dtype=dtype) * i_scale + i_shift
    f = torch.randn(B, H, S, generator=g, dtype=dtype) * f_scale + f_shift
    return q, k, v, i, f


def make_state(B, H, Dqk, Dv, dtype=torch.float64, seed=1):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(B, H, Dqk, Dv, generator=g, dtype=dtype),
            torch.randn(B, H, Dqk, generator=g, dtype=dtype).abs(),
            torch.randn(B, H, generator=g, dtype=dtype))


def step_loop(q, k, v, i, f, state):
    hs = []
    for t in range(q.shape[2]):
        h, state = mlstm_step(q[:, :, t], k[:, :, t], v[:, :, t], i[:, :, t], f[:, :, t], state)
        hs.append(h)
    return torch.stack(hs, 2), state


FORMS = {
    "chunkwise": lambda q, k, v, i, f, s, L: mlstm_chunkwise(q, k, v, i, f, s, chunk_size=L, backend="torch"),
    "recurrent": lambda q, k, v, i, f, s, L: mlstm_recurrent(q, k, v, i, f, s),
    "step": lambda q, k, v, i, f, s, L: step_loop(q, k, v, i, f, s),
    "parallel": lambda q, k, v, i, f, s, L: mlstm_parallel(q, k, v, i, f, s),
}

GATES = {  # (i_shift, i_scale, f_shift, f_scale)
    "default": (0.0, 1.0, 3.0, 1.0),
    "i+50": (50.0, 1.0, 3.0, 1.0),
    "i-50": (-50.0, 1.0, 3.0, 1.0),
    "f+20": (0.0, 1.0, 20.0, 1.0),
    "f-20": (0.0, 1.0, -20.0, 1.0),
    "i+-50,f+-20": (0.0, 50.0, 0.0, 20.0),
}

SHAPES = [  # B, H, S, Dqk, Dv, chunk
    (2, 3, 37, 8, 16, 1),
    (1, 2, 100, 16, 8, 7),
    (2, 2, 130, 32, 64, 64),
    (1, 1, 200, 128, 32, 128),
    (1, 2, 77, 64, 64, 16),
]


def _compare(form, shape, gates, dtype, nonneg_qk, with_state, tol):
    B, H, S, Dqk, Dv, L = shape
    q, k, v, i, f = make_inputs(B, H, S, Dqk, Dv, *gates, nonneg_qk=nonneg_qk)
    st = make_state(B, H, Dqk, Dv) if with_state else None
    ref_h, ref_s = mlstm_parallel(q, k, v, i, f, st)
    cast = lambda x: x.to(dtype)  # noqa: E731
    h, s = FORMS[form](*map(cast, (q, k, v, i, f)), tuple(map(cast, st)) if st else None, L)
    assert h.dtype == dtype and h.shape == (B, H, S, Dv)
    assert s.C.shape == (B, H, Dqk, Dv) and s.n.shape == (B, H, Dqk) and s.m.shape == (B, H)
    for name, a, r in (("h", h, ref_h), ("C", s.C, ref_s.C), ("n", s.n, ref_s.n), ("m", s.m, ref_s.m)):
        assert torch.isfinite(a).all(), name
        assert rel_err(a, r) < tol, (name, rel_err(a, r))


@pytest.mark.parametrize("form", ["chunkwise", "recurrent", "step"])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("gates", list(GATES))
def test_forms_agree_fp64(form, shape, gates):
    _compare(form, shape, GATES[gates], torch.float64, nonneg_qk=False, with_state=True, tol=1e-10)


@pytest.mark.parametrize("form", ["chunkwise", "recurrent", "step", "parallel"])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("gates", list(GATES))
@pytest.mark.parametrize("with_state", [False, True])
def test_forms_agree_fp32(form, shape, gates, with_state):
    nonneg = gates != "default"  # see module docstring
    _compare(form, shape, GATES[gates], torch.float32, nonneg_qk=nonneg, with_state=with_state, tol=1e-5)


def test_signed_qk_default_gates_fp32_long_sequence():
    _compare("chunkwise", (2, 2, 513, 32, 32, 64), GATES["default"], torch.float32, False, True, 1e-5)


@pytest.mark.parametrize("chunk_size", [1, 2, 3, 16, 64, 128, 1000])
def test_chunk_sizes(chunk_size):
    q, k, v, i, f = make_inputs(1, 2, 90, 16, 24)
    ref, rs = mlstm_parallel(q, k, v, i, f)
    h, s = mlstm_chunkwise(q, k, v, i, f, chunk_size=chunk_size, backend="torch")
    assert rel_err(h, ref) < 1e-10 and rel_err(s.C, rs.C) < 1e-10


@pytest.mark.parametrize("form", ["chunkwise", "recurrent", "parallel"])
def test_state_passing(form):
    """Two halves with the carried state equal one whole run (output and final state)."""
    q, k, v, i, f = make_inputs(2, 2, 75, 16, 8, dtype=torch.float32)
    whole_h, whole_s = FORMS[form](q, k, v, i, f, None, 16)
    cut = 41
    h1, s1 = FORMS[form](*(x[:, :, :cut] for x in (q, k, v, i, f)), None, 16)
    h2, s2 = FORMS[form](*(x[:, :, cut:] for x in (q, k, v, i, f)), s1, 16)
    assert rel_err(torch.cat([h1, h2], 2), whole_h) < 1e-5
    for a, b in zip(s2, whole_s, strict=True):
        assert rel_err(a, b) < 1e-5


@pytest.mark.parametrize("form", ["parallel", "chunkwise", "recurrent"])
def test_gradcheck_fp64(form):
    """Exact gradients (autograd through the normaliser) for inputs and the initial state."""
    B, H, S, Dqk, Dv = 1, 2, 9, 4, 3
    q, k, v, i, f = make_inputs(B, H, S, Dqk, Dv, seed=3)
    C0, n0, m0 = make_state(B, H, Dqk, Dv, seed=4)
    leaves = [x.clone().requires_grad_() for x in (q, k, v, i, f, C0, n0, m0)]

    def fn(q, k, v, i, f, C0, n0, m0):
        h, (C, n, m) = FORMS[form](q, k, v, i, f, (C0, n0, m0), 4)
        return h, C, n, m

    assert torch.autograd.gradcheck(fn, leaves, eps=1e-6, atol=1e-7, rtol=1e-5)


def test_chunkwise_gradients_equal_parallel_fp32():
    q, k, v, i, f = make_inputs(2, 2, 70, 16, 16, dtype=torch.float32, seed=5)
    w = torch.randn(2, 2, 70, 16)
    grads = []
    for fn in (lambda *a: mlstm_parallel(*a), lambda *a: mlstm_chunkwise(*a, chunk_size=16, backend="torch")):
        leaves = [x.clone().requires_grad_() for x in (q, k, v, i, f)]
        h, (C, n, m) = fn(*leaves)
        ((h * w).sum() + C.sum() + n.sum()).backward()
        grads.append([x.grad for x in leaves])
    for a, b in zip(*grads, strict=True):
        assert rel_err(a, b) < 1e-4


def test_bad_shapes_raise_clear_errors():
    q, k, v, i, f = make_inputs(1, 2, 10, 8, 8)
    with pytest.raises(ValueError, match="gate pre-activation f"):
        mlstm_chunkwise(q, k, v, i, f[:, :, :5], backend="torch")
    with pytest.raises(ValueError, match="v must be"):
        mlstm_parallel(q, k, v[:, :1], i, f)
    with pytest.raises(ValueError, match="chunk_size"):
        mlstm_chunkwise(q, k, v, i, f, chunk_size=0, backend="torch")
    with pytest.raises(ValueError, match="backend"):
        mlstm_chunkwise(q, k, v, i, f, backend="cuda")


def test_triton_backend_unavailable_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    q, k, v, i, f = make_inputs(1, 1, 4, 8, 8, dtype=torch.float32)
    with pytest.raises(RuntimeError, match="backend='triton' cannot run here"):
        mlstm_chunkwise(q, k, v, i, f, backend="triton")


def test_auto_backend_on_cpu_is_torch():
    q, k, v, i, f = make_inputs(1, 1, 20, 8, 8, dtype=torch.float32)
    h, _ = mlstm_chunkwise(q, k, v, i, f, backend="auto")
    ref, _ = mlstm_parallel(q, k, v, i, f)
    assert rel_err(h, ref) < 1e-5

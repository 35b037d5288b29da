"""Regression tests for the audit of the xLSTM building blocks (``xlstm_ts.nn``).

- mLSTM parallel and chunkwise forms are causal for non-finite q.k: a NaN/inf in a later key
  does not reach earlier outputs (masked weights are exactly 0, not ``exp(-inf) * NaN``); nor
  does one in a later value (zeroed for the matmul, the outputs it reaches set to NaN after).
- Zero-length sequences: empty outputs, the initial state passed through unchanged.
- ``XLSTMStack`` refuses a state of another stack (block count, kinds), another batch size or
  other shapes with a clear error; so do ``slstm_sequence`` / ``slstm_step`` / ``mlstm_step``.
- Config validation at construction (nested dicts, ``slstm_at``, ints, backend).
- The stack's one-token path uses the layer's backend (the fused step kernel on CUDA).
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

import xlstm_ts.nn.functional as fn
from xlstm_ts.nn import (
    FeedForwardConfig,
    MLSTMLayerConfig,
    SLSTMLayerConfig,
    XLSTMStack,
    XLSTMStackConfig,
)
from xlstm_ts.nn.functional import (
    mlstm_chunkwise,
    mlstm_parallel,
    mlstm_recurrent,
    mlstm_step,
    slstm_sequence,
    slstm_step,
    slstm_zero_state,
)
from xlstm_ts.nn.functional.backend import triton_unavailable_reason

E = 16


pytestmark = pytest.mark.one_thread  # tiny models (tests/conftest.py)


def mlstm_inputs(B=1, H=1, S=12, D=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g, dtype=torch.float64)  # noqa: E731
    return [r(B, H, S, D), r(B, H, S, D), r(B, H, S, D), r(B, H, S), r(B, H, S) + 2]


def mlstm_state(B=1, H=1, D=4, seed=1):
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g, dtype=torch.float64)  # noqa: E731
    return r(B, H, D, D), r(B, H, D).abs(), r(B, H)


def stack(slstm_at="1:1", num_blocks=2, backend="torch", seed=0, conv1d_kernel_size=4):
    torch.manual_seed(seed)
    cfg = XLSTMStackConfig(embedding_dim=E, num_blocks=num_blocks, slstm_at=slstm_at,
                           mlstm=MLSTMLayerConfig(num_heads=2, chunk_size=4, conv1d_kernel_size=conv1d_kernel_size),
                           slstm=SLSTMLayerConfig(num_heads=2), backend=backend)
    return XLSTMStack(cfg).eval()


def flat(state) -> list[torch.Tensor]:
    if state is None:
        return []
    if isinstance(state, torch.Tensor):
        return [state]
    return [t for s in state for t in flat(s)]


# ---------------------------------------------------------------------------- 5: causality

FORMS = {
    "parallel": mlstm_parallel,
    "chunkwise4": lambda *a: mlstm_chunkwise(*a, chunk_size=4, backend="torch"),
    "chunkwise5": lambda *a: mlstm_chunkwise(*a, chunk_size=5, backend="torch"),  # ragged tail
    "recurrent": mlstm_recurrent,
}


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
@pytest.mark.parametrize("form", list(FORMS))
def test_non_finite_later_key_does_not_reach_earlier_outputs(form, bad):
    q, k, v, i, f = mlstm_inputs()
    h_clean, _ = FORMS[form](q, k, v, i, f)
    k = k.clone()
    k[0, 0, 9, 1] = bad
    h, _ = FORMS[form](q, k, v, i, f)
    assert torch.equal(h[:, :, :9], h_clean[:, :, :9])  # bit for bit: the masked weights are 0
    assert not torch.isfinite(h[0, 0, 9]).all()


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
@pytest.mark.parametrize("form", list(FORMS))
def test_non_finite_later_value_does_not_reach_earlier_outputs(form, bad):
    q, k, v, i, f = mlstm_inputs(B=2)
    h_clean, _ = FORMS[form](q, k, v, i, f)
    v = v.clone()
    v[0, 0, 9, 1] = bad
    h, (C, _, _) = FORMS[form](q, k, v, i, f)
    assert torch.equal(h[:, :, :9], h_clean[:, :, :9])  # bit for bit
    # from step 9 on, channel 1 of that head is non-finite in every form, as the recurrence gives
    assert not torch.isfinite(h[0, 0, 9:, 1]).any()
    assert torch.isfinite(h[0, 0, :, 0]).all() and torch.isfinite(h[1]).all()
    assert not torch.isfinite(C[0, 0, :, 1]).any() and torch.isfinite(C[0, 0, :, 0]).all()


@pytest.mark.parametrize("form", ["parallel", "chunkwise4", "chunkwise5"])
def test_masked_weights_keep_gradients_exact(form):
    xs = [x[:, :, :7].clone().requires_grad_() for x in mlstm_inputs(S=12, D=3)]
    state = tuple(s.requires_grad_() for s in mlstm_state(D=3))

    def run(*a):
        h, (C, n, m) = FORMS[form](*a[:5], a[5:])
        return h, C, n, m

    assert torch.autograd.gradcheck(run, (*xs, *state))


# ----------------------------------------------------------------------- 6: zero length

@pytest.mark.parametrize("with_state", [False, True])
def test_mlstm_forms_on_empty_sequences(with_state):
    q, k, v, i, f = (x[:, :, :0] for x in mlstm_inputs(B=2, H=3, S=4, D=4))
    state = mlstm_state(B=2, H=3, D=4) if with_state else None
    expected = state if with_state else fn.zero_state(2, 3, 4, 4, dtype=torch.float64)
    for name, form in FORMS.items():
        h, st = form(q, k, v, i, f, state)
        assert h.shape == (2, 3, 0, 4), name
        for a, b in zip(st, expected, strict=True):
            assert torch.equal(a, b), name


@pytest.mark.parametrize("slstm_at", ["1:0", "1:1", "0:1"])
def test_stack_on_an_empty_sequence(slstm_at):
    st = stack(slstm_at)
    x = torch.randn(2, 0, E, requires_grad=True)
    y, s0 = st(x)
    assert y.shape == (2, 0, E)
    y.sum().backward()  # the graph is valid, too
    with torch.no_grad():
        xs = torch.randn(2, 6, E)
        y_full, s_full = st(xs)
        y1, s1 = st(xs[:, :3])
        y_empty, s_same = st(xs[:, :0], s1)  # an empty piece leaves the state unchanged
        y2, s2 = st(xs[:, 3:], s_same)
    assert y_empty.shape == (2, 0, E)
    assert all(torch.equal(a, b) for a, b in zip(flat(s1), flat(s_same), strict=True))
    assert torch.allclose(torch.cat([y1, y2], 1), y_full, atol=1e-5)
    assert len(flat(s0)) == len(flat(s_full))


# ----------------------------------------------------------------- 7: state validation

def test_stack_refuses_a_state_of_other_block_kinds():
    a, b = stack("1:0"), stack([1])
    x = torch.randn(2, 3, E)
    with torch.no_grad():
        _, sb = b(x)
        with pytest.raises(ValueError, match=r"state\[1\] holds an sLSTM cell state \(h, c, n, m\), but "
                                             r"block 1 is an mLSTM block"):
            a.step(x[:, 0], sb)
        _, sa = a(x)
        with pytest.raises(ValueError, match=r"state\[1\] holds an mLSTM cell state \(C, n, m\), but "
                                             r"block 1 is an sLSTM block"):
            b(x, sa)


def test_stack_refuses_a_state_of_another_block_count_or_batch():
    a, c = stack("1:1"), stack("1:0", num_blocks=3)
    with torch.no_grad():
        _, sa = a(torch.randn(2, 3, E))
        with pytest.raises(ValueError, match=r"one entry per block, 3 for this stack .*; got 2 entries"):
            c.step(torch.randn(2, E), sa)
        with pytest.raises(ValueError, match=r"state\[0\] is for batch size 2, but the input has batch size 3"):
            a.step(torch.randn(3, E), sa)
        with pytest.raises(ValueError, match="one token"):
            a.step(torch.randn(2, 1, E), sa)


def test_stack_refuses_a_state_of_other_shapes():
    a = stack("1:1")
    with torch.no_grad():
        _, sa = a(torch.randn(2, 3, E))
        s = list(sa)
        s[0] = (sa[0][0][:, :, :8], sa[0][1])  # conv history of another width
        with pytest.raises(ValueError, match=r"conv state must be \(B, K-1, D\) = \(2, 3, 64\); got \(2, 3, 8\)"):
            a(torch.randn(2, 3, E), s)
        s = list(sa)
        s[1] = (sa[1][0], tuple(t[:, :1] for t in sa[1][1]))  # sLSTM cell with one head
        with pytest.raises(ValueError, match=r"sLSTM state must be .* = \(2, 2, 8\); got \[\(2, 1, 8\)"):
            a(torch.randn(2, 3, E), s)
        no_conv = stack("1:0", num_blocks=1, conv1d_kernel_size=0)
        with pytest.raises(ValueError, match="has no conv"):
            no_conv(torch.randn(2, 3, E), sa[:1])


def test_slstm_functions_refuse_a_state_of_another_batch():
    xg, R, b = torch.randn(3, 4, 4, 2, 4), torch.zeros(2, 4, 4, 4), torch.zeros(4, 2, 4)
    state = slstm_zero_state(1, 2, 4)
    with pytest.raises(ValueError, match=r"each \(B, NH, DH\) = \(3, 2, 4\); got \[\(1, 2, 4\)"):
        slstm_sequence(xg, R, b, state, backend="torch")
    with pytest.raises(ValueError, match=r"each \(B, NH, DH\) = \(3, 2, 4\)"):
        slstm_step(xg[:, 0], R, b, state)


def test_mlstm_step_refuses_sequence_shaped_inputs():
    q, k, v, i, f = mlstm_inputs(S=2)
    with pytest.raises(ValueError, match=r"mlstm_step expects q_t, k_t \(B, H, Dqk\)"):
        mlstm_step(q, k, v, i, f, None)
    with pytest.raises(ValueError, match=r"mlstm_step expects"):  # v with a time axis
        mlstm_step(q[:, :, 0], k[:, :, 0], v, i[:, :, 0], f[:, :, 0], None)


# ------------------------------------------------------------------ 8: config validation

def test_sub_configs_as_dicts_in_the_constructor():
    cfg = XLSTMStackConfig(embedding_dim=E, mlstm={"num_heads": 2}, slstm={"num_heads": 2},
                           feedforward={"proj_factor": 2.0})
    assert cfg == XLSTMStackConfig(embedding_dim=E, mlstm=MLSTMLayerConfig(num_heads=2),
                                   slstm=SLSTMLayerConfig(num_heads=2),
                                   feedforward=FeedForwardConfig(proj_factor=2.0))
    assert XLSTMStack(cfg).blocks[0].layer.num_heads == 2
    with pytest.raises(ValueError, match="unknown MLSTMLayerConfig keys"):
        XLSTMStackConfig(mlstm={"num_head": 2})
    with pytest.raises(TypeError, match="XLSTMStackConfig.mlstm must be a MLSTMLayerConfig or a dict; got int"):
        XLSTMStackConfig(mlstm=2)


@pytest.mark.parametrize("spec,msg", [
    (1, r"a list of positions, 'all' or a ratio 'a:b'; got 1 \(a single sLSTM block at position p is \[p\]\)"),
    ([1.5], "each slstm_at position must be a non-negative int; got 1.5"),
    ([True], "each slstm_at position must be a non-negative int; got True"),
    ([-1], "each slstm_at position must be a non-negative int; got -1"),
])
def test_bad_slstm_at(spec, msg):
    with pytest.raises(ValueError, match=msg):
        XLSTMStackConfig(num_blocks=2, slstm_at=spec)


def test_numpy_int_positions_become_ints():
    cfg = XLSTMStackConfig(num_blocks=3, slstm_at=(np.int64(2), 0))
    assert cfg.slstm_at == [2, 0] and all(type(p) is int for p in cfg.slstm_at)
    assert cfg.slstm_positions() == [0, 2]
    assert XLSTMStackConfig.from_yaml(cfg.to_yaml()) == cfg


@pytest.mark.parametrize("make,msg", [
    (lambda: MLSTMLayerConfig(chunk_size=0), "MLSTMLayerConfig.chunk_size must be a positive int; got 0"),
    (lambda: MLSTMLayerConfig(num_heads=0), "MLSTMLayerConfig.num_heads must be a positive int; got 0"),
    (lambda: MLSTMLayerConfig(conv1d_kernel_size=-1),
     "MLSTMLayerConfig.conv1d_kernel_size must be a non-negative int; got -1"),
    (lambda: MLSTMLayerConfig(chunk_size=True), "MLSTMLayerConfig.chunk_size must be a positive int; got True"),
    (lambda: SLSTMLayerConfig(num_heads=2.0), "SLSTMLayerConfig.num_heads must be a positive int; got 2.0"),
    (lambda: XLSTMStackConfig(embedding_dim=E, backend="cuda"),
     r"backend must be one of \('auto', 'torch', 'triton'\); got 'cuda'"),
    (lambda: XLSTMStackConfig.from_dict({"mlstm": {"chunk_size": 0}}), "MLSTMLayerConfig.chunk_size"),
])
def test_configs_validate_at_construction(make, msg):
    with pytest.raises(ValueError, match=msg):
        make()


def test_config_ints_accept_numpy_and_zero_disables_the_conv():
    cfg = MLSTMLayerConfig(num_heads=np.int64(2), chunk_size=np.int32(8), conv1d_kernel_size=0)
    assert cfg.num_heads == 2 and type(cfg.num_heads) is int and type(cfg.chunk_size) is int
    assert MLSTMLayerConfig.from_yaml(cfg.to_yaml()) == cfg
    st = XLSTMStack(XLSTMStackConfig(embedding_dim=E, num_blocks=1, mlstm=cfg))
    assert st.blocks[0].layer.conv.conv is None


def test_chunk_size_accepts_numpy_ints_and_refuses_bools():
    xs = mlstm_inputs(S=8)
    h_int, _ = mlstm_chunkwise(*xs, chunk_size=4)
    h_np, _ = mlstm_chunkwise(*xs, chunk_size=np.int64(4))
    assert torch.equal(h_int, h_np)
    for bad in (True, 2.0, 0):
        with pytest.raises(ValueError, match=f"chunk_size must be a positive int; got {bad!r}"):
            mlstm_chunkwise(*xs, chunk_size=bad)


# -------------------------------------------------------------- 9: the one-token backend

def test_step_honours_backend_triton_like_forward(monkeypatch):
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)  # Triton cannot run on CPU tensors then
    torch_stack, triton_stack = stack("1:0", backend="torch"), stack("1:0", backend="triton")
    x = torch.randn(1, 4, E)
    with torch.no_grad():
        _, s = torch_stack(x)
        with pytest.raises(RuntimeError, match="backend='triton' cannot run here") as from_forward:
            triton_stack(x, s)
        with pytest.raises(RuntimeError, match="backend='triton' cannot run here") as from_step:
            triton_stack.step(x[:, 0], s)
    assert str(from_step.value) == str(from_forward.value)


def test_auto_step_on_cpu_is_the_torch_step():
    torch_stack, auto_stack = stack("1:1", backend="torch"), stack("1:1", backend="auto")
    x = torch.randn(2, 5, E)
    with torch.no_grad():
        _, s = torch_stack(x)
        y_torch, _ = torch_stack.step(x[:, 0], s)
        y_auto, _ = auto_stack.step(x[:, 0], s)
    assert torch.equal(y_torch, y_auto)


def test_auto_step_takes_the_torch_step_under_gradients(monkeypatch):
    """The fused step kernel is forward-only: "auto" must not pick it where gradients flow."""
    monkeypatch.setattr(fn, "resolve_backend", lambda backend, device: "torch" if backend == "torch" else "triton")
    monkeypatch.setattr(fn, "_kernel", lambda name: pytest.fail(f"kernel {name} called under gradients"))
    x = [t[:, :, 0].clone().requires_grad_() for t in mlstm_inputs()]
    h, st = mlstm_step(*x, None, backend="auto")
    h_ref, st_ref = mlstm_step(*x, None, backend="torch")
    assert torch.equal(h, h_ref) and h.requires_grad


TRITON_CPU = os.environ.get("TRITON_INTERPRET") == "1" and triton_unavailable_reason(torch.device("cpu")) is None
needs_interpreter = pytest.mark.skipif(not TRITON_CPU, reason="needs Triton's interpreter (TRITON_INTERPRET=1)")


@needs_interpreter
def test_triton_stack_step_uses_the_step_kernel_and_keeps_gradients(monkeypatch):
    calls = []
    real = fn._kernel
    monkeypatch.setattr(fn, "_kernel", lambda name: calls.append(name) or real(name))
    st = stack("1:0", num_blocks=1, backend="triton")
    x = torch.randn(1, 3, E)
    with torch.no_grad():
        _, s = st(x)
        calls.clear()
        st.step(x[:, 0], s)
    assert calls == ["mlstm_step"]
    calls.clear()
    y, _ = st.train().step(x[:, 0], s)  # under gradients: the differentiable chunkwise kernel
    y.sum().backward()
    assert calls == ["mlstm_chunkwise"]
    assert st.blocks[0].layer.proj_up.weight.grad is not None


@needs_interpreter
def test_triton_mlstm_step_refuses_inputs_that_need_gradients():
    x = [t[:, :, 0].float().requires_grad_() for t in mlstm_inputs()]
    with pytest.raises(RuntimeError, match="fused mLSTM step kernel is forward-only"):
        mlstm_step(*x, None, backend="triton")

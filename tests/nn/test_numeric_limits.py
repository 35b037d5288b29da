"""Numeric limits: gate pre-activations up to +-1e4 in every cell form and backend, the stack
with the gate soft-cap off, and mixed-precision training on series of extreme scale.

Already covered elsewhere, not repeated here: the mLSTM forms agree at ``i ~ +-50``,
``f ~ +-20`` (``tests/nn/test_mlstm_functional.py``, ``tests/kernels/test_mlstm_chunkwise_kernel.py``);
the torch sLSTM forward and ``d x_gates`` at random pre-activations of scale 1e2..1e4 and its
forward at constant +-1e4 (``tests/nn/test_slstm_functional.py``); the fused sLSTM kernel with
gradients at random pre-activations of scale 1e4 (``tests/kernels/test_slstm_kernel.py``); the
stack forward at inputs of scale 1e4 *with* the soft-cap (``tests/nn/test_stack.py``); the Triton
backend at +-1e4 on CUDA only (``tests/kernels/test_gpu_stack.py``).

Added here:

- mLSTM parallel / chunkwise / recurrent / step (torch) and the Triton chunkwise and step kernels,
  sLSTM torch sequence / step / fused Triton: structured gate patterns at +-1e4 (mixed signs,
  all +1e4, all -1e4, forget gate closed, input gate closed, ...) with and without an initial
  state. Outputs, final states and all gradients are finite and agree with a float64 reference;
  a closed forget gate makes each step memoryless, a closed input gate writes nothing.
- ``XLSTMStack`` with ``gate_soft_cap=None``, gate weights large enough that the pre-activations
  reach ~1e4 and inputs of scale 1e4: forward, every gradient, and the step path are finite.
- ``xlstm_patch`` / ``xlstm_mixer`` trained for a few optimiser steps under CPU autocast (bf16 and
  fp16) on series of scale 1e6..1e12 and 1e-8, directly and (bf16) through ``XLSTMForecaster``
  with ``trainer_kwargs={"precision": "bf16-mixed"}``. Lightning cannot run fp16 AMP on the CPU
  (``precision="16-mixed"`` falls back to bf16 with a warning), so fp16 is tested with
  ``torch.autocast`` on the module directly.

Triton tests run in the interpreter on CPU tensors (``TRITON_INTERPRET=1``, set by
``tests/conftest.py`` when there is no CUDA) or compiled on a CUDA device.
"""

from __future__ import annotations

import math
import os

import numpy as np
import pandas as pd
import pytest
import torch

from xlstm_ts.models import ModelSpec, build_model, make_loss
from xlstm_ts.nn import (
    MLSTMLayer,
    MLSTMLayerConfig,
    SLSTMLayer,
    SLSTMLayerConfig,
    XLSTMStack,
    XLSTMStackConfig,
)
from xlstm_ts.nn.functional import (
    mlstm_chunkwise,
    mlstm_parallel,
    mlstm_recurrent,
    mlstm_step,
    slstm_recurrent_autograd,
    slstm_sequence,
    slstm_step,
)
from xlstm_ts.nn.functional.backend import triton_unavailable_reason

BIG = 1e4


pytestmark = pytest.mark.one_thread  # tiny models (tests/conftest.py)


def _triton_device() -> str | None:
    if os.environ.get("TRITON_INTERPRET") == "1":
        dev = "cpu"
    elif torch.cuda.is_available():
        dev = "cuda"
    else:
        return None
    return None if triton_unavailable_reason(torch.device(dev)) else dev


TRITON_DEVICE = _triton_device()
needs_triton = pytest.mark.skipif(TRITON_DEVICE is None, reason="Triton needs CUDA or TRITON_INTERPRET=1")


def rel_err(a: torch.Tensor, ref: torch.Tensor, floor: float = 1e-6) -> float:
    """max |a - ref| / max(max |ref|, floor)."""
    a, ref = a.detach().double().cpu(), ref.detach().double().cpu()
    return ((a - ref).abs().max() / ref.abs().max().clamp_min(floor)).item()


def all_finite(*ts) -> bool:
    return all(t is not None and bool(torch.isfinite(t).all()) for t in ts)


# ----------------------------------------------------------------------------- mLSTM cells

MLSTM_PATTERNS = ["mixed", "all+", "all-", "f_closed", "i_closed", "i+f-", "i-f+"]


def mlstm_gates(pattern: str, B: int, H: int, S: int, g: torch.Generator):
    """Input and forget gate pre-activations ``(B, H, S)`` of one pattern."""
    full = lambda v: torch.full((B, H, S), v)  # noqa: E731
    sign = lambda: torch.randint(0, 2, (B, H, S), generator=g).float() * 2 - 1  # noqa: E731
    normal = lambda: torch.randn(B, H, S, generator=g)  # noqa: E731
    return {
        "mixed": lambda: (BIG * sign(), BIG * sign()),
        "all+": lambda: (full(BIG), full(BIG)),
        "all-": lambda: (full(-BIG), full(-BIG)),
        "f_closed": lambda: (3 * normal(), full(-BIG)),  # no memory: every step stands alone
        "i_closed": lambda: (full(-BIG), normal() + 3),  # nothing is written
        "i+f-": lambda: (full(BIG), full(-BIG)),
        "i-f+": lambda: (full(-BIG), full(BIG)),
    }[pattern]()


def mlstm_case(pattern: str, with_state: bool, B=1, H=2, S=40, D=16, nonneg_qk=True, jitter=0.0, seed=0):
    """Inputs of one gate pattern.

    ``nonneg_qk``: with signed q and k and an open input gate (i = +1e4: exp(-m) = 0) a
    memoryless step is h = (q.k) v / (|q.k| + eps), a sign function of q.k whose gradient is
    ill-conditioned wherever q.k ~ 0, in any precision; comparisons with the float64 reference
    use q, k >= 0 (as tests/nn/test_mlstm_functional.py does).

    ``jitter``: N(0, jitter^2) added to both gates. With exactly equal gates (all +1e4, ...)
    the stabiliser m = max(...) is a maximum over ties, where it (and so the stabilised state
    C, n) is not differentiable: every form picks a valid but different subgradient for di.
    The comparisons with the reference break the ties; the finiteness checks keep them.
    """
    g = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(B, H, S, D, generator=g) for _ in range(3))
    if nonneg_qk:
        q, k = q.abs(), k.abs()
    i, f = mlstm_gates(pattern, B, H, S, g)
    if jitter:
        i = i + jitter * torch.randn(B, H, S, generator=g)
        f = f + jitter * torch.randn(B, H, S, generator=g)
    state = None
    if with_state:
        state = (torch.randn(B, H, D, D, generator=g), torch.randn(B, H, D, generator=g).abs(),
                 torch.randn(B, H, generator=g))
    return [q, k, v, i, f], state


def mlstm_outputs_and_grads(fn, inputs, state, device="cpu", seed=1):
    """Run ``fn(q, k, v, i, f, state)`` on leaf copies; a fixed random functional of h and of
    the final state (C, n, m) is differentiated w.r.t. every input and the initial state."""
    leaves = [x.detach().clone().to(device).requires_grad_() for x in inputs]
    st = [s.detach().clone().to(device).requires_grad_() for s in state] if state is not None else []
    h, (C, n, m) = fn(*leaves, tuple(st) if st else None)
    g = torch.Generator().manual_seed(seed)
    outs = [h, C, n, m]
    loss = sum((o.double() * torch.randn(o.shape, generator=g, dtype=torch.float64).to(o.device)).sum()
               for o in outs)
    grads = torch.autograd.grad(loss, leaves + st)
    return [o.detach() for o in outs], list(grads)


def mlstm_step_loop(q, k, v, i, f, state, backend="torch"):
    hs = []
    for t in range(q.shape[2]):
        h, state = mlstm_step(q[:, :, t], k[:, :, t], v[:, :, t], i[:, :, t], f[:, :, t], state, backend=backend)
        hs.append(h)
    return torch.stack(hs, 2), state


MLSTM_TORCH_FORMS = {
    "parallel": lambda *a: mlstm_parallel(*a),
    "chunkwise": lambda *a: mlstm_chunkwise(*a, chunk_size=16, backend="torch"),  # 2 chunks + a ragged tail
    "recurrent": lambda *a: mlstm_recurrent(*a),
    "step": lambda *a: mlstm_step_loop(*a),
}

OUT_NAMES = ["h", "C", "n", "m"]
GRAD_NAMES = ["dq", "dk", "dv", "di", "df", "dC0", "dn0", "dm0"]


def check_against_fp64(outs, grads, inputs, state, tol_out=1e-3, tol_grad=2e-2):
    """Everything finite; values agree with the float64 parallel form on the same inputs."""
    names = OUT_NAMES + GRAD_NAMES[:len(grads)]
    bad = [n for n, t in zip(names, outs + grads, strict=True) if not all_finite(t)]
    assert not bad, f"non-finite: {bad}"
    ref_outs, ref_grads = mlstm_outputs_and_grads(
        mlstm_parallel, [x.double() for x in inputs], None if state is None else [s.double() for s in state])
    errs = {n: rel_err(a, r) for n, a, r in zip(OUT_NAMES, outs, ref_outs, strict=True)}
    errs |= {n: rel_err(a, r, floor=1e-3) for n, a, r in zip(names[4:], grads, ref_grads, strict=True)}
    worse = {n: e for n, e in errs.items() if not e < (tol_out if n in OUT_NAMES else tol_grad)}
    assert not worse, f"errors above tolerance: {worse} (all: {errs})"


@pytest.mark.parametrize("with_state", [False, True])
@pytest.mark.parametrize("pattern", MLSTM_PATTERNS)
@pytest.mark.parametrize("form", list(MLSTM_TORCH_FORMS))
def test_mlstm_torch_forms_at_1e4_gates(form, pattern, with_state):
    inputs, state = mlstm_case(pattern, with_state, jitter=1.0)
    outs, grads = mlstm_outputs_and_grads(MLSTM_TORCH_FORMS[form], inputs, state)
    check_against_fp64(outs, grads, inputs, state)


@pytest.mark.parametrize("with_state", [False, True])
@pytest.mark.parametrize("pattern", MLSTM_PATTERNS)
@pytest.mark.parametrize("form", list(MLSTM_TORCH_FORMS))
def test_mlstm_torch_forms_at_1e4_gates_signed_qk_finite(form, pattern, with_state):
    """Signed q, k (the normaliser q.n can cancel), exactly tied gates: finite outputs, states
    and gradients."""
    inputs, state = mlstm_case(pattern, with_state, nonneg_qk=False, seed=2)
    outs, grads = mlstm_outputs_and_grads(MLSTM_TORCH_FORMS[form], inputs, state)
    bad = [n for n, t in zip(OUT_NAMES + GRAD_NAMES, outs + grads, strict=False) if not all_finite(t)]
    assert not bad, f"non-finite: {bad}"


def MLSTM_TRITON(*a):  # noqa: N802
    return mlstm_chunkwise(*a, chunk_size=16, backend="triton")  # two chunks, the second ragged


@needs_triton
@pytest.mark.parametrize("with_state", [False, True])
@pytest.mark.parametrize("pattern", MLSTM_PATTERNS)
def test_mlstm_triton_chunkwise_at_1e4_gates(pattern, with_state):
    inputs, state = mlstm_case(pattern, with_state, H=1, S=24, jitter=1.0)
    outs, grads = mlstm_outputs_and_grads(MLSTM_TRITON, inputs, state, device=TRITON_DEVICE)
    check_against_fp64(outs, grads, inputs, state)


def stacked(case, patterns, with_state, **kw):
    """One batch row per pattern (one kernel launch covers them all)."""
    cases = [case(p, with_state, **kw) for p in patterns]
    inputs = [torch.cat(xs) for xs in zip(*(c[0] for c in cases), strict=True)]
    state = [torch.cat(ss) for ss in zip(*(c[1] for c in cases), strict=True)] if with_state else None
    return inputs, state


@needs_triton
@pytest.mark.parametrize("with_state", [False, True])
def test_mlstm_triton_chunkwise_exact_ties_signed_qk_finite(with_state):
    inputs, state = stacked(mlstm_case, MLSTM_PATTERNS, with_state, H=1, S=24, nonneg_qk=False, seed=2)
    outs, grads = mlstm_outputs_and_grads(MLSTM_TRITON, inputs, state, device=TRITON_DEVICE)
    bad = [n for n, t in zip(OUT_NAMES + GRAD_NAMES, outs + grads, strict=False) if not all_finite(t)]
    assert not bad, f"non-finite: {bad}"


@needs_triton
@pytest.mark.parametrize("pattern", MLSTM_PATTERNS)
def test_mlstm_triton_step_at_1e4_gates(pattern):
    """The fused step kernel (inference only: no gradients) over a few steps, from a random state."""
    inputs, state = mlstm_case(pattern, True, S=6, jitter=1.0)
    with torch.no_grad():
        h, st = mlstm_step_loop(*(x.to(TRITON_DEVICE) for x in inputs),
                                tuple(s.to(TRITON_DEVICE) for s in state), backend="triton")
        h_ref, st_ref = mlstm_step_loop(*(x.double() for x in inputs), tuple(s.double() for s in state))
    assert all_finite(h, *st)
    for a, r in zip([h, *st], [h_ref, *st_ref], strict=True):
        assert rel_err(a, r) < 1e-3


@pytest.mark.parametrize("form", list(MLSTM_TORCH_FORMS))
def test_mlstm_closed_forget_gate_makes_every_step_stand_alone(form):
    """f = -1e4 everywhere: the state holds only the last step and h_t depends on step t alone,
    i.e. equals a one-step run from the zero state (no NaN from the vanished history)."""
    (q, k, v, i, f), _ = mlstm_case("f_closed", False)
    B, H, S, D = q.shape
    with torch.no_grad():
        h, (C, n, m) = MLSTM_TORCH_FORMS[form](q, k, v, i, f, None)
        # Every (head, step) as its own head with a sequence of one step.
        alone = lambda t: t.reshape(B, H * S, 1, *t.shape[3:])  # noqa: E731
        h1, (C1, n1, m1) = mlstm_parallel(alone(q), alone(k), alone(v), alone(i), alone(f))
    torch.testing.assert_close(h, h1.reshape(B, H, S, D), rtol=1e-5, atol=1e-6)
    last = lambda t: t.reshape(B, H, S, *t.shape[2:])[:, :, -1]  # noqa: E731
    torch.testing.assert_close(C, last(C1), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(n, last(n1), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(m, last(m1), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("with_state", [False, True])
@pytest.mark.parametrize("form", list(MLSTM_TORCH_FORMS))
def test_mlstm_closed_input_gate_writes_nothing(form, with_state):
    """i = -1e4 everywhere: keys and values never reach the memory. From the zero state h, C and
    n stay exactly 0 (the normaliser is exp(-m) >= 1 there, never 0); from a given state the
    result is that of the same run with k = v = 0."""
    (q, k, v, i, f), state = mlstm_case("i_closed", with_state)
    fn = MLSTM_TORCH_FORMS[form]
    with torch.no_grad():
        h, (C, n, m) = fn(q, k, v, i, f, state)
        h0, (C0, n0, m0) = fn(q, torch.zeros_like(k), torch.zeros_like(v), i, f, state)
    assert all_finite(h, C, n, m)
    if not with_state:
        assert (h == 0).all() and (C == 0).all() and (n == 0).all()
    torch.testing.assert_close(h, h0, rtol=1e-6, atol=1e-30)
    for a, b in ((C, C0), (n, n0), (m, m0)):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-30)


# ----------------------------------------------------------------------------- sLSTM cells

SLSTM_PATTERNS = ["mixed", "all+", "all-", "f_closed", "i_closed", "i+f-", "i-f+"]


def slstm_case(pattern: str, with_state: bool, B=2, S=12, NH=1, DH=16, r_scale=1.0, jitter=0.0, seed=0):
    """Inputs of one gate pattern; ``jitter`` as in :func:`mlstm_case` (the stabiliser
    m_t = max(i_t, logsigmoid(f_t) + m_{t-1}) ties for, e.g., all gates at +1e4)."""
    g = torch.Generator().manual_seed(seed)
    xg = torch.randn(B, S, 4, NH, DH, generator=g)
    shape = xg[:, :, 0].shape
    sign = lambda: torch.randint(0, 2, shape, generator=g).float() * 2 - 1  # noqa: E731
    if pattern == "mixed":  # every gate, every unit: +-1e4 at random
        xg = BIG * torch.stack([sign() for _ in range(4)], 2)
    elif pattern in ("all+", "all-"):
        xg = torch.full_like(xg, BIG if pattern == "all+" else -BIG)
    else:
        vi, vf = {"f_closed": (None, -BIG), "i_closed": (-BIG, None),
                  "i+f-": (BIG, -BIG), "i-f+": (-BIG, BIG)}[pattern]
        if vi is not None:
            xg[:, :, 0] = vi
        if vf is not None:
            xg[:, :, 1] = vf
    if jitter:
        xg = xg + jitter * torch.randn(xg.shape, generator=g)
    R = torch.randn(NH, DH, 4, DH, generator=g) / DH**0.5 * r_scale
    b = torch.randn(4, NH, DH, generator=g)
    state = None
    if with_state:
        state = (torch.randn(B, NH, DH, generator=g), torch.randn(B, NH, DH, generator=g),
                 torch.rand(B, NH, DH, generator=g) + 1, torch.randn(B, NH, DH, generator=g))
    return [xg, R, b], state


def slstm_outputs_and_grads(fn, inputs, state, device="cpu", seed=1):
    leaves = [x.detach().clone().to(device).requires_grad_() for x in inputs]
    st = [s.detach().clone().to(device).requires_grad_() for s in state] if state is not None else []
    h, (hS, c, n, m) = fn(*leaves, tuple(st) if st else None)
    g = torch.Generator().manual_seed(seed)
    outs = [h, c, n, m]
    loss = sum((o.double() * torch.randn(o.shape, generator=g, dtype=torch.float64).to(o.device)).sum()
               for o in outs)
    return [o.detach() for o in outs], list(torch.autograd.grad(loss, leaves + st))


def slstm_step_loop(xg, R, b, state):
    hs = []
    for t in range(xg.shape[1]):
        h, state = slstm_step(xg[:, t], R, b, state)
        hs.append(h)
    return torch.stack(hs, 1), state


SLSTM_FORMS = {
    "torch": lambda *a: slstm_sequence(*a, backend="torch"),
    "step": slstm_step_loop,
}
SLSTM_GRADS = ["dx_gates", "dR", "db", "dh0", "dc0", "dn0", "dm0"]


def check_slstm(outs, grads, inputs, state, tol=1e-2):
    """Finite, n >= 1, and close to float64. The tolerance is looser than fp32 usually allows:
    the stabiliser m is carried as an absolute value (~1e4 here), so every exp(lf + m' - m)
    is evaluated from fp32 numbers with an absolute rounding error of ulp(1e4) ~ 1e-3."""
    names = ["h", "c", "n", "m"] + SLSTM_GRADS[:len(grads)]
    bad = [nm for nm, t in zip(names, outs + grads, strict=True) if not all_finite(t)]
    assert not bad, f"non-finite: {bad}"
    assert (outs[2] >= 1 - 1e-6).all()  # the normaliser never drops below 1 (h = o c / n)
    ref_o, ref_g = slstm_outputs_and_grads(
        slstm_recurrent_autograd, [x.double() for x in inputs], None if state is None else [s.double() for s in state])
    # Closed gates give reference gradients of ~1e-100, hence the absolute floor.
    errs = {nm: rel_err(a, r, floor=1e-3) for nm, a, r in zip(names, outs + grads, ref_o + ref_g, strict=True)}
    worse = {nm: e for nm, e in errs.items() if not e < tol}
    assert not worse, f"errors above {tol}: {worse} (all: {errs})"


@pytest.mark.parametrize("r_scale", [1.0, BIG])
@pytest.mark.parametrize("with_state", [False, True])
@pytest.mark.parametrize("pattern", SLSTM_PATTERNS)
@pytest.mark.parametrize("form", list(SLSTM_FORMS))
def test_slstm_torch_at_1e4_gates(form, pattern, with_state, r_scale):
    """Sequence path (hand-written backward) and step (autograd); r_scale=1e4 also makes the
    recurrent contribution R h reach +-1e4."""
    inputs, state = slstm_case(pattern, with_state, r_scale=r_scale, jitter=1.0)
    outs, grads = slstm_outputs_and_grads(SLSTM_FORMS[form], inputs, state)
    check_slstm(outs, grads, inputs, state)
    # Exact ties: finite.
    inputs, state = slstm_case(pattern, with_state, r_scale=r_scale, seed=2)
    outs, grads = slstm_outputs_and_grads(SLSTM_FORMS[form], inputs, state)
    assert all_finite(*outs, *grads) and (outs[2] >= 1 - 1e-6).all()


def SLSTM_TRITON(*a):  # noqa: N802
    return slstm_sequence(*a, backend="triton")


@needs_triton
@pytest.mark.parametrize("with_state", [False, True])
@pytest.mark.parametrize("pattern", SLSTM_PATTERNS)
def test_slstm_triton_at_1e4_gates(pattern, with_state):
    r_scale = BIG if with_state else 1.0
    inputs, state = slstm_case(pattern, with_state, B=1, S=6, r_scale=r_scale, jitter=1.0)
    outs, grads = slstm_outputs_and_grads(SLSTM_TRITON, inputs, state, device=TRITON_DEVICE)
    check_slstm(outs, grads, inputs, state)


@needs_triton
@pytest.mark.parametrize("r_scale", [1.0, BIG])
@pytest.mark.parametrize("with_state", [False, True])
def test_slstm_triton_exact_ties_finite(with_state, r_scale):
    inputs, state = stacked(slstm_case, SLSTM_PATTERNS, with_state, B=1, S=6, r_scale=r_scale, seed=2)
    # one R and b for all rows (the stacked ones are per pattern)
    inputs = [inputs[0], inputs[1][:1], inputs[2][:4]]
    outs, grads = slstm_outputs_and_grads(SLSTM_TRITON, inputs, state, device=TRITON_DEVICE)
    assert all_finite(*outs, *grads) and (outs[2] >= 1 - 1e-6).all()


@pytest.mark.parametrize("form", list(SLSTM_FORMS))
def test_slstm_closed_forget_gate_is_memoryless(form):
    """f = -1e4, R = 0, b = 0: c_t = i_t z_t and n_t = i_t, so h_t = sigmoid(o_t) tanh(z_t)."""
    (xg, R, b), _ = slstm_case("f_closed", False)
    with torch.no_grad():
        h, _ = SLSTM_FORMS[form](xg, torch.zeros_like(R), torch.zeros_like(b), None)
    torch.testing.assert_close(h, torch.sigmoid(xg[:, :, 3]) * torch.tanh(xg[:, :, 2]), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("form", list(SLSTM_FORMS))
def test_slstm_constant_input_gate_is_scale_free(form):
    """A constant input gate cancels in h = c / n: i = -1e4 (nothing "written" in absolute
    terms) gives the outputs of i = 0 and of i = +1e4, with n >= 1 throughout. (Up to ~1e-3:
    with m ~ -1e4 the forget weight exp(lf + m' - m) is formed from fp32 numbers of size 1e4.)"""
    (xg, R, b), _ = slstm_case("i_closed", False)
    R = R.clone()
    R[:, :, 0] = 0  # keep the input gate pre-activation constant
    outs = []
    with torch.no_grad():
        for c in (-BIG, 0.0, BIG):
            x = xg.clone()
            x[:, :, 0] = c
            h, st = SLSTM_FORMS[form](x, R, torch.zeros_like(b), None)
            assert all_finite(h, *st) and (st.n >= 1 - 1e-6).all()
            outs.append(h)
    torch.testing.assert_close(outs[0], outs[1], rtol=1e-3, atol=1e-3)
    torch.testing.assert_close(outs[2], outs[1], rtol=1e-3, atol=1e-3)


# ----------------------------------------------------------------------------- the stack

def extreme_stack(backend: str, seed: int = 0, E: int = 32) -> XLSTMStack:
    """mLSTM + sLSTM blocks with the gate soft-cap off and gate weights scaled up so that the
    gate pre-activations reach ~1e4 (the reference init has zero mLSTM gate weights, which
    would hide any input scale behind the biases)."""
    torch.manual_seed(seed)
    cfg = XLSTMStackConfig(embedding_dim=E, num_blocks=2, slstm_at="1:1", backend=backend,
                           mlstm=MLSTMLayerConfig(num_heads=2, chunk_size=16, gate_soft_cap=None),
                           slstm=SLSTMLayerConfig(num_heads=2))
    stack = XLSTMStack(cfg)
    with torch.no_grad():
        for mod in stack.modules():
            if isinstance(mod, MLSTMLayer):
                mod.gates.weight.normal_(0.0, 3e3)
            elif isinstance(mod, SLSTMLayer):
                mod.w_if.normal_(0.0, 3e3)
                mod.R.normal_(0.0, 3e3)
    return stack


def _gate_preactivation_peak(stack: XLSTMStack, x: torch.Tensor) -> float:
    peak = []
    hooks = [m.gates.register_forward_hook(lambda mod, a, out: peak.append(out.abs().max().item()))
             for m in stack.modules() if isinstance(m, MLSTMLayer)]
    try:
        with torch.no_grad():
            stack(x)
    finally:
        for h in hooks:
            h.remove()
    return max(peak)


@pytest.mark.parametrize("backend", ["torch", pytest.param("triton", marks=needs_triton)])
def test_stack_without_soft_cap_at_1e4_inputs(backend):
    dev = "cpu" if backend == "torch" else TRITON_DEVICE
    stack = extreme_stack(backend).to(dev).train()
    g = torch.Generator().manual_seed(1)
    B, S = (2, 40) if backend == "torch" else (1, 12)
    x = (torch.randn(B, S, 32, generator=g) * BIG).to(dev)
    assert _gate_preactivation_peak(stack, x) > 1e3  # the gates really are at the extreme
    xr = x.clone().requires_grad_()
    y, state = stack(xr)
    (y.pow(2).mean() + sum(t.sum() for blk in state for part in blk if part is not None
                           for t in (part if isinstance(part, tuple) else (part,)))).backward()
    assert all_finite(y, xr.grad)
    bad = [n for n, p in stack.named_parameters() if p.grad is None or not all_finite(p.grad)]
    assert not bad, f"non-finite gradients: {bad}"
    # The O(1) step path (streaming) from the same weights.
    stack.eval()
    with torch.no_grad():
        y_full, _ = stack(x[:, :8])
        st, ys = None, []
        for t in range(8):
            y_t, st = stack.step(x[:, t], st)
            ys.append(y_t)
    y_step = torch.stack(ys, 1)
    assert all_finite(y_step)
    assert rel_err(y_step, y_full) < 1e-2


# ----------------------------------------------------------------------------- mixed precision

TINY = {
    "xlstm_patch": dict(patch_len=8, stride=4,
                        xlstm={"embedding_dim": 16, "mlstm": {"num_heads": 2, "qkv_proj_blocksize": 4}}),
    "xlstm_mixer": dict(xlstm={"embedding_dim": 16, "slstm": {"num_heads": 2}}),
}
SCALES = {  # (scale, offset) of the series: offset + scale * (seasonal + noise)
    "1e6": (1e6, 1e6),
    "1e12": (1e12, 1e12),
    "1e-8": (1e-8, 0.0),
    "1e12+O(1)": (1.0, 1e12),  # spread far below the fp32 resolution of the level (6.5e4)
}
L_, H_, C_ = 32, 8, 2


def extreme_batch(scale: float, offset: float, B: int = 8, seed: int = 0, standardise: bool = False):
    """Windows of a noisy daily sine; ``standardise`` scales each series by its own mean/std in
    float64 first, as the estimator's per-series scaler does."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(L_ + H_, dtype=torch.float64)
    phase = torch.randint(0, 24, (B, 1, C_), generator=g)
    s = torch.sin(2 * math.pi * (t[None, :, None] + phase) / 24) + 0.3 * torch.randn(B, L_ + H_, C_, generator=g,
                                                                                     dtype=torch.float64)
    s = offset + scale * s
    if standardise:
        mu, sd = s[:, :L_].mean(1, keepdim=True), s[:, :L_].std(1, keepdim=True)
        s = (s - mu) / sd
    s = s.float()
    return {"x": s[:, :L_], "y": s[:, L_:]}


def on_scale(forecast, scale: float, offset: float, factor: float = 100.0) -> bool:
    """Forecast within ``factor`` series scales of the level. Series values are float32 (the
    data layer stores them so), so a spread below the float32 resolution of the level (1e12 +
    O(1): 6.5e4) is judged against that resolution instead."""
    f = np.asarray(forecast.detach().cpu() if isinstance(forecast, torch.Tensor) else forecast, dtype=np.float64)
    return bool((np.abs(f - offset) <= factor * scale + 2 * np.spacing(np.float32(offset))).all())


def train_under_autocast(name, dtype, scale, offset, loss_name, standardise=False, grad_scaler=False, steps=3):
    torch.manual_seed(0)
    spec = ModelSpec(lookback=L_, horizon=H_, n_channels=C_, n_outputs=3 if loss_name == "quantile" else 1)
    model = build_model(name, spec, **TINY[name])
    loss_fn = make_loss(loss_name)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    scaler = torch.amp.GradScaler("cpu") if grad_scaler else None
    losses, grads_finite = [], []
    for step in range(steps):
        batch = extreme_batch(scale, offset, seed=step, standardise=standardise)
        with torch.autocast("cpu", dtype=dtype):
            pred = model(batch)
            loss = loss_fn(pred, batch["y"])
        opt.zero_grad()
        if scaler is None:
            loss.backward()
            grads_finite.append(all(all_finite(p.grad) for p in model.parameters() if p.grad is not None))
            opt.step()
        else:
            scaler.scale(loss).backward()
            scaler.step(opt)  # skipped (and the scale reduced) where a gradient overflowed
            scaler.update()
        losses.append(loss.detach())
    model.eval()
    with torch.no_grad(), torch.autocast("cpu", dtype=dtype):
        forecast = model(extreme_batch(scale, offset, seed=99, standardise=standardise))
    return model, losses, grads_finite, forecast


@pytest.mark.parametrize("scale", list(SCALES))
@pytest.mark.parametrize("name", list(TINY))
def test_bf16_autocast_training_on_raw_extreme_scales(name, scale):
    """Raw values (no data scaler: RevIN alone normalises), MSE and quantile losses: losses,
    every gradient, the parameters and the forecast stay finite; the forecast is in fp32 and on
    the scale of the series."""
    sc, off = SCALES[scale]
    for loss_name in ("mse", "quantile"):
        model, losses, grads_finite, forecast = train_under_autocast(name, torch.bfloat16, sc, off, loss_name)
        assert all_finite(*losses) and all(grads_finite), (loss_name, losses, grads_finite)
        assert all(all_finite(p) for p in model.parameters())
        assert all_finite(forecast) and forecast.dtype == torch.float32
        if sc >= 1:  # (RevIN's absolute eps 1e-5 flattens a series of scale 1e-8: not checked)
            assert on_scale(forecast, sc, off)


@pytest.mark.parametrize("scale", list(SCALES))
@pytest.mark.parametrize("name", list(TINY))
def test_fp16_autocast_training_on_scaled_extreme_series(name, scale):
    """fp16 as the estimator feeds the model: each series standardised by its own statistics
    (computed in float64, as the per-series scaler does). No GradScaler needed: all finite."""
    sc, off = SCALES[scale]
    model, losses, grads_finite, forecast = train_under_autocast(name, torch.float16, sc, off, "mse",
                                                                 standardise=True)
    assert all_finite(*losses) and all(grads_finite)
    assert all(all_finite(p) for p in model.parameters()) and all_finite(forecast)


@pytest.mark.parametrize("scale", list(SCALES))
@pytest.mark.parametrize("name", list(TINY))
def test_fp16_autocast_forward_and_gradscaler_training_on_raw_extreme_scales(name, scale):
    """fp16 on raw values. The forward is finite at any scale (RevIN statistics and the
    de-normalised output stay in fp32). The gradient of a loss in raw units grows with
    scale**2 and cannot be held in fp16 beyond scales of ~1e2, so training uses torch's
    GradScaler, which skips the overflowing steps: loss, parameters and forecast stay finite."""
    sc, off = SCALES[scale]
    model, losses, _, forecast = train_under_autocast(name, torch.float16, sc, off, "mse", grad_scaler=True)
    assert all_finite(*losses)
    assert all(all_finite(p) for p in model.parameters())
    assert all_finite(forecast) and forecast.dtype == torch.float32
    if sc >= 1:
        assert on_scale(forecast, sc, off)


def extreme_panel(scale: float, offset: float, n: int = 120, k: int = 2, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frames = []
    for j in range(k):
        t = np.arange(n)
        y = offset + scale * (np.sin(2 * np.pi * (t + 5 * j) / 24) + 0.2 * rng.standard_normal(n))
        frames.append(pd.DataFrame({"unique_id": f"s{j}", "ds": pd.date_range("2024-01-01", periods=n, freq="h"),
                                    "y": y}))
    return pd.concat(frames, ignore_index=True)


@pytest.mark.parametrize("scaler", ["standard", "none"])
@pytest.mark.parametrize("name", list(TINY))
def test_lightning_bf16_mixed_fit_on_extreme_scales(name, scaler):
    """``XLSTMForecaster(trainer_kwargs={"precision": "bf16-mixed"})``: a few optimiser steps per
    series scale, with the per-series scaler and without it (raw values into the model)."""
    import lightning as L

    from xlstm_ts import XLSTMForecaster

    class Spy(L.Callback):
        def __init__(self):
            self.losses, self.precision, self.autocast_dtypes = [], None, set()

        def on_train_start(self, trainer, module):
            self.precision = trainer.precision
            stack = module.model.stack
            stack.blocks[0].norm.register_forward_hook(
                lambda mod, a, out: self.autocast_dtypes.add(torch.get_autocast_dtype("cpu")
                                                             if torch.is_autocast_enabled("cpu") else None))

        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
            self.losses.append(float(outputs["loss"]))

    for scale, (sc, off) in SCALES.items():
        spy = Spy()
        est = XLSTMForecaster(model=name, horizon=H_, lookback=L_, model_params=TINY[name], scaler=scaler,
                              calendar=False, max_epochs=1, batch_size=16, val_size=0,
                              trainer_kwargs={"precision": "bf16-mixed", "limit_train_batches": 4,
                                              "callbacks": [spy]})
        est.fit(extreme_panel(sc, off))
        assert spy.precision == "bf16-mixed" and spy.autocast_dtypes == {torch.bfloat16}, scale
        assert len(spy.losses) == 4 and np.isfinite(spy.losses).all(), (scale, spy.losses)
        assert all(all_finite(p) for p in est.model_.parameters()), scale
        y_hat = est.predict()["y_hat"].to_numpy()
        assert np.isfinite(y_hat).all(), scale
        if scaler == "standard" or sc >= 1:
            assert on_scale(y_hat, sc, off), (scale, y_hat)

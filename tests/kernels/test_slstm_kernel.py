"""Fused sLSTM kernels (interpreter) against the float64 autograd reference.

Outputs, final state and gradients w.r.t. x_gates, R, b and the initial state of a random
linear functional of h and of the final state (h, c, n, m). Both ways of holding R are tested:
on chip (DH <= 64: dR/db accumulated in the kernel) and streamed per step (DH > 64, forced here
at small DH too: dR from one GEMM after the loop).
"""

from __future__ import annotations

import pytest
import torch
from xlstm_ts_kernels import slstm_sequence

from xlstm_ts.nn.functional import slstm_recurrent_autograd

from ._helpers import rel_err

NAMES = ["x_gates", "R", "b", "h0", "c0", "n0", "m0"]


def make(B, S, NH, DH, init, scale=1.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g, dtype=torch.float64)  # noqa: E731
    xs = [r(B, S, 4, NH, DH) * scale, r(NH, DH, 4, DH) / DH**0.5, r(4, NH, DH)]
    if init:
        xs += [r(B, NH, DH), r(B, NH, DH), torch.rand(B, NH, DH, generator=g, dtype=torch.float64) + 1,
               r(B, NH, DH)]
    return xs


def run(fn, inputs, seed=99):
    xs = [x.detach().clone().requires_grad_() for x in inputs]
    h, state = fn(xs[0], xs[1], xs[2], tuple(xs[3:]) if len(xs) > 3 else None)
    outs = [h, *state]
    g = torch.Generator().manual_seed(seed)
    loss = sum((o.double() * torch.randn(o.shape, generator=g, dtype=torch.float64)).sum() for o in outs)
    return [o.detach() for o in outs], torch.autograd.grad(loss, xs)


def check(inputs, dtype=torch.float32, tol=1e-4, resident=None, floor=1e-300):
    kin = [x.to(dtype) for x in inputs]
    ref_o, ref_g = run(slstm_recurrent_autograd, [x.double() for x in kin])
    out, grad = run(lambda *a: slstm_sequence(*a, _resident=resident), kin)
    assert out[0].dtype == dtype
    for g, x in zip(grad, kin, strict=False):
        assert torch.isfinite(g).all() and g.dtype == x.dtype
    errs = {n: rel_err(a, r) for n, a, r in zip(["h_seq", "h", "c", "n", "m"], out, ref_o, strict=False)}
    errs |= {"d" + n: rel_err(a, r, floor) for n, a, r in zip(NAMES, grad, ref_g, strict=False)}
    bad = {n: e for n, e in errs.items() if not e < tol}
    assert not bad, f"errors above {tol}: {bad} (all: {errs})"


@pytest.mark.parametrize(
    "B,S,NH,DH,init,resident",
    [
        (3, 7, 2, 16, False, None),  # B not a multiple of the batch block
        (2, 6, 2, 24, True, None),  # DH not a power of two
        (2, 6, 1, 32, True, None),
        (3, 5, 2, 16, True, False),  # streamed R, dR by GEMM
        (1, 3, 1, 128, True, None),  # DH = 128: streamed by default
    ],
)
def test_matches_reference(B, S, NH, DH, init, resident):
    check(make(B, S, NH, DH, init, seed=DH + S), resident=resident)


@pytest.mark.parametrize("init", [False, True])
@pytest.mark.parametrize("resident", [True, False])
def test_extreme_preactivations_stay_finite_and_exact(init, resident):
    """Gate pre-activations ~ +-1e4 (rounded to fp32 first for both sides). Some reference
    gradients are ~1e-100 (a closed gate), hence an absolute floor in the error measure."""
    check(make(2, 6, 1, 16, init, scale=1e4, seed=5), resident=resident, floor=1e-3)


@pytest.mark.parametrize("dtype,tol", [(torch.float16, 3e-3), (torch.bfloat16, 3e-2)])
def test_half_inputs(dtype, tol):
    check(make(3, 6, 2, 16, True, seed=6), dtype=dtype, tol=tol)


def test_state_passing_and_no_grad():
    xs = [x.float() for x in make(2, 8, 2, 16, False, seed=7)]
    with torch.no_grad():
        h, s = slstm_sequence(*xs)
        h1, s1 = slstm_sequence(xs[0][:, :3], xs[1], xs[2])
        h2, s2 = slstm_sequence(xs[0][:, 3:], xs[1], xs[2], s1)
    assert rel_err(torch.cat([h1, h2], 1), h) < 1e-6
    for a, r in zip(s2, s, strict=False):
        assert rel_err(a, r) < 1e-6
    assert torch.isinf(slstm_sequence(xs[0][:, :0], xs[1], xs[2])[1][3]).all()  # empty state m = -inf


def test_bad_shapes():
    xs = make(1, 3, 2, 16, False)
    with pytest.raises(ValueError, match="R must be"):
        slstm_sequence(xs[0].float(), xs[1][:1].float(), xs[2].float())


@pytest.mark.parametrize("dtype,dh", [(torch.float32, 128), (torch.float64, 96), (torch.bfloat16, 128)])
def test_no_case_is_refused_any_more(dtype, dh):
    """fp32 with DH > 64 on GPUs used to be refused (shared memory); it now streams R in blocks."""
    from xlstm_ts_kernels import slstm_unsupported_reason

    assert slstm_unsupported_reason(dtype, dh, compiled=True) is None

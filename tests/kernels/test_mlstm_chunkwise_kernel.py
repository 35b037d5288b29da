"""Triton chunkwise mLSTM (interpreter) against the float64 parallel reference.

Forward output, final state and all gradients (q, k, v, i, f, C0, n0, m0) of a random linear
functional of h *and* of the final state (C, n, m). Tolerance 1e-4 relative (max-abs error over
max-abs reference) in fp32; the kernels reach ~1e-6 on these cases. With extreme input gates
(i ~ +-50) q and k are non-negative: with signed q.k the normaliser cancels and fp32 loses
digits in any implementation.
"""

from __future__ import annotations

import pytest
import torch
from xlstm_ts_kernels import mlstm_chunkwise

from xlstm_ts.nn.functional import mlstm_parallel

from ._helpers import mlstm_inputs, outputs_and_grads, rel_err

OUT = ["h", "C", "n", "m"]
GRAD = ["q", "k", "v", "i", "f", "C0", "n0", "m0"]


def ref_fn(eps=1e-6):
    return lambda q, k, v, i, f, s: mlstm_parallel(q, k, v, i, f, s, eps=eps)


def kern_fn(chunk_size, eps=1e-6):
    return lambda q, k, v, i, f, s: mlstm_chunkwise(q, k, v, i, f, s, chunk_size=chunk_size, eps=eps)


def check(inputs, chunk_size, dtype=torch.float32, tol=1e-4, eps=1e-6, m_weight=1.0, grad_floor=1e-300):
    """Compare outputs and gradients; the reference runs on the kernel's (rounded) inputs in fp64."""
    kin = [x.to(dtype) for x in inputs]
    ref_out, ref_grad = outputs_and_grads(ref_fn(eps), [x.double() for x in kin], m_weight=m_weight)
    out, grad = outputs_and_grads(kern_fn(chunk_size, eps), kin, m_weight=m_weight)
    assert out[0].dtype == dtype and out[1].dtype == torch.float32
    errs = {n: rel_err(a, r) for n, a, r in zip(OUT, out, ref_out, strict=False)}
    errs |= {"d" + n: rel_err(a, r, grad_floor) for n, a, r in zip(GRAD, grad, ref_grad, strict=False)}
    for g, x in zip(grad, kin, strict=False):
        assert g.dtype == x.dtype and g.shape == x.shape
    bad = {n: e for n, e in errs.items() if not e < tol}
    assert not bad, f"errors above {tol}: {bad} (all: {errs})"
    return errs


@pytest.mark.parametrize(
    "B,H,S,Dqk,Dv,L,init",
    [
        (2, 2, 40, 16, 32, 16, False),  # S not a multiple of the chunk, Dqk != Dv, B x H > 1
        (2, 1, 50, 32, 16, 32, True),
        (1, 2, 37, 64, 16, 16, True),
        (1, 2, 29, 16, 64, 64, False),  # one chunk longer than S
        (1, 1, 70, 96, 40, 32, True),  # two DQK tiles (ragged), ragged DV
        (1, 2, 5, 16, 16, 64, True),  # S < 16
        (2, 1, 1, 32, 16, 64, True),  # a single step
    ],
)
def test_matches_reference(B, H, S, Dqk, Dv, L, init):
    check(mlstm_inputs(B, H, S, Dqk, Dv, init=init, seed=S), L)


@pytest.mark.parametrize("init", [False, True])
@pytest.mark.parametrize("i_shift,f_shift", [(50.0, 20.0), (-50.0, -20.0), (50.0, -20.0), (-50.0, 20.0)])
def test_extreme_gates(i_shift, f_shift, init):
    xs = mlstm_inputs(1, 2, 48, 16, 32, i_shift=i_shift, i_scale=5.0, f_shift=f_shift, f_scale=5.0,
                      nonneg_qk=True, init=init, seed=7)
    check(xs, 16)


def test_wide_gate_spread():
    """i ~ N(0, 50^2), f ~ N(0, 20^2): stabilisers switch between chunk and carried state."""
    xs = mlstm_inputs(2, 1, 50, 32, 16, i_scale=50.0, f_shift=0.0, f_scale=20.0, nonneg_qk=True,
                      init=True, seed=3)
    check(xs, 16)


def test_exp_minus_m_branch_of_normaliser():
    """Very negative input gates: max(|q.n|, exp(-m)) is exp(-m) on most rows."""
    xs = mlstm_inputs(1, 2, 33, 24, 48, i_shift=-6.0, init=True, seed=4)
    check(xs, 16)


@pytest.mark.parametrize("m0_shift,i_shift", [(0.0, 0.0), (8.0, -3.0)])
def test_stabiliser_gradient_is_exact(m0_shift, i_shift):
    """A large eps makes the stabiliser's own gradient (routed to the arg-max of each row, or
    through the chunk boundaries to m0) visible; the used final m (weight 10) checks dm_S."""
    xs = mlstm_inputs(1, 2, 50, 16, 16, i_shift=i_shift, i_scale=3.0, f_shift=4.0, f_scale=3.0,
                      init=True, m0_shift=m0_shift, seed=5)
    check(xs, 16, eps=0.3, m_weight=10.0)


def test_chunk_size_does_not_change_result():
    xs = mlstm_inputs(1, 2, 64, 16, 16, init=True, seed=8)
    outs = [outputs_and_grads(kern_fn(L), [x.float() for x in xs]) for L in (16, 32, 64)]
    for o, g in outs[1:]:
        for a, r in zip(o + g, outs[0][0] + outs[0][1], strict=False):
            assert rel_err(a, r) < 1e-5


def test_state_passing_equals_one_pass():
    q, k, v, i, f, *_ = [x.float() for x in mlstm_inputs(1, 2, 60, 16, 32, seed=9)]
    h, (C, n, m) = mlstm_chunkwise(q, k, v, i, f, chunk_size=16)
    h1, s1 = mlstm_chunkwise(q[:, :, :23], k[:, :, :23], v[:, :, :23], i[:, :, :23], f[:, :, :23], chunk_size=16)
    h2, s2 = mlstm_chunkwise(q[:, :, 23:], k[:, :, 23:], v[:, :, 23:], i[:, :, 23:], f[:, :, 23:], s1, chunk_size=16)
    assert rel_err(torch.cat([h1, h2], 2), h) < 1e-5
    for a, r in zip(s2, (C, n, m), strict=False):
        assert rel_err(a, r) < 1e-5


def test_only_final_state_used():
    """Gradient through (C, n, m) alone (h unused), e.g. a prefill whose state is consumed later."""
    xs = [x.float().requires_grad_() for x in mlstm_inputs(1, 1, 40, 16, 16, init=True, seed=10)]
    xr = [x.detach().double().requires_grad_() for x in xs]
    _, (C, n, m) = mlstm_chunkwise(*xs[:5], tuple(xs[5:]), chunk_size=16)
    _, (Cr, nr, mr) = mlstm_parallel(*xr[:5], tuple(xr[5:]))
    ga = torch.autograd.grad(C.sum() + n.sum() + 3 * m.sum(), xs)
    gr = torch.autograd.grad(Cr.sum() + nr.sum() + 3 * mr.sum(), xr, allow_unused=True)
    assert ga[0].abs().max() == 0 and gr[0] is None  # q does not reach the state
    for a, r in zip(ga[1:], gr[1:], strict=False):
        assert rel_err(a, r) < 1e-4


@pytest.mark.parametrize("dtype,tol", [(torch.float16, 5e-3), (torch.bfloat16, 5e-2)])
def test_half_inputs(dtype, tol):
    """fp16 runs the half-operand matmul path; bf16 is upcast in the interpreter. The loose
    tolerance covers h (and therefore dh) rounded to the half dtype."""
    check(mlstm_inputs(1, 2, 40, 16, 32, init=True, seed=11), 16, dtype=dtype, tol=tol)


def test_float64_inputs_are_computed_in_fp32():
    xs = mlstm_inputs(1, 1, 20, 16, 16, seed=12)
    h, (C, n, m) = mlstm_chunkwise(*xs)
    hr, _ = mlstm_parallel(*xs)
    assert h.dtype == torch.float64 and C.dtype == torch.float32
    assert rel_err(h, hr) < 1e-5


def test_noncontiguous_inputs_and_m0_with_trailing_dim():
    q, k, v, i, f, C0, n0, m0 = [x.float() for x in mlstm_inputs(2, 2, 20, 16, 16, init=True, seed=13)]
    qt = q.transpose(0, 1).contiguous().transpose(0, 1)
    h, s = mlstm_chunkwise(qt, k, v, i, f, (C0, n0, m0[..., None]), chunk_size=16)
    hr, sr = mlstm_parallel(q.double(), k.double(), v.double(), i.double(), f.double(),
                            (C0.double(), n0.double(), m0.double()))
    assert rel_err(h, hr) < 1e-4 and rel_err(s[2], sr[2]) < 1e-5


def test_empty_sequence_and_bad_shapes():
    q = torch.zeros(1, 2, 0, 16)
    h, (C, n, m) = mlstm_chunkwise(q, q, torch.zeros(1, 2, 0, 8), torch.zeros(1, 2, 0), torch.zeros(1, 2, 0))
    assert h.shape == (1, 2, 0, 8) and C.shape == (1, 2, 16, 8) and m.shape == (1, 2)
    q = torch.zeros(1, 2, 4, 16)
    with pytest.raises(ValueError, match="i and f"):
        mlstm_chunkwise(q, q, torch.zeros(1, 2, 4, 8), torch.zeros(1, 2, 3), torch.zeros(1, 2, 4))
    with pytest.raises(ValueError, match="chunk_size"):
        mlstm_chunkwise(q, q, torch.zeros(1, 2, 4, 8), torch.zeros(1, 2, 4), torch.zeros(1, 2, 4), chunk_size=0)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
@pytest.mark.parametrize("which", ["k", "v"])
@pytest.mark.parametrize("step", [9, 21])  # inside the first chunk; inside the second
def test_non_finite_input_does_not_reach_earlier_outputs(which, bad, step):
    """As the torch forms (tests/nn/test_audit_fixes.py): a bad key or value at step s leaves the
    outputs before s bit for bit unchanged, also those of its own chunk."""
    xs = [x.float() for x in mlstm_inputs(2, 1, 40, 16, 16, seed=3)]
    h_clean, _ = mlstm_chunkwise(*xs, chunk_size=16)
    j = {"k": 1, "v": 2}[which]
    xs[j] = xs[j].clone()
    xs[j][0, 0, step, 1] = bad
    h, (C, _, _) = mlstm_chunkwise(*xs, chunk_size=16)
    assert torch.equal(h[:, :, :step], h_clean[:, :, :step])
    assert torch.equal(h[1], h_clean[1])
    if which == "k":
        assert not torch.isfinite(h[0, 0, step]).all()
    else:  # only channel 1 of that head, from step s on, as the recurrence gives
        assert not torch.isfinite(h[0, 0, step:, 1]).any()
        assert torch.isfinite(h[0, 0, :, 0]).all()
        assert not torch.isfinite(C[0, 0, :, 1]).any() and torch.isfinite(C[0, 0, :, 0]).all()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_backward_row_scalars_match_the_torch_formula(dtype):
    """`_bw_rows_kernel` against its definition: delta = dh . h (fp32), invN, dden (only where
    |den| wins the max) and dm; padded rows (t >= S) get delta = 0. Dv = 80 is not a multiple
    of the 64-wide tile; den and m are drawn so that both branches of the max occur."""
    from xlstm_ts_kernels.mlstm_chunkwise import ROWS_BS, _bw_rows_kernel, triton_cdiv

    g = torch.Generator().manual_seed(0)
    BH, S, Sp, DV, eps = 3, 37, 48, 80, 1e-6
    dh = torch.randn(BH, S, DV, generator=g).to(dtype)
    h = torch.randn(BH, S, DV, generator=g).to(dtype)
    den = torch.randn(BH, Sp, generator=g) * 3
    m = torch.randn(BH, Sp, generator=g) * 2
    invN, dden, dmh = (torch.full((BH, Sp), float("nan")) for _ in range(3))
    _bw_rows_kernel[(triton_cdiv(Sp, ROWS_BS), BH)](dh, h, den, m, invN, dden, dmh, S, Sp, DV, eps, BS=ROWS_BS, BD=64)

    delta = torch.nn.functional.pad((dh.double() * h.double()).sum(-1), (0, Sp - S))
    e = torch.exp(-m.double())
    wins = den.abs() > e
    assert wins.any() and (~wins).any()
    ref_inv = 1.0 / (torch.maximum(den.double().abs(), e) + eps)
    ref_dden = torch.where(wins, -torch.sign(den.double()) * delta * ref_inv, 0.0)
    for got, ref in ((invN, ref_inv), (dden, ref_dden), (dmh, -eps * delta * ref_inv)):
        torch.testing.assert_close(got.double(), ref, rtol=1e-5, atol=1e-9)
    assert (dden[:, S:] == 0).all() and (dmh[:, S:] == 0).all()

"""Fused sLSTM over a whole sequence: one launch for the forward, one for the backward.

Grid ``(batch blocks of BB = 16 rows, heads)``. Each program keeps its rows' state
``(h, c, n, m)`` in registers for the whole sequence and does per step the recurrent matmul
``h_{t-1} @ R[head]`` (four ``(BB, DH) @ (DH, DH)`` dots, one per gate) plus the pointwise cell.

Where R lives (the documented choice): for DH <= 64 the four ``DH x DH`` gate tiles of R are
loaded once per program and stay on chip for all steps (4 * 64 * 64 fp32 = 64 KB, half that
in bf16). For larger DH (128: 256 KB in fp32) that cannot stay in registers/shared memory, so
the program re-reads the gate tiles every step (in fp32 in 32-row blocks, reading ``h_{t-1}``
back from the output it just wrote: four whole fp32 tiles per step overflow shared memory);
they are shared by all programs of a head and
served from L2 (a head's R is 256 KB at DH = 128, far below the 50 MB L2 of an H100).

Backward: a reverse-time loop in one launch that recomputes the gate pre-activations from the
saved per-step states (fp32 ``h, c, n, m``), propagates ``(dh, dc, dn, dm)`` exactly like the
torch reference (the stabiliser's gradient goes to the winning branch of the max) and writes the
pre-activation gradients (= dx_gates). dR and db: with R on chip the program also accumulates
its batch block's ``sum_t h_{t-1}^T dpre_t`` and ``sum_t dpre_t`` in fp32 registers (partials
per batch block, summed afterwards); with R streamed (DH > 64) the fp32 accumulator would not
fit either, so dR is one fp32 GEMM over all steps after the loop (``h_{t-1}`` and dpre are in
memory anyway).

Dtypes: matmul operands fp32 (``input_precision="ieee"``) for fp32 inputs, the half input dtype
on the GPU for fp16/bf16 inputs (fp32 accumulation); all state and pointwise math in fp32.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from torch.autograd.function import once_differentiable

from ._utils import check_device, half_dot, logsigmoid, mm, next_pow2, sigmoid, tanh

BB = 16  # batch rows per program (tl.dot needs >= 16)
RESIDENT_MAX_DH = 64


@triton.jit
def _load_R(R_ptr, h, g: tl.constexpr, DH: tl.constexpr, DHP: tl.constexpr, HALF: tl.constexpr):
    d = tl.arange(0, DHP)
    md = d < DH
    R = tl.load(R_ptr + ((h * DH + d[:, None]) * 4 + g) * DH + d[None, :],
                mask=md[:, None] & md[None, :], other=0.0)
    if HALF:
        return R
    else:
        return R.to(tl.float32)


@triton.jit
def _x_gates(x_ptr, xo, m2, bi, bf, bz, bo, NH: tl.constexpr, DH: tl.constexpr):
    """Input pre-activations plus biases of the four gates at one step (fp32)."""
    pi = tl.load(x_ptr + xo, mask=m2, other=0.0).to(tl.float32) + bi[None, :]
    pf = tl.load(x_ptr + xo + NH * DH, mask=m2, other=0.0).to(tl.float32) + bf[None, :]
    pz = tl.load(x_ptr + xo + 2 * NH * DH, mask=m2, other=0.0).to(tl.float32) + bz[None, :]
    po = tl.load(x_ptr + xo + 3 * NH * DH, mask=m2, other=0.0).to(tl.float32) + bo[None, :]
    return pi, pf, pz, po


@triton.jit
def _add_rec_from_memory(acc_i, acc_f, acc_z, acc_o, h_ptr, h0_ptr, rb, t, S, hd, R_ptr, NH: tl.constexpr,
                         DH: tl.constexpr, DHP: tl.constexpr, KC: tl.constexpr, mb, me, HAS_INIT: tl.constexpr):
    """Adds ``h_{t-1} @ R[head, :, g, :]`` (fp32) to the four gates' accumulators, with ``h_{t-1}``
    read back from memory (``h_ptr``, layout (B, S, NH, DH), row t - 1; the initial state at
    t = 0) in ``KC``-wide column blocks, so that only ``4 x KC x DH`` of R is live at a time."""
    e = tl.arange(0, DHP)
    prev = ((rb * S + t - 1) * NH + hd) * DH
    init = (rb * NH + hd) * DH
    for k0 in range(0, DHP, KC):
        kk = k0 + tl.arange(0, KC)
        mk = kk < DH
        hm = mb[:, None] & mk[None, :]
        hk = tl.load(h_ptr + prev[:, None] + kk[None, :], mask=hm & (t > 0), other=0.0).to(tl.float32)
        if HAS_INIT:
            hk += tl.load(h0_ptr + init[:, None] + kk[None, :], mask=hm & (t == 0), other=0.0).to(tl.float32)
        rk = (hd * DH + kk[:, None]) * 4
        rm = mk[:, None] & me[None, :]
        acc_i += tl.dot(hk, tl.load(R_ptr + (rk + 0) * DH + e[None, :], mask=rm, other=0.0).to(tl.float32),
                        input_precision="ieee")
        acc_f += tl.dot(hk, tl.load(R_ptr + (rk + 1) * DH + e[None, :], mask=rm, other=0.0).to(tl.float32),
                        input_precision="ieee")
        acc_z += tl.dot(hk, tl.load(R_ptr + (rk + 2) * DH + e[None, :], mask=rm, other=0.0).to(tl.float32),
                        input_precision="ieee")
        acc_o += tl.dot(hk, tl.load(R_ptr + (rk + 3) * DH + e[None, :], mask=rm, other=0.0).to(tl.float32),
                        input_precision="ieee")
    return acc_i, acc_f, acc_z, acc_o


@triton.jit
def _rec_back_from_memory(dx_ptr, xrow, hd, R_ptr, NH: tl.constexpr, DH: tl.constexpr, DHP: tl.constexpr,
                          BB: tl.constexpr, KC: tl.constexpr, mb, me):
    """``sum_g dpre_g @ R[head, :, g, :]^T`` (fp32) with the gate gradients read back from ``dx``
    (row offsets ``xrow``) in ``KC``-wide blocks of the gate-output dim."""
    d = tl.arange(0, DHP)
    acc = tl.zeros((BB, DHP), dtype=tl.float32)
    for k0 in range(0, DHP, KC):
        kk = k0 + tl.arange(0, KC)
        mk = kk < DH
        hm = mb[:, None] & mk[None, :]
        rm = mk[:, None] & me[None, :]
        for g in tl.static_range(4):
            dp = tl.load(dx_ptr + xrow[:, None] + g * NH * DH + kk[None, :], mask=hm, other=0.0)
            RT = tl.load(R_ptr + ((hd * DH + d[None, :]) * 4 + g) * DH + kk[:, None], mask=rm, other=0.0)
            acc += tl.dot(dp, RT.to(tl.float32), input_precision="ieee")
    return acc


@triton.jit
def _slstm_fw_kernel(
    x_ptr, R_ptr, b_ptr, h0_ptr, c0_ptr, n0_ptr, m0_ptr, y_ptr, hs_ptr, cs_ptr, ns_ptr, ms_ptr,
    hT_ptr, cT_ptr, nT_ptr, mT_ptr,
    B, S,
    NH: tl.constexpr, DH: tl.constexpr, DHP: tl.constexpr, BB: tl.constexpr,
    HAS_INIT: tl.constexpr, SAVE: tl.constexpr, RESIDENT: tl.constexpr, HALF: tl.constexpr,
    KC: tl.constexpr,
):
    pb = tl.program_id(0)
    hd = tl.program_id(1)
    DT = R_ptr.dtype.element_ty
    rb = (pb * BB + tl.arange(0, BB)).to(tl.int64)
    e = tl.arange(0, DHP)
    mb = rb < B
    me = e < DH
    m2 = mb[:, None] & me[None, :]
    so = (rb[:, None] * NH + hd) * DH + e[None, :]
    if HAS_INIT:
        h = tl.load(h0_ptr + so, mask=m2, other=0.0).to(tl.float32)
        c = tl.load(c0_ptr + so, mask=m2, other=0.0).to(tl.float32)
        n = tl.load(n0_ptr + so, mask=m2, other=0.0).to(tl.float32)
        m = tl.load(m0_ptr + so, mask=m2, other=0.0).to(tl.float32)
    else:
        h = tl.zeros((BB, DHP), dtype=tl.float32)
        c = tl.zeros((BB, DHP), dtype=tl.float32)
        n = tl.zeros((BB, DHP), dtype=tl.float32)
        m = tl.full((BB, DHP), float("-inf"), dtype=tl.float32)
    bi = tl.load(b_ptr + (0 * NH + hd) * DH + e, mask=me, other=0.0).to(tl.float32)
    bf = tl.load(b_ptr + (1 * NH + hd) * DH + e, mask=me, other=0.0).to(tl.float32)
    bz = tl.load(b_ptr + (2 * NH + hd) * DH + e, mask=me, other=0.0).to(tl.float32)
    bo = tl.load(b_ptr + (3 * NH + hd) * DH + e, mask=me, other=0.0).to(tl.float32)
    if RESIDENT:
        Ri = _load_R(R_ptr, hd, 0, DH, DHP, HALF)
        Rf = _load_R(R_ptr, hd, 1, DH, DHP, HALF)
        Rz = _load_R(R_ptr, hd, 2, DH, DHP, HALF)
        Ro = _load_R(R_ptr, hd, 3, DH, DHP, HALF)
    for t in range(S):
        xo = (rb[:, None] * S + t) * (4 * NH * DH) + hd * DH + e[None, :]
        pi, pf, pz, po = _x_gates(x_ptr, xo, m2, bi, bf, bz, bo, NH, DH)
        if KC > 0:
            # h_{t-1} was stored to y (fp32) by every thread of this program: sync, read it back.
            tl.debug_barrier()
            pi, pf, pz, po = _add_rec_from_memory(pi, pf, pz, po, y_ptr, h0_ptr, rb, t, S, hd, R_ptr, NH, DH, DHP,
                                                  KC, mb, me, HAS_INIT)
        else:
            if not RESIDENT:
                Ri = _load_R(R_ptr, hd, 0, DH, DHP, HALF)
                Rf = _load_R(R_ptr, hd, 1, DH, DHP, HALF)
                Rz = _load_R(R_ptr, hd, 2, DH, DHP, HALF)
                Ro = _load_R(R_ptr, hd, 3, DH, DHP, HALF)
            pi += mm(h, Ri, HALF, DT)
            pf += mm(h, Rf, HALF, DT)
            pz += mm(h, Rz, HALF, DT)
            po += mm(h, Ro, HALF, DT)
        lfm = logsigmoid(pf) + m
        m = tl.maximum(pi, lfm)
        iw = tl.exp(pi - m)
        fw = tl.exp(lfm - m)
        c = fw * c + iw * tanh(pz)
        n = fw * n + iw
        h = sigmoid(po) * c / n
        yo = (rb[:, None] * S + t) * (NH * DH) + hd * DH + e[None, :]
        tl.store(y_ptr + yo, h.to(y_ptr.dtype.element_ty), mask=m2)
        if SAVE:
            tl.store(hs_ptr + yo, h, mask=m2)
            tl.store(cs_ptr + yo, c, mask=m2)
            tl.store(ns_ptr + yo, n, mask=m2)
            tl.store(ms_ptr + yo, m, mask=m2)
    tl.store(hT_ptr + so, h, mask=m2)
    tl.store(cT_ptr + so, c, mask=m2)
    tl.store(nT_ptr + so, n, mask=m2)
    tl.store(mT_ptr + so, m, mask=m2)


@triton.jit
def _slstm_bw_kernel(
    x_ptr, R_ptr, b_ptr, h0_ptr, c0_ptr, n0_ptr, m0_ptr, hs_ptr, cs_ptr, ns_ptr, ms_ptr,
    dy_ptr, dhT_ptr, dcT_ptr, dnT_ptr, dmT_ptr, dx_ptr, dh0_ptr, dc0_ptr, dn0_ptr, dm0_ptr,
    dR_ptr, db_ptr,
    B, S,
    NH: tl.constexpr, DH: tl.constexpr, DHP: tl.constexpr, BB: tl.constexpr,
    HAS_INIT: tl.constexpr, HAS_DSTATE: tl.constexpr, RESIDENT: tl.constexpr, HALF: tl.constexpr,
    KC: tl.constexpr,
):
    pb = tl.program_id(0)
    hd = tl.program_id(1)
    DT = R_ptr.dtype.element_ty
    rb = (pb * BB + tl.arange(0, BB)).to(tl.int64)
    e = tl.arange(0, DHP)
    mb = rb < B
    me = e < DH
    m2 = mb[:, None] & me[None, :]
    so = (rb[:, None] * NH + hd) * DH + e[None, :]
    if HAS_INIT:
        h_init = tl.load(h0_ptr + so, mask=m2, other=0.0).to(tl.float32)
        c_init = tl.load(c0_ptr + so, mask=m2, other=0.0).to(tl.float32)
        n_init = tl.load(n0_ptr + so, mask=m2, other=0.0).to(tl.float32)
        m_init = tl.load(m0_ptr + so, mask=m2, other=0.0).to(tl.float32)
    else:
        h_init = tl.zeros((BB, DHP), dtype=tl.float32)
        c_init = tl.zeros((BB, DHP), dtype=tl.float32)
        n_init = tl.zeros((BB, DHP), dtype=tl.float32)
        m_init = tl.full((BB, DHP), float("-inf"), dtype=tl.float32)
    if HAS_DSTATE:
        dh_rec = tl.load(dhT_ptr + so, mask=m2, other=0.0).to(tl.float32)
        dc = tl.load(dcT_ptr + so, mask=m2, other=0.0).to(tl.float32)
        dn = tl.load(dnT_ptr + so, mask=m2, other=0.0).to(tl.float32)
        dm = tl.load(dmT_ptr + so, mask=m2, other=0.0).to(tl.float32)
    else:
        dh_rec = tl.zeros((BB, DHP), dtype=tl.float32)
        dc = tl.zeros((BB, DHP), dtype=tl.float32)
        dn = tl.zeros((BB, DHP), dtype=tl.float32)
        dm = tl.zeros((BB, DHP), dtype=tl.float32)
    bi = tl.load(b_ptr + (0 * NH + hd) * DH + e, mask=me, other=0.0).to(tl.float32)
    bf = tl.load(b_ptr + (1 * NH + hd) * DH + e, mask=me, other=0.0).to(tl.float32)
    bz = tl.load(b_ptr + (2 * NH + hd) * DH + e, mask=me, other=0.0).to(tl.float32)
    bo = tl.load(b_ptr + (3 * NH + hd) * DH + e, mask=me, other=0.0).to(tl.float32)
    if RESIDENT:
        Ri = _load_R(R_ptr, hd, 0, DH, DHP, HALF)
        Rf = _load_R(R_ptr, hd, 1, DH, DHP, HALF)
        Rz = _load_R(R_ptr, hd, 2, DH, DHP, HALF)
        Ro = _load_R(R_ptr, hd, 3, DH, DHP, HALF)
        dRi = tl.zeros((DHP, DHP), dtype=tl.float32)
        dRf = tl.zeros((DHP, DHP), dtype=tl.float32)
        dRz = tl.zeros((DHP, DHP), dtype=tl.float32)
        dRo = tl.zeros((DHP, DHP), dtype=tl.float32)
        dbi = tl.zeros((DHP,), dtype=tl.float32)
        dbf = tl.zeros((DHP,), dtype=tl.float32)
        dbz = tl.zeros((DHP,), dtype=tl.float32)
        dbo = tl.zeros((DHP,), dtype=tl.float32)
    for tt in range(S):
        t = S - 1 - tt
        if KC == 0:
            if not RESIDENT:
                Ri = _load_R(R_ptr, hd, 0, DH, DHP, HALF)
                Rf = _load_R(R_ptr, hd, 1, DH, DHP, HALF)
                Rz = _load_R(R_ptr, hd, 2, DH, DHP, HALF)
                Ro = _load_R(R_ptr, hd, 3, DH, DHP, HALF)
        yo = (rb[:, None] * S + t) * (NH * DH) + hd * DH + e[None, :]
        po_ = yo - NH * DH  # step t - 1
        mp = m2 & (t > 0)
        h_prev = tl.where(t > 0, tl.load(hs_ptr + po_, mask=mp, other=0.0), h_init)
        c_prev = tl.where(t > 0, tl.load(cs_ptr + po_, mask=mp, other=0.0), c_init)
        n_prev = tl.where(t > 0, tl.load(ns_ptr + po_, mask=mp, other=0.0), n_init)
        m_prev = tl.where(t > 0, tl.load(ms_ptr + po_, mask=mp, other=0.0), m_init)
        c_t = tl.load(cs_ptr + yo, mask=m2, other=0.0)
        n_t = tl.load(ns_ptr + yo, mask=m2, other=1.0)
        h_t = tl.load(hs_ptr + yo, mask=m2, other=0.0)
        xo = (rb[:, None] * S + t) * (4 * NH * DH) + hd * DH + e[None, :]
        pi, pf, pz, po = _x_gates(x_ptr, xo, m2, bi, bf, bz, bo, NH, DH)
        if KC > 0:
            pi, pf, pz, po = _add_rec_from_memory(pi, pf, pz, po, hs_ptr, h0_ptr, rb, t, S, hd, R_ptr, NH, DH, DHP,
                                                  KC, mb, me, HAS_INIT)
        else:
            pi += mm(h_prev, Ri, HALF, DT)
            pf += mm(h_prev, Rf, HALF, DT)
            pz += mm(h_prev, Rz, HALF, DT)
            po += mm(h_prev, Ro, HALF, DT)
        lfm = logsigmoid(pf) + m_prev
        m_t = tl.maximum(pi, lfm)
        win = pi >= lfm
        I = tl.exp(pi - m_t)
        Fw = tl.exp(lfm - m_t)
        Z = tanh(pz)
        O = sigmoid(po)

        dh = tl.load(dy_ptr + yo, mask=m2, other=0.0).to(tl.float32) + dh_rec
        dh_n = dh / n_t
        dpo = dh_n * c_t * O * (1.0 - O)
        dc = dc + dh_n * O
        dn = dn - dh_n * h_t
        dpz = dc * I * (1.0 - Z * Z)
        g_i = (dn + dc * Z) * I
        g_f = (dc * c_prev + dn * n_prev) * Fw
        dc = dc * Fw
        dn = dn * Fw
        dm = dm - g_i - g_f
        dpi = tl.where(win, g_i + dm, g_i)
        dm = tl.where(win, g_f, g_f + dm)
        dpf = dm * sigmoid(-pf)
        dpi = tl.where(m2, dpi, 0.0)
        dpf = tl.where(m2, dpf, 0.0)
        dpz = tl.where(m2, dpz, 0.0)
        dpo = tl.where(m2, dpo, 0.0)
        tl.store(dx_ptr + xo, dpi, mask=m2)
        tl.store(dx_ptr + xo + NH * DH, dpf, mask=m2)
        tl.store(dx_ptr + xo + 2 * NH * DH, dpz, mask=m2)
        tl.store(dx_ptr + xo + 3 * NH * DH, dpo, mask=m2)
        if KC > 0:
            # dpre of step t was stored to dx by every thread of this program: sync, read it back.
            tl.debug_barrier()
            dh_rec = _rec_back_from_memory(dx_ptr, (rb * S + t) * (4 * NH * DH) + hd * DH, hd, R_ptr, NH, DH, DHP,
                                           BB, KC, mb, me)
        else:
            dh_rec = (mm(dpi, tl.trans(Ri), HALF, DT) + mm(dpf, tl.trans(Rf), HALF, DT)
                      + mm(dpz, tl.trans(Rz), HALF, DT) + mm(dpo, tl.trans(Ro), HALF, DT))
        if RESIDENT:
            hpT = tl.trans(h_prev)
            dRi += tl.dot(hpT, dpi, input_precision="ieee")
            dRf += tl.dot(hpT, dpf, input_precision="ieee")
            dRz += tl.dot(hpT, dpz, input_precision="ieee")
            dRo += tl.dot(hpT, dpo, input_precision="ieee")
            dbi += tl.sum(dpi, axis=0)
            dbf += tl.sum(dpf, axis=0)
            dbz += tl.sum(dpz, axis=0)
            dbo += tl.sum(dpo, axis=0)
    tl.store(dh0_ptr + so, dh_rec, mask=m2)
    tl.store(dc0_ptr + so, dc, mask=m2)
    tl.store(dn0_ptr + so, dn, mask=m2)
    tl.store(dm0_ptr + so, dm, mask=m2)
    if RESIDENT:
        d = tl.arange(0, DHP)
        rm = me[:, None] & me[None, :]
        base = (pb * NH + hd) * DH
        tl.store(dR_ptr + ((base + d[:, None]) * 4 + 0) * DH + e[None, :], dRi, mask=rm)
        tl.store(dR_ptr + ((base + d[:, None]) * 4 + 1) * DH + e[None, :], dRf, mask=rm)
        tl.store(dR_ptr + ((base + d[:, None]) * 4 + 2) * DH + e[None, :], dRz, mask=rm)
        tl.store(dR_ptr + ((base + d[:, None]) * 4 + 3) * DH + e[None, :], dRo, mask=rm)
        bb = pb * 4 * NH
        tl.store(db_ptr + ((bb + 0 * NH + hd) * DH) + e, dbi, mask=me)
        tl.store(db_ptr + ((bb + 1 * NH + hd) * DH) + e, dbf, mask=me)
        tl.store(db_ptr + ((bb + 2 * NH + hd) * DH) + e, dbz, mask=me)
        tl.store(db_ptr + ((bb + 3 * NH + hd) * DH) + e, dbo, mask=me)


def _num_warps(DHP: int) -> int:
    return 8 if DHP >= 64 else 4


# No software pipelining of the time loop: with R streamed, multi-buffering its tiles would not
# fit in shared memory, and the loop is a true recurrence anyway.
NUM_STAGES = 1


def _k_chunk(resident: bool, kd: torch.dtype) -> int:
    """Column block of the memory round trip for streamed fp32 R (0: whole-tile dots).

    Streamed R in fp32 (DH > 64) as four whole ``DH x DH`` tiles per step needs 264 KB of shared
    memory at DH = 128 (measured on an H200; 227 KB available), so those steps read ``h_{t-1}``
    (and in the backward the gate gradients) back from memory in 32-wide blocks instead, keeping
    ``4 x 32 x DH`` of R live at a time. Half inputs keep whole tiles (128 KB at DH = 128)."""
    return 32 if not resident and kd == torch.float32 else 0


def _kernel_dtype(dtype):
    return dtype if dtype in (torch.float16, torch.bfloat16, torch.float32) else torch.float32


class SLSTMFusedFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x_gates, R, b, h0, c0, n0, m0, resident):
        B, S, _, NH, DH = x_gates.shape
        kd = _kernel_dtype(x_gates.dtype)
        half = half_dot(kd)
        DHP = max(16, next_pow2(DH))
        dev = x_gates.device
        xc = x_gates.to(kd).contiguous()
        Rc = R.to(kd if half else torch.float32).contiguous()
        bc = b.float().contiguous()
        has_init = h0 is not None
        if has_init:
            h0c, c0c, n0c, m0c = (s.float().contiguous() for s in (h0, c0, n0, m0))
        else:
            h0c = c0c = n0c = m0c = None
        save = torch.is_grad_enabled() or any(
            t is not None and t.requires_grad for t in (x_gates, R, b, h0, c0, n0, m0))
        y = torch.empty(B, S, NH, DH, device=dev, dtype=kd)
        seq = (B, S, NH, DH)
        hs, cs, ns, ms = (torch.empty(seq if save else (1,), device=dev, dtype=torch.float32)
                          for _ in range(4))
        hT, cT, nT, mT = (torch.empty(B, NH, DH, device=dev, dtype=torch.float32) for _ in range(4))
        grid = (triton.cdiv(B, BB), NH)
        kc = _k_chunk(resident, kd)
        _slstm_fw_kernel[grid](
            xc, Rc, bc, h0c if has_init else hT, c0c if has_init else hT, n0c if has_init else hT,
            m0c if has_init else hT, y, hs, cs, ns, ms, hT, cT, nT, mT, B, S,
            NH=NH, DH=DH, DHP=DHP, BB=BB, HAS_INIT=has_init, SAVE=save, RESIDENT=resident, HALF=half,
            KC=kc, num_warps=_num_warps(DHP), num_stages=NUM_STAGES,
        )
        ctx.save_for_backward(xc, Rc, bc, h0c, c0c, n0c, m0c, hs, cs, ns, ms)
        ctx.meta = (resident, kc, half, x_gates.dtype, R.dtype, b.dtype,
                    None if not has_init else tuple(s.dtype for s in (h0, c0, n0, m0)))
        return y.to(x_gates.dtype), hT, cT, nT, mT

    @staticmethod
    @once_differentiable
    def backward(ctx, dy, dhT, dcT, dnT, dmT):
        xc, Rc, bc, h0c, c0c, n0c, m0c, hs, cs, ns, ms = ctx.saved_tensors
        resident, kc, half, x_dt, R_dt, b_dt, init_dts = ctx.meta
        B, S, _, NH, DH = xc.shape
        DHP = max(16, next_pow2(DH))
        dev = xc.device
        has_init = h0c is not None
        dy = torch.zeros(B, S, NH, DH, device=dev) if dy is None else dy.contiguous()
        has_dstate = any(t is not None for t in (dhT, dcT, dnT, dmT))
        if has_dstate:
            dhT, dcT, dnT, dmT = (torch.zeros(B, NH, DH, device=dev) if t is None else t.float().contiguous()
                                  for t in (dhT, dcT, dnT, dmT))
        dx = torch.empty(B, S, 4, NH, DH, device=dev, dtype=torch.float32)
        dh0, dc0, dn0, dm0 = (torch.empty(B, NH, DH, device=dev, dtype=torch.float32) for _ in range(4))
        nPB = triton.cdiv(B, BB)
        if resident:
            dR_part = torch.empty(nPB, NH, DH, 4, DH, device=dev, dtype=torch.float32)
            db_part = torch.empty(nPB, 4, NH, DH, device=dev, dtype=torch.float32)
        else:
            dR_part = db_part = dx  # unused
        _slstm_bw_kernel[(nPB, NH)](
            xc, Rc, bc, h0c if has_init else dh0, c0c if has_init else dh0, n0c if has_init else dh0,
            m0c if has_init else dh0, hs, cs, ns, ms, dy,
            dhT if has_dstate else dh0, dcT if has_dstate else dh0, dnT if has_dstate else dh0,
            dmT if has_dstate else dh0, dx, dh0, dc0, dn0, dm0, dR_part, db_part, B, S,
            NH=NH, DH=DH, DHP=DHP, BB=BB, HAS_INIT=has_init, HAS_DSTATE=has_dstate, RESIDENT=resident,
            HALF=half, KC=kc, num_warps=_num_warps(DHP), num_stages=NUM_STAGES,
        )
        if resident:
            dR = dR_part.sum(0)
            db = db_part.sum(0)
        else:
            h_init = h0c if has_init else torch.zeros(B, NH, DH, device=dev)
            h_prev = torch.cat([h_init[:, None], hs[:, :-1]], dim=1)  # (B, S, NH, DH)
            dR = torch.einsum("bshd,bsghe->hdge", h_prev, dx)
            db = dx.sum((0, 1))
        grads = [dx.to(x_dt), dR.to(R_dt), db.to(b_dt)]
        if has_init:
            grads += [g.to(dt) for g, dt in zip((dh0, dc0, dn0, dm0), init_dts, strict=False)]
        else:
            grads += [None] * 4
        return (*grads, None)


def unsupported_reason(dtype: torch.dtype, head_dim: int, compiled: bool) -> str | None:
    """Why the fused sLSTM cannot run this case, or ``None`` if it can.

    Every dtype (fp32, fp16, bf16; others run in fp32) and head dim is supported: fp32 with
    DH > 64, which used to exceed shared memory, streams R in column blocks (see
    :func:`_k_chunk`). Kept as the dispatch hook for ``backend="auto"``.
    """
    del dtype, head_dim, compiled
    return None


def slstm_sequence(x_gates, R, b, initial_state=None, *, _resident=None):
    """Fused sLSTM over a sequence (one kernel launch each way).

    Args:
        x_gates: ``(B, S, 4, NH, DH)`` input pre-activations, gate order (i, f, z, o).
        R: ``(NH, DH, 4, DH)`` recurrent weights (``pre[g, e] += sum_d h[d] R[d, g, e]``).
        b: ``(4, NH, DH)`` biases.
        initial_state: ``(h, c, n, m)`` each ``(B, NH, DH)`` or ``None`` (empty state, m = -inf).

    Returns:
        ``h (B, S, NH, DH)`` in the dtype of x_gates and the final state ``(h, c, n, m)`` (fp32).
    """
    if x_gates.dim() != 5 or x_gates.shape[2] != 4:
        raise ValueError(f"x_gates must be (B, S, 4, NH, DH); got {tuple(x_gates.shape)}")
    B, S, _, NH, DH = x_gates.shape
    if R.shape != (NH, DH, 4, DH):
        raise ValueError(f"R must be (NH, DH, 4, DH) = {(NH, DH, 4, DH)}; got {tuple(R.shape)}")
    if b.shape != (4, NH, DH):
        raise ValueError(f"b must be (4, NH, DH) = {(4, NH, DH)}; got {tuple(b.shape)}")
    check_device(x_gates, R, b)
    resident = DH <= RESIDENT_MAX_DH if _resident is None else bool(_resident)
    if initial_state is not None:
        h0, c0, n0, m0 = initial_state
        for s in (h0, c0, n0, m0):
            if s.shape != (B, NH, DH):
                raise ValueError(f"initial_state tensors must be (B, NH, DH) = {(B, NH, DH)}")
    else:
        h0 = c0 = n0 = m0 = None
    if S == 0:
        dev = x_gates.device
        if h0 is None:
            z = torch.zeros(B, NH, DH, device=dev)
            state = (z, z.clone(), z.clone(), torch.full_like(z, float("-inf")))
        else:
            state = tuple(s.float() for s in (h0, c0, n0, m0))
        return x_gates.new_zeros(B, 0, NH, DH), state
    y, hT, cT, nT, mT = SLSTMFusedFn.apply(x_gates, R, b, h0, c0, n0, m0, resident)
    return y, (hT, cT, nT, mT)

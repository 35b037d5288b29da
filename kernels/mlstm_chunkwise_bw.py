"""Chunkwise mLSTM, backward kernels (exact gradients).

With every stabiliser held fixed, the cell is linear attention with the augmented value
``v' = [v, 1]`` (the extra column is the normaliser ``den``), so ``dnum' = [dh / N, dden]``
with ``N = max(|den|, exp(-m)) + eps`` and ``dden = -sign(den) (dh . h) / N`` where ``|den|``
wins the max (else 0). The kernels compute that linear-attention gradient chunkwise:

- :func:`_bw_rows_kernel`: the per-row scalars ``delta = dh . h``, ``1 / N``, ``dden`` and the
  stabiliser's ``dm``, in one pass over ``dh`` and ``h`` (fp32 accumulation, no fp32 copies).
- :func:`_bw_dstates_kernel`: reverse recurrence of the state gradient ``dC' = [dC, dn]`` over
  chunks, starting from the gradient of the returned final state; entry c is the gradient of
  the state entering chunk c (entry 0 is the gradient of the initial state).
- :func:`_bw_dqdk_kernel` / :func:`_bw_dv_kernel`: per chunk, the intra-chunk parallel part plus
  the carried-state part of dq, dk / dv; the first also reduces the carried-state part of the
  log-weight gradient to per-step vectors.
- :func:`_bw_dlogw_kernel`: per chunk (in parallel), the log-weight gradient and the
  stabilisers' own gradient (routed to the arg-max of each row, see :mod:`.mlstm_chunkwise`)
  reduced to di and d(logsigmoid f). A kernel of its own: inside the dq/dk kernel these
  ``L x L`` reductions made ptxas spill registers (255 registers and 728 bytes of spill stores
  per thread at Dqk = Dv = 64, bf16, sm_90).
- :func:`_bw_gates_kernel`: the stabiliser gradient that crosses chunk boundaries, a light
  sequential pass over the chunks (O(L) per chunk).
"""

from __future__ import annotations

import triton
import triton.language as tl

from ._utils import mm
from .mlstm_chunkwise_fw import chunk_decay, chunk_gates


@triton.jit
def _bw_rows_kernel(
    dh_ptr, h_ptr, den_ptr, m_ptr, invN_ptr, dden_ptr, dmh_ptr, S, Sp, DV, eps,
    BS: tl.constexpr, BD: tl.constexpr,
):
    """grid (cdiv(Sp, BS), BH): per output row t, ``delta_t = dh_t . h_t`` (fp32; 0 on padded
    rows t >= S), ``invN_t = 1 / (max(|den_t|, exp(-m_t)) + eps)``, ``dden_t = -sign(den_t)
    delta_t invN_t`` where ``|den_t|`` wins the max (else 0) and ``dmh_t = -eps delta_t invN_t``.

    One kernel instead of the dozen torch ops it replaces: those materialised fp32 copies of dh
    and h (``B H S Dv`` each, 7% of the backward at Dv = 512) and were launch-bound at Dv = 64.
    """
    sb = tl.program_id(0)
    bh = tl.program_id(1).to(tl.int64)
    rows = sb * BS + tl.arange(0, BS)
    in_seq = rows < S
    delta = tl.zeros([BS], dtype=tl.float32)
    for d0 in range(0, DV, BD):
        cols = d0 + tl.arange(0, BD)
        msk = in_seq[:, None] & (cols[None, :] < DV)
        off = bh * S * DV + rows[:, None] * DV + cols[None, :]
        a = tl.load(dh_ptr + off, mask=msk, other=0.0).to(tl.float32)
        b = tl.load(h_ptr + off, mask=msk, other=0.0).to(tl.float32)
        delta += tl.sum(a * b, axis=1)
    in_pad = rows < Sp
    g = bh * Sp + rows
    den = tl.load(den_ptr + g, mask=in_pad, other=1.0)
    e = tl.exp(-tl.load(m_ptr + g, mask=in_pad, other=0.0))
    aden = tl.abs(den)
    inv = 1.0 / (tl.maximum(aden, e) + eps)
    sgn = tl.where(den > 0, 1.0, tl.where(den < 0, -1.0, 0.0))
    tl.store(invN_ptr + g, inv, mask=in_pad)
    tl.store(dden_ptr + g, tl.where(aden > e, -sgn * delta * inv, 0.0), mask=in_pad)
    tl.store(dmh_ptr + g, -eps * delta * inv, mask=in_pad)


@triton.jit
def _bw_dstates_kernel(
    q_ptr, dh_ptr, lf_ptr, ig_ptr, ms_ptr, mrow_ptr, invN_ptr, dden_ptr, dCS_ptr, dnS_ptr,
    dCs_ptr, dns_ptr, dC0_ptr,
    S, NC,
    DQK: tl.constexpr, DV: tl.constexpr, L: tl.constexpr, BK: tl.constexpr, BV: tl.constexpr,
    HAS_DSTATE: tl.constexpr, HALF: tl.constexpr,
):
    """grid (DQK tiles, DV tiles, BH):
    ``dC'_c = exp(g_c + m_c - m_{c+1}) dC'_{c+1} + sum_t exp(b_t + m_c - m_t) q_t dnum'_t^T``.

    Entries 1..NC of ``dCs`` in its dtype (the input dtype for half inputs: the matmuls that read
    them take that dtype), entry 0 (the initial state's gradient) in fp32 to ``dC0``."""
    pk = tl.program_id(0)
    pv = tl.program_id(1)
    bh = tl.program_id(2).to(tl.int64)
    DT = q_ptr.dtype.element_ty
    r = tl.arange(0, L)
    dk = pk * BK + tl.arange(0, BK)
    dv = pv * BV + tl.arange(0, BV)
    mk = dk < DQK
    mv = dv < DV
    cmask = mk[:, None] & mv[None, :]
    c_off = dk[:, None] * DV + dv[None, :]
    if HAS_DSTATE:
        dC = tl.load(dCS_ptr + bh * DQK * DV + c_off, mask=cmask, other=0.0).to(tl.float32)
        dn = tl.load(dnS_ptr + bh * DQK + dk, mask=mk, other=0.0).to(tl.float32)
    else:
        dC = tl.zeros((BK, BV), dtype=tl.float32)
        dn = tl.zeros((BK,), dtype=tl.float32)
    Sp = NC * L
    for cc in range(NC):
        c = NC - 1 - cc
        sbase = bh * (NC + 1) + c + 1
        tl.store(dCs_ptr + sbase * DQK * DV + c_off, dC.to(dCs_ptr.dtype.element_ty), mask=cmask)
        if pv == 0:
            tl.store(dns_ptr + sbase * DQK + dk, dn, mask=mk)
        b, a, g = chunk_decay(lf_ptr, ig_ptr, bh * Sp + c * L, L)
        m_c = tl.load(ms_ptr + sbase - 1)
        m_next = tl.load(ms_ptr + sbase)
        gb = bh * Sp + c * L + r
        m_row = tl.load(mrow_ptr + gb)
        invN = tl.load(invN_ptr + gb)
        dden = tl.load(dden_ptr + gb)
        e = tl.exp(b + m_c - m_row)
        t = c * L + r
        mt = t < S
        qt = tl.load(q_ptr + (bh * S + t[:, None]) * DQK + dk[None, :], mask=mt[:, None] & mk[None, :],
                     other=0.0).to(tl.float32)
        dht = tl.load(dh_ptr + (bh * S + t[:, None]) * DV + dv[None, :], mask=mt[:, None] & mv[None, :],
                      other=0.0).to(tl.float32)
        qe = qt * e[:, None]
        decay = tl.exp(g + m_c - m_next)
        dC = decay * dC + mm(tl.trans(qe), dht * invN[:, None], HALF, DT)
        dn = decay * dn + tl.sum(qe * dden[:, None], axis=0)
    sbase = bh * (NC + 1)
    tl.store(dC0_ptr + bh * DQK * DV + c_off, dC, mask=cmask)
    if pv == 0:
        tl.store(dns_ptr + sbase * DQK + dk, dn, mask=mk)


@triton.jit
def _bw_dqdk_kernel(
    q_ptr, k_ptr, v_ptr, dh_ptr, lf_ptr, ig_ptr, Cs_ptr, ns_ptr, ms_ptr, dCs_ptr, dns_ptr,
    mrow_ptr, invN_ptr, dden_ptr, dq_ptr, dk_ptr, xpart_ptr, ypart_ptr, zpart_ptr,
    S, NC, scale,
    DQK: tl.constexpr, DV: tl.constexpr, L: tl.constexpr, BK: tl.constexpr, BV: tl.constexpr,
    HALF: tl.constexpr,
):
    """grid (DQK tiles, NC, BH): dq and dk of one chunk for one DQK tile.

    Also accumulates (atomically over DQK tiles) this tile's share of the log-weight gradient of
    the pairs that involve a carried state (stabilisers fixed), per step: ``xpart`` (row t, pairs
    (t, s before the chunk)), ``ypart`` (column s, pairs (t after the chunk, s)) and
    ``zpart = <C'_c, dC'_{c+1}>`` (pairs that jump the chunk). :func:`_bw_dlogw_kernel` turns
    them into the gate-gradient sums.
    """
    pk = tl.program_id(0)
    c = tl.program_id(1)
    bh = tl.program_id(2).to(tl.int64)
    DT = q_ptr.dtype.element_ty
    r = tl.arange(0, L)
    t = c * L + r
    mt = t < S
    dk_ = pk * BK + tl.arange(0, BK)
    mk = dk_ < DQK
    Sp = NC * L
    sbase = bh * (NC + 1) + c
    gb = bh * Sp + c * L + r

    invN = tl.load(invN_ptr + gb)

    dP = tl.zeros((L, L), dtype=tl.float32)
    dq_inter = tl.zeros((L, BK), dtype=tl.float32)
    dk_inter = tl.zeros((L, BK), dtype=tl.float32)
    z = tl.zeros((BK,), dtype=tl.float32)
    for vb in range(0, DV, BV):
        dv = vb + tl.arange(0, BV)
        mv = dv < DV
        vm = mt[:, None] & mv[None, :]
        dnum = tl.load(dh_ptr + (bh * S + t[:, None]) * DV + dv[None, :], mask=vm, other=0.0).to(tl.float32)
        dnum = dnum * invN[:, None]
        vt = tl.load(v_ptr + (bh * S + t[:, None]) * DV + dv[None, :], mask=vm, other=0.0).to(tl.float32)
        dP += mm(dnum, tl.trans(vt), HALF, DT)
        cm = mk[:, None] & mv[None, :]
        c_off = dk_[:, None] * DV + dv[None, :]
        Cc = tl.load(Cs_ptr + sbase * DQK * DV + c_off, mask=cm, other=0.0).to(tl.float32)
        dq_inter += mm(dnum, tl.trans(Cc), HALF, DT)
        dCn = tl.load(dCs_ptr + (sbase + 1) * DQK * DV + c_off, mask=cm, other=0.0).to(tl.float32)
        dk_inter += mm(vt, tl.trans(dCn), HALF, DT)
        z += tl.sum(Cc * dCn, axis=1)
    # The gates only after the loop over DV: fewer L x L tiles live across it (register
    # pressure; ptxas reported spills when the logits and W were held through the loop).
    b, logits, a, g = chunk_gates(lf_ptr, ig_ptr, bh * Sp + c * L, L)
    m_c = tl.load(ms_ptr + sbase)
    m_next = tl.load(ms_ptr + sbase + 1)
    m_row = tl.load(mrow_ptr + gb)
    dden = tl.load(dden_ptr + gb)
    W = tl.exp(logits - m_row[:, None])
    e = tl.exp(b + m_c - m_row)
    e2 = tl.exp(a - m_next)
    dPp = dP + dden[:, None]
    G = W * dPp
    qm = mt[:, None] & mk[None, :]
    qt = tl.load(q_ptr + (bh * S + t[:, None]) * DQK + dk_[None, :], mask=qm, other=0.0).to(tl.float32)
    ks = tl.load(k_ptr + (bh * S + t[:, None]) * DQK + dk_[None, :], mask=qm, other=0.0).to(tl.float32) * scale
    nc = tl.load(ns_ptr + sbase * DQK + dk_, mask=mk, other=0.0)
    dnn = tl.load(dns_ptr + (sbase + 1) * DQK + dk_, mask=mk, other=0.0)
    dq_i = dq_inter + dden[:, None] * nc[None, :]
    dk_i = dk_inter + dnn[None, :]
    dq = mm(G, ks, HALF, DT) + e[:, None] * dq_i
    dks = mm(tl.trans(G), qt, HALF, DT) + e2[:, None] * dk_i
    tl.store(dq_ptr + (bh * S + t[:, None]) * DQK + dk_[None, :], dq.to(dq_ptr.dtype.element_ty), mask=qm)
    tl.store(dk_ptr + (bh * S + t[:, None]) * DQK + dk_[None, :], (dks * scale).to(dk_ptr.dtype.element_ty),
             mask=qm)

    # This tile's share of the row sums the gate gradients need from the carried states
    # (reduced to sums by _bw_dlogw_kernel; kept out of here, as L x L work spills registers).
    tl.atomic_add(xpart_ptr + gb, e * tl.sum(qt * dq_i, axis=1))  # row t: pairs (t, s before the chunk)
    tl.atomic_add(ypart_ptr + gb, e2 * tl.sum(ks * dk_i, axis=1))  # column s: pairs (t after the chunk, s)
    tl.atomic_add(zpart_ptr + bh * NC + c, tl.sum(z + nc * dnn, axis=0))


@triton.jit
def _bw_dv_kernel(
    q_ptr, k_ptr, dh_ptr, lf_ptr, ig_ptr, ms_ptr, dCs_ptr, mrow_ptr, invN_ptr, dv_ptr,
    S, NC, scale,
    DQK: tl.constexpr, DV: tl.constexpr, L: tl.constexpr, BK: tl.constexpr, BV: tl.constexpr,
    HALF: tl.constexpr,
):
    """grid (DV tiles, NC, BH): ``dv_s = sum_t W[t,s] (q_t k_s) dnum_t + exp(a_s - m_{c+1}) dC_{c+1}^T k_s``."""
    pv = tl.program_id(0)
    c = tl.program_id(1)
    bh = tl.program_id(2).to(tl.int64)
    DT = q_ptr.dtype.element_ty
    r = tl.arange(0, L)
    t = c * L + r
    mt = t < S
    dv = pv * BV + tl.arange(0, BV)
    mv = dv < DV
    Sp = NC * L
    sbase = bh * (NC + 1) + c
    gb = bh * Sp + c * L + r

    b, logits, a, g = chunk_gates(lf_ptr, ig_ptr, bh * Sp + c * L, L)
    m_next = tl.load(ms_ptr + sbase + 1)
    m_row = tl.load(mrow_ptr + gb)
    invN = tl.load(invN_ptr + gb)
    W = tl.exp(logits - m_row[:, None])
    e2 = tl.exp(a - m_next)

    qk = tl.zeros((L, L), dtype=tl.float32)
    dv_inter = tl.zeros((L, BV), dtype=tl.float32)
    for kb in range(0, DQK, BK):
        dk_ = kb + tl.arange(0, BK)
        mk = dk_ < DQK
        qm = mt[:, None] & mk[None, :]
        qt = tl.load(q_ptr + (bh * S + t[:, None]) * DQK + dk_[None, :], mask=qm, other=0.0).to(tl.float32)
        ks = tl.load(k_ptr + (bh * S + t[:, None]) * DQK + dk_[None, :], mask=qm, other=0.0).to(tl.float32) * scale
        qk += mm(qt, tl.trans(ks), HALF, DT)
        dCn = tl.load(dCs_ptr + (sbase + 1) * DQK * DV + dk_[:, None] * DV + dv[None, :],
                      mask=mk[:, None] & mv[None, :], other=0.0).to(tl.float32)
        dv_inter += mm(ks, dCn, HALF, DT)
    vm = mt[:, None] & mv[None, :]
    dnum = tl.load(dh_ptr + (bh * S + t[:, None]) * DV + dv[None, :], mask=vm, other=0.0).to(tl.float32)
    dnum = dnum * invN[:, None]
    dvt = mm(tl.trans(W * qk), dnum, HALF, DT) + e2[:, None] * dv_inter
    tl.store(dv_ptr + (bh * S + t[:, None]) * DV + dv[None, :], dvt.to(dv_ptr.dtype.element_ty), mask=vm)


@triton.jit
def _bw_dlogw_kernel(
    q_ptr, k_ptr, v_ptr, dh_ptr, lf_ptr, ig_ptr, ms_ptr, mrow_ptr, invN_ptr, dden_ptr, dmh_ptr,
    xpart_ptr, ypart_ptr, zpart_ptr, di_ptr, fbar_ptr, carry_ptr, aarg_ptr, smx_ptr,
    S, NC, scale,
    DQK: tl.constexpr, DV: tl.constexpr, L: tl.constexpr, BK: tl.constexpr, BV: tl.constexpr,
    HALF: tl.constexpr,
):
    """grid (NC, BH): the gate gradients of one chunk, except what crosses its end boundary.

    1. The log-weight gradient with fixed stabilisers, ``G[t, s] = W[t, s] (q_t . k_s)
       (dnum'_t . v'_s)`` for the pairs inside the chunk, plus the carried-state pairs of
       :func:`_bw_dqdk_kernel` (``xpart``, ``ypart``, ``zpart``).
    2. The stabilisers' own gradient ``dmh`` of the chunk's rows, routed to each row's arg-max:
       an entry inside the chunk, or the carried state (the pair (t, before the chunk)), whose
       gradient ``smx`` goes on to the boundary stabiliser m_c.
    An entry (t, s) adds to ``di_s`` and to ``fbar_r`` (= dL/d lf_r) for ``s < r <= t``: summing
    only such straddling pairs avoids the cancellation of ``sum_t (q . dq - k . dk)``.
    The gradient arriving at the end boundary m_{c+1} is routed by :func:`_bw_gates_kernel`,
    which needs this chunk's ``carry`` (whether m_{c+1} came from the carried state) and
    ``aarg`` (else its arg-max step).
    """
    c = tl.program_id(0)
    bh = tl.program_id(1).to(tl.int64)
    DT = q_ptr.dtype.element_ty
    r = tl.arange(0, L)
    t = c * L + r
    mt = t < S
    Sp = NC * L
    gb = bh * Sp + c * L + r
    invN = tl.load(invN_ptr + gb)

    qk = tl.zeros((L, L), dtype=tl.float32)
    for kb in range(0, DQK, BK):
        dk_ = kb + tl.arange(0, BK)
        qm = mt[:, None] & (dk_ < DQK)[None, :]
        qt = tl.load(q_ptr + (bh * S + t[:, None]) * DQK + dk_[None, :], mask=qm, other=0.0).to(tl.float32)
        kt = tl.load(k_ptr + (bh * S + t[:, None]) * DQK + dk_[None, :], mask=qm, other=0.0).to(tl.float32)
        qk += mm(qt, tl.trans(kt), HALF, DT)
    dP = tl.zeros((L, L), dtype=tl.float32)
    for vb in range(0, DV, BV):
        dv = vb + tl.arange(0, BV)
        vm = mt[:, None] & (dv < DV)[None, :]
        dnum = tl.load(dh_ptr + (bh * S + t[:, None]) * DV + dv[None, :], mask=vm, other=0.0).to(tl.float32)
        vt = tl.load(v_ptr + (bh * S + t[:, None]) * DV + dv[None, :], mask=vm, other=0.0).to(tl.float32)
        dP += mm(dnum * invN[:, None], tl.trans(vt), HALF, DT)
    b, logits, a, g = chunk_gates(lf_ptr, ig_ptr, bh * Sp + c * L, L)
    m_c = tl.load(ms_ptr + bh * (NC + 1) + c)
    m_next = tl.load(ms_ptr + bh * (NC + 1) + c + 1)
    m_row = tl.load(mrow_ptr + gb)
    dden = tl.load(dden_ptr + gb)
    # 1. G[t, s] * (q_t . k_s); zero above the diagonal (W is 0 there)
    Gl = tl.exp(logits - m_row[:, None]) * (dP + dden[:, None]) * (qk * scale)
    # 2. stabiliser routing: m_t = max(b_t + m_c, max_s logits[t, s])
    dmh = tl.load(dmh_ptr + gb)
    inter_win = (b + m_c) >= tl.max(logits, axis=1)
    dmx = tl.where(inter_win, dmh, 0.0)  # entry (t, before the chunk)
    dmi = tl.where(inter_win, 0.0, dmh)  # entry (t, intra_arg[t])
    intra_arg = tl.argmax(logits, axis=1)
    Gl += tl.where(intra_arg[:, None] == r[None, :], dmi[:, None], 0.0)
    X = tl.load(xpart_ptr + gb) + dmx  # row t: pairs (t, s before the chunk)
    Y = tl.load(ypart_ptr + gb)  # column s: pairs (t after the chunk, s)
    tl.store(di_ptr + gb, tl.sum(Gl, axis=0) + Y)
    # sum_{t >= r} sum_{s < r} G[t, s]: P[t, j] = sum_{s <= j} G[t, s]; Q[j] = sum_{t > j} P[t, j];
    # the wanted sum at r is Q[r - 1]. Neither touches the diagonal, which can dwarf the
    # straddling pairs when forget gates are nearly closed (no exclusive sum by subtraction).
    P = tl.cumsum(Gl, axis=1)
    Q = tl.sum(tl.where(r[:, None] > r[None, :], P, 0.0), axis=0)
    corner = tl.sum(tl.where(r[:, None] == r[None, :] - 1, Q[:, None], 0.0), axis=0)
    fx = tl.cumsum(X, axis=0, reverse=True)  # sum_{t >= r} X_t
    # sum_{s < r} Y_s, not as an inclusive sum minus Y_r (Y_r can dwarf the earlier terms)
    fy = tl.sum(tl.where(r[:, None] < r[None, :], Y[:, None], 0.0), axis=0)
    z = tl.exp(g + m_c - m_next) * tl.load(zpart_ptr + bh * NC + c)  # pairs (after, before the chunk)
    tl.store(fbar_ptr + gb, corner + fx + fy + z)
    # the end boundary m_{c+1} = max(g + m_c, max_s a_s)
    tl.store(carry_ptr + bh * NC + c, ((g + m_c) >= tl.max(a, axis=0)).to(tl.float32))
    tl.store(aarg_ptr + bh * NC + c, tl.argmax(a, axis=0).to(tl.int32))
    tl.store(smx_ptr + bh * NC + c, tl.sum(dmx, axis=0))


@triton.jit
def _bw_gates_kernel(
    carry_ptr, aarg_ptr, smx_ptr, dMS_ptr, di_ptr, fbar_ptr, dM0_ptr, NC, L: tl.constexpr,
):
    """grid (BH,): the stabiliser gradient that crosses chunk boundaries, from the last chunk to
    the first (O(L) work per chunk; the ``L x L`` work is :func:`_bw_dlogw_kernel`'s).

    ``dM`` is the gradient of the boundary stabiliser m_{c+1} (``dM_S`` of the returned state
    for the last chunk), which belongs to the arg-max entry of a later row: when the carried
    state won (``carry``), the pair (later row, before chunk c) straddles every step of the
    chunk and dM passes on to m_c together with the chunk's own ``smx``; else the pair
    (later row, ``aarg``) straddles the steps after aarg and adds to its input gate. What
    reaches m_0 is ``dM0``.
    """
    bh = tl.program_id(0).to(tl.int64)
    r = tl.arange(0, L)
    Sp = NC * L
    dM = tl.load(dMS_ptr + bh)
    for cc in range(NC):
        c = NC - 1 - cc
        gb = bh * Sp + c * L + r
        carry = tl.load(carry_ptr + bh * NC + c) > 0.5
        a_arg = tl.load(aarg_ptr + bh * NC + c)
        dM_a = tl.where(carry, 0.0, dM)  # entry (later row, a_arg)
        dM_z = tl.where(carry, dM, 0.0)  # entry (later row, before the chunk)
        tl.store(di_ptr + gb, tl.load(di_ptr + gb) + tl.where(r == a_arg, dM_a, 0.0))
        tl.store(fbar_ptr + gb, tl.load(fbar_ptr + gb) + tl.where(r > a_arg, dM_a, 0.0) + dM_z)
        dM = dM_z + tl.load(smx_ptr + bh * NC + c)
    tl.store(dM0_ptr + bh, dM)

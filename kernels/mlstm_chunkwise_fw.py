"""Chunkwise mLSTM, forward kernels.

Layouts (prepared by :mod:`.mlstm_chunkwise`): q, k ``(BH, S, DQK)``, v, h ``(BH, S, DV)``
contiguous in the input dtype; per-step gate arrays ``lf = logsigmoid(f)`` and ``ig = i`` as
fp32 ``(BH, NC * L)``, right-padded with ``lf = 0, ig = -1e30`` (padded steps leave the state
unchanged); chunk-boundary states ``Cs (BH, NC + 1, DQK, DV)``, ``ns (BH, NC + 1, DQK)``,
``ms (BH, NC + 1)`` in fp32 (entry c = the state entering chunk c, entry NC = final state).

Within a chunk, local log-forget sums are formed as segment sums: ``D[t, s] = sum_{s<r<=t} lf_r``
is the column-wise cumsum of a masked ``L x L`` matrix, so it carries only the rounding of the
segment itself (no cancellation in ``b_t - b_s`` of two large prefix sums).
"""

from __future__ import annotations

import triton
import triton.language as tl

from ._utils import mm


@triton.jit
def chunk_gates(lf_ptr, ig_ptr, gbase, L: tl.constexpr):
    """Gate bookkeeping of one chunk (all fp32, length L).

    Returns ``b`` (inclusive prefix sums of lf), ``logits[t, s] = D[t, s] + ig[s]`` for s <= t
    (-inf above the diagonal), ``a[s] = sum_{r>s} lf_r + ig[s]`` (log weight of step s in the
    state at the chunk end) and ``g = sum lf`` (log decay over the whole chunk).
    """
    r = tl.arange(0, L)
    lf = tl.load(lf_ptr + gbase + r)
    ig = tl.load(ig_ptr + gbase + r)
    b = tl.cumsum(lf, axis=0)
    X = tl.where(r[:, None] > r[None, :], lf[:, None], 0.0)  # X[r, s] = lf_r [r > s]
    D = tl.cumsum(X, axis=0)  # D[t, s] = sum_{s < r <= t} lf_r
    logits = tl.where(r[None, :] <= r[:, None], D + ig[None, :], float("-inf"))
    a = tl.sum(X, axis=0) + ig
    g = tl.sum(lf, axis=0)
    return b, logits, a, g


@triton.jit
def chunk_decay(lf_ptr, ig_ptr, gbase, L: tl.constexpr):
    """The vectors of :func:`chunk_gates` without the ``L x L`` logits (for the state kernels):
    ``b`` (inclusive prefix sums of lf), ``a[s] = sum_{r>s} lf_r + ig[s]`` (a suffix sum of the
    steps after s, loaded shifted by one, so no large sum is subtracted) and ``g = sum lf``."""
    r = tl.arange(0, L)
    lf = tl.load(lf_ptr + gbase + r)
    lf_after = tl.load(lf_ptr + gbase + r + 1, mask=r + 1 < L, other=0.0)  # lf_{s+1}
    ig = tl.load(ig_ptr + gbase + r)
    b = tl.cumsum(lf, axis=0)
    a = tl.cumsum(lf_after, axis=0, reverse=True) + ig
    g = tl.sum(lf, axis=0)
    return b, a, g


@triton.jit
def _fw_states_kernel(
    k_ptr, v_ptr, lf_ptr, ig_ptr, C0_ptr, n0_ptr, m0_ptr, Cs_ptr, ns_ptr, ms_ptr, CT_ptr,
    S, NC, scale,
    DQK: tl.constexpr, DV: tl.constexpr, L: tl.constexpr, BK: tl.constexpr, BV: tl.constexpr,
    HAS_INIT: tl.constexpr, HALF: tl.constexpr,
):
    """Inter-chunk recurrence; grid (DQK tiles, DV tiles, BH).

    Stores the state entering every chunk (C in the dtype of ``Cs``: the input dtype for half
    inputs, since the intra-chunk matmuls take it in that dtype anyway; n and m in fp32) and the
    final state (C in fp32 to ``CT``, n and m at entry NC). The recurrence itself runs in fp32.
    """
    pk = tl.program_id(0)
    pv = tl.program_id(1)
    bh = tl.program_id(2).to(tl.int64)
    DT = k_ptr.dtype.element_ty
    r = tl.arange(0, L)
    dk = pk * BK + tl.arange(0, BK)
    dv = pv * BV + tl.arange(0, BV)
    mk = dk < DQK
    mv = dv < DV
    cmask = mk[:, None] & mv[None, :]
    c_off = dk[:, None] * DV + dv[None, :]
    if HAS_INIT:
        C = tl.load(C0_ptr + bh * DQK * DV + c_off, mask=cmask, other=0.0).to(tl.float32)
        n = tl.load(n0_ptr + bh * DQK + dk, mask=mk, other=0.0).to(tl.float32)
        m = tl.load(m0_ptr + bh).to(tl.float32)
    else:
        C = tl.zeros((BK, BV), dtype=tl.float32)
        n = tl.zeros((BK,), dtype=tl.float32)
        m = tl.sum(tl.zeros((L,), dtype=tl.float32), axis=0)  # m_0 = 0 for the zero state
    Sp = NC * L
    for c in range(NC):
        sbase = bh * (NC + 1) + c
        tl.store(Cs_ptr + sbase * DQK * DV + c_off, C.to(Cs_ptr.dtype.element_ty), mask=cmask)
        if pv == 0:
            tl.store(ns_ptr + sbase * DQK + dk, n, mask=mk)
            if pk == 0:
                tl.store(ms_ptr + sbase, m)
        b, a, g = chunk_decay(lf_ptr, ig_ptr, bh * Sp + c * L, L)
        m_new = tl.maximum(g + m, tl.max(a, axis=0))
        decay = tl.exp(g + m - m_new)
        w = tl.exp(a - m_new)
        t = c * L + r
        mt = t < S
        kt = tl.load(k_ptr + (bh * S + t[:, None]) * DQK + dk[None, :], mask=mt[:, None] & mk[None, :],
                     other=0.0).to(tl.float32)
        vt = tl.load(v_ptr + (bh * S + t[:, None]) * DV + dv[None, :], mask=mt[:, None] & mv[None, :],
                     other=0.0).to(tl.float32)
        kw = kt * (scale * w)[:, None]
        C = decay * C + mm(tl.trans(kw), vt, HALF, DT)
        n = decay * n + tl.sum(kw, axis=0)
        m = m_new
    sbase = bh * (NC + 1) + NC
    tl.store(CT_ptr + bh * DQK * DV + c_off, C, mask=cmask)
    if pv == 0:
        tl.store(ns_ptr + sbase * DQK + dk, n, mask=mk)
        if pk == 0:
            tl.store(ms_ptr + sbase, m)


@triton.jit
def _fw_intra_kernel(
    q_ptr, k_ptr, v_ptr, lf_ptr, ig_ptr, Cs_ptr, ns_ptr, ms_ptr, h_ptr, mrow_ptr, den_ptr,
    S, NC, scale, eps,
    DQK: tl.constexpr, DV: tl.constexpr, L: tl.constexpr, BK: tl.constexpr, BV: tl.constexpr,
    HALF: tl.constexpr,
):
    """Outputs of one chunk for one DV tile; grid (DV tiles, NC, BH).

    Row t of chunk c: stabiliser m_t = max(b_t + m_c, max_s logits[t, s]) (the global row max
    of the parallel form), ``num = e_t q_t C_c + sum_s W[t, s] (q_t k_s) v_s``,
    ``den = e_t q_t n_c + sum_s W[t, s] (q_t k_s)``, ``h = num / (max(|den|, exp(-m_t)) + eps)``
    with ``e_t = exp(b_t + m_c - m_t)``, ``W = exp(logits - m_t)``. m_t and den are stored for
    the backward.
    """
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

    b, logits, a, g = chunk_gates(lf_ptr, ig_ptr, bh * Sp + c * L, L)
    m_c = tl.load(ms_ptr + sbase)
    inter = b + m_c
    m_row = tl.maximum(inter, tl.max(logits, axis=1))
    W = tl.exp(logits - m_row[:, None])
    e = tl.exp(inter - m_row)

    qk = tl.zeros((L, L), dtype=tl.float32)
    num_inter = tl.zeros((L, BV), dtype=tl.float32)
    qn = tl.zeros((L,), dtype=tl.float32)
    for kb in range(0, DQK, BK):
        dk = kb + tl.arange(0, BK)
        mk = dk < DQK
        qm = mt[:, None] & mk[None, :]
        qt = tl.load(q_ptr + (bh * S + t[:, None]) * DQK + dk[None, :], mask=qm, other=0.0).to(tl.float32)
        kt = tl.load(k_ptr + (bh * S + t[:, None]) * DQK + dk[None, :], mask=qm, other=0.0).to(tl.float32)
        qk += mm(qt, tl.trans(kt * scale), HALF, DT)
        Cc = tl.load(Cs_ptr + sbase * DQK * DV + dk[:, None] * DV + dv[None, :],
                     mask=mk[:, None] & mv[None, :], other=0.0).to(tl.float32)
        num_inter += mm(qt, Cc, HALF, DT)
        nc = tl.load(ns_ptr + sbase * DQK + dk, mask=mk, other=0.0)
        qn += tl.sum(qt * nc[None, :], axis=1)
    # Causal also for non-finite inputs: select the masked weights to 0 rather than multiply
    # (exp(-inf) * NaN = NaN would carry a bad key at step s to the chunk's earlier rows).
    P = tl.where(r[None, :] <= r[:, None], W * qk, 0.0)
    den = tl.sum(P, axis=1) + e * qn
    vt = tl.load(v_ptr + (bh * S + t[:, None]) * DV + dv[None, :], mask=mt[:, None] & mv[None, :],
                 other=0.0).to(tl.float32)
    N = tl.maximum(tl.abs(den), tl.exp(-m_row)) + eps
    # The same for values: a non-finite v[s, d] is zeroed for the matmul (0 * NaN in P @ v would
    # reach rows t < s) and h[t, d] is set to NaN for t >= s, as the recurrence gives. Only tiles
    # that hold one take that path: unconditionally it cost 12% of the forward at 256/512 (H200,
    # scripts/bench_fw_intra_variants.py: 6.54 vs 5.82 ms); the count is within noise (5.79 without).
    v_bad = (vt != vt) | (tl.abs(vt) == float("inf"))
    if tl.sum(tl.sum(v_bad.to(tl.int32), axis=1), axis=0) > 0:
        num = mm(P, tl.where(v_bad, 0.0, vt), HALF, DT) + e[:, None] * num_inter
        h = num / N[:, None]
        h = tl.where(tl.cumsum(v_bad.to(tl.int32), axis=0) > 0, float("nan"), h)
    else:
        num = mm(P, vt, HALF, DT) + e[:, None] * num_inter
        h = num / N[:, None]
    tl.store(h_ptr + (bh * S + t[:, None]) * DV + dv[None, :], h.to(h_ptr.dtype.element_ty),
             mask=mt[:, None] & mv[None, :])
    if pv == 0:
        tl.store(mrow_ptr + bh * Sp + t, m_row)
        tl.store(den_ptr + bh * Sp + t, den)

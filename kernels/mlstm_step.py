"""Fused single-token mLSTM step (generation; forward only).

One program per (DV tile, batch x head): it streams the matching ``(DQK, DV-tile)`` slab of C
once, updates it, writes it back and reduces ``q^T C_new`` on the fly. ``n`` (a DQK vector) is
updated redundantly by every DV tile (cheap) and stored by tile 0.
"""

from __future__ import annotations

import math

import torch
import triton
import triton.language as tl

from ._utils import check_device, head_block, logsigmoid


@triton.jit
def _step_kernel(
    q_ptr, k_ptr, v_ptr, i_ptr, f_ptr, C_ptr, n_ptr, m_ptr, h_ptr, Co_ptr, no_ptr, mo_ptr,
    scale, eps,
    DQK: tl.constexpr, DV: tl.constexpr, BK: tl.constexpr, BV: tl.constexpr, HAS_STATE: tl.constexpr,
):
    pv = tl.program_id(0)
    bh = tl.program_id(1).to(tl.int64)
    dv = pv * BV + tl.arange(0, BV)
    mv = dv < DV
    ig = tl.load(i_ptr + bh).to(tl.float32)
    lf = logsigmoid(tl.load(f_ptr + bh).to(tl.float32))
    if HAS_STATE:
        m = tl.load(m_ptr + bh).to(tl.float32)
    else:
        m = lf * 0.0
    m_new = tl.maximum(lf + m, ig)
    fw = tl.exp(lf + m - m_new)
    iw = tl.exp(ig - m_new)
    v = tl.load(v_ptr + bh * DV + dv, mask=mv, other=0.0).to(tl.float32)
    num = tl.zeros((BV,), dtype=tl.float32)
    qn = tl.zeros((BK,), dtype=tl.float32)
    for kb in range(0, DQK, BK):
        dk = kb + tl.arange(0, BK)
        mk = dk < DQK
        q = tl.load(q_ptr + bh * DQK + dk, mask=mk, other=0.0).to(tl.float32)
        k = tl.load(k_ptr + bh * DQK + dk, mask=mk, other=0.0).to(tl.float32) * scale
        cm = mk[:, None] & mv[None, :]
        off = bh * DQK * DV + dk[:, None] * DV + dv[None, :]
        if HAS_STATE:
            C = tl.load(C_ptr + off, mask=cm, other=0.0).to(tl.float32)
            n = tl.load(n_ptr + bh * DQK + dk, mask=mk, other=0.0).to(tl.float32)
        else:
            C = tl.zeros((BK, BV), dtype=tl.float32)
            n = tl.zeros((BK,), dtype=tl.float32)
        C = fw * C + (iw * k)[:, None] * v[None, :]
        n = fw * n + iw * k
        tl.store(Co_ptr + off, C, mask=cm)
        if pv == 0:
            tl.store(no_ptr + bh * DQK + dk, n, mask=mk)
        num += tl.sum(q[:, None] * C, axis=0)
        qn += q * n
    den = tl.sum(qn, axis=0)
    h = num / (tl.maximum(tl.abs(den), tl.exp(-m_new)) + eps)
    tl.store(h_ptr + bh * DV + dv, h.to(h_ptr.dtype.element_ty), mask=mv)
    if pv == 0:
        tl.store(mo_ptr + bh, m_new)


def mlstm_step(q, k, v, i, f, state, eps=1e-6):
    """One mLSTM step: q, k ``(B, H, Dqk)``, v ``(B, H, Dv)``, i, f ``(B, H)``.

    ``state`` is ``(C (B, H, Dqk, Dv), n (B, H, Dqk), m (B, H))`` or ``None`` (zero state).
    Returns ``h (B, H, Dv)`` in the dtype of v and the new fp32 state (new tensors; the input
    state is not modified). Not differentiable (generation).
    """
    if q.dim() != 3 or k.shape != q.shape:
        raise ValueError(f"q and k must be (B, H, Dqk); got {tuple(q.shape)}, {tuple(k.shape)}")
    B, H, DQK = q.shape
    if v.dim() != 3 or v.shape[:2] != (B, H) or i.shape != (B, H) or f.shape != (B, H):
        raise ValueError(
            f"expected v (B, H, Dv), i, f (B, H) for B, H = {B}, {H}; got {tuple(v.shape)}, "
            f"{tuple(i.shape)}, {tuple(f.shape)}"
        )
    check_device(q, k, v, i, f)
    DV = v.shape[-1]
    BH = B * H
    dev = q.device
    BK = head_block(DQK)
    BV = head_block(DV)
    has_state = state is not None
    if has_state:
        C, n, m = state
        if C.shape != (B, H, DQK, DV) or n.shape != (B, H, DQK) or m.numel() != BH:
            raise ValueError(f"state must be C {(B, H, DQK, DV)}, n {(B, H, DQK)}, m {(B, H)}")
        C = C.float().contiguous()
        n = n.float().contiguous()
        m = m.float().reshape(BH).contiguous()
    Co = torch.empty(B, H, DQK, DV, device=dev, dtype=torch.float32)
    no = torch.empty(B, H, DQK, device=dev, dtype=torch.float32)
    mo = torch.empty(B, H, device=dev, dtype=torch.float32)
    h = torch.empty(B, H, DV, device=dev, dtype=v.dtype if v.dtype != torch.float64 else torch.float32)
    with torch.no_grad():
        _step_kernel[(triton.cdiv(DV, BV), BH)](
            q.contiguous(), k.contiguous(), v.contiguous(), i.contiguous(), f.contiguous(),
            C if has_state else Co, n if has_state else no, m if has_state else mo,
            h, Co, no, mo, 1.0 / math.sqrt(DQK), eps,
            DQK=DQK, DV=DV, BK=BK, BV=BV, HAS_STATE=has_state, num_warps=4,
        )
    return h.to(v.dtype), (Co, no, mo)

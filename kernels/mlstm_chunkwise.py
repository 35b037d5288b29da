"""Chunkwise mLSTM with Triton kernels: ``torch.autograd.Function`` and the public entry point.

Forward: (1) inter-chunk recurrence of the stabilised state (every chunk-boundary state is
stored, fp32), (2) per chunk, the intra-chunk parallel part combined with the carried state.

Backward, exact (also through the normaliser ``max(|q . n|, exp(-m))`` and through the
returned final state ``(C, n, m)``). Write every output as a function of the log weights
``l[t, s] = B_t - B_s + i_s`` (``B`` = cumulative log-sigmoid forget gates; ``l[t, 0] = B_t + m_0``
for the initial state) and of the row stabilisers ``m_t = max_s l[t, s]``:

1. With all stabilisers held fixed the cell is linear attention with augmented values
   ``v' = [v, 1]`` (the extra column is ``den``). Per output row, with ``delta_t = dh_t . h_t``
   and ``N_t = max(|den_t|, exp(-m_t)) + eps``: ``dnum_t = dh_t / N_t`` and
   ``dden_t = -sign(den_t) delta_t / N_t`` where ``|den_t|`` wins the max, else 0. dq, dk, dv
   and ``dC_0, dn_0`` follow chunkwise (reverse state-gradient recurrence + intra-chunk part).
2. The stabilisers' own gradient: ``dm_t = -eps delta_t / N_t`` for an output row (in both
   branches of the max) and ``dm_S - <C_S, dC_S> - <n_S, dn_S>`` for the returned state. A
   row maximum passes its gradient to its arg-max entry ``l[t, s*]``; the kernel finds it inside
   the chunk or hands it through the chunk-boundary stabilisers down to ``m_0``.
3. Gate gradients from the log-weight gradient ``G[t, s]`` (step 1 entries plus step 2):
   ``di_s = sum_t G[t, s]`` and ``d logsigmoid(f_r) = sum_{t >= r > s} G[t, s]``, the sum over
   the pairs that straddle r. Summing only straddling pairs (never the diagonal) avoids the
   cancellation of the usual ``sum_{t >= r} (q_t . dq_t - k_t . dk_t)``, which loses all digits
   of df when forget gates are nearly closed. ``dm_0 = <C_0, dC_0> + <n_0, dn_0> + (routed)``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from ._tuning import launcher
from ._utils import HALF_DTYPES, check_device, half_dot, head_block, next_pow2
from .mlstm_chunkwise_bw import (
    _bw_dlogw_kernel,
    _bw_dqdk_kernel,
    _bw_dstates_kernel,
    _bw_dv_kernel,
    _bw_gates_kernel,
    _bw_rows_kernel,
)
from .mlstm_chunkwise_fw import _fw_intra_kernel, _fw_states_kernel

ROWS_BS = 16  # rows per program of _bw_rows_kernel (16 x 64 tiles, 4 warps: 72 registers at sm_90)
PAD_I = -1.0e30  # input-gate pre-activation of padded steps (their weight is exactly 0)


def triton_cdiv(a: int, b: int) -> int:
    return (a + b - 1) // b


def _chunk_len(chunk_size: int, S: int) -> int:
    """Chunk length actually used: a power of two in [16, 128] (the result does not depend on it)."""
    if not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive int; got {chunk_size!r}")
    return max(16, min(next_pow2(chunk_size), 128, next_pow2(S)))


def _kernel_dtype(dtype: torch.dtype) -> torch.dtype:
    return dtype if dtype in HALF_DTYPES or dtype == torch.float32 else torch.float32


def _tiles(DQK: int, DV: int, over: str, BH: int, NC: int | None = None):
    """Grid of a kernel tiled over ``over`` ("kv": Dqk x Dv tiles per BH; "k"/"v": one head dim
    tiles x chunks x BH), as a function of the autotuner's META."""
    if over == "kv":
        return lambda META: (triton_cdiv(DQK, META["BK"]), triton_cdiv(DV, META["BV"]), BH)
    if over == "k":
        return lambda META: (triton_cdiv(DQK, META["BK"]), NC, BH)
    return lambda META: (triton_cdiv(DV, META["BV"]), NC, BH)


def _states(kc, vc, lf, ig, C0, n0, m0, S, NC, L, scale, half):
    """Chunk-boundary states: ``Cs`` (entry c enters chunk c; in the input dtype for half
    inputs), ``ns``, ``ms`` (fp32, entry NC final) and the final C in fp32."""
    BH, _, DQK = kc.shape
    DV = vc.shape[-1]
    dev = kc.device
    Cs = torch.empty(BH, NC + 1, DQK, DV, device=dev, dtype=kc.dtype if half else torch.float32)
    ns = torch.empty(BH, NC + 1, DQK, device=dev, dtype=torch.float32)
    ms = torch.empty(BH, NC + 1, device=dev, dtype=torch.float32)
    CT = torch.empty(BH, DQK, DV, device=dev, dtype=torch.float32)
    has_init = C0 is not None
    launcher(_fw_states_kernel, "fw_states", DQK, DV)[_tiles(DQK, DV, "kv", BH)](
        kc, vc, lf, ig, C0 if has_init else CT, n0 if has_init else ns, m0 if has_init else ms,
        Cs, ns, ms, CT, S, NC, scale,
        DQK=DQK, DV=DV, L=L, HAS_INIT=has_init, HALF=half,
    )
    return Cs, ns, ms, CT


class MLSTMChunkwiseFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, v, i, f, C0, n0, m0, chunk_size, eps):
        B, H, S, DQK = q.shape
        DV = v.shape[-1]
        BH = B * H
        kd = _kernel_dtype(q.dtype)
        L = _chunk_len(chunk_size, S)
        NC = triton_cdiv(S, L)
        Sp = NC * L
        scale = 1.0 / math.sqrt(DQK)
        half = half_dot(kd)

        qc = q.to(kd).reshape(BH, S, DQK).contiguous()
        kc = k.to(kd).reshape(BH, S, DQK).contiguous()
        vc = v.to(kd).reshape(BH, S, DV).contiguous()
        lf = F.pad(F.logsigmoid(f.float()).reshape(BH, S), (0, Sp - S), value=0.0).contiguous()
        ig = F.pad(i.float().reshape(BH, S), (0, Sp - S), value=PAD_I).contiguous()
        if C0 is not None:
            C0c = C0.float().reshape(BH, DQK, DV).contiguous()
            n0c = n0.float().reshape(BH, DQK).contiguous()
            m0c = m0.float().reshape(BH).contiguous()
        else:
            C0c = n0c = m0c = None

        Cs, ns, ms, C_S = _states(kc, vc, lf, ig, C0c, n0c, m0c, S, NC, L, scale, half)
        h = torch.empty(BH, S, DV, device=q.device, dtype=kd)
        m_row = torch.empty(BH, Sp, device=q.device, dtype=torch.float32)
        den = torch.empty(BH, Sp, device=q.device, dtype=torch.float32)
        launcher(_fw_intra_kernel, "fw_intra", DQK, DV)[_tiles(DQK, DV, "v", BH, NC)](
            qc, kc, vc, lf, ig, Cs, ns, ms, h, m_row, den, S, NC, scale, eps,
            DQK=DQK, DV=DV, L=L, HALF=half,
        )
        del Cs
        n_S = ns[:, NC].clone()
        m_S = ms[:, NC].clone()
        ctx.save_for_backward(qc, kc, vc, lf, ig, f, C0c, n0c, m0c, h, m_row, den, C_S, n_S)
        ctx.meta = (B, H, S, DQK, DV, L, NC, scale, eps, half,
                    q.dtype, k.dtype, v.dtype, i.dtype, f.dtype,
                    None if C0 is None else (C0.dtype, n0.dtype, m0.dtype, tuple(m0.shape)))
        return (h.reshape(B, H, S, DV).to(v.dtype), C_S.reshape(B, H, DQK, DV),
                n_S.reshape(B, H, DQK), m_S.reshape(B, H))

    @staticmethod
    @once_differentiable
    def backward(ctx, dh, dC_S, dn_S, dm_S):
        qc, kc, vc, lf, ig, f, C0c, n0c, m0c, h, m_row, den, C_S, n_S = ctx.saved_tensors
        (B, H, S, DQK, DV, L, NC, scale, eps, half,
         q_dt, k_dt, v_dt, i_dt, f_dt, init_meta) = ctx.meta
        BH = B * H
        Sp = NC * L
        dev = qc.device
        kd = qc.dtype
        if dh is None:
            dh = torch.zeros(B, H, S, DV, device=dev, dtype=kd)
        dhc = dh.to(kd).reshape(BH, S, DV).contiguous()

        # Per-row scalars of the normaliser (fp32; dden and dmh are 0 on padded rows).
        invN, dden, dmh = (torch.empty(BH, Sp, device=dev, dtype=torch.float32) for _ in range(3))
        _bw_rows_kernel[(triton_cdiv(Sp, ROWS_BS), BH)](
            dhc, h, den, m_row, invN, dden, dmh, S, Sp, DV, eps,
            BS=ROWS_BS, BD=min(next_pow2(DV), 64), num_warps=4,
        )
        dM_S = torch.zeros(BH, device=dev, dtype=torch.float32)
        if dm_S is not None:
            dM_S += dm_S.float().reshape(BH)
        has_dstate = dC_S is not None or dn_S is not None
        if has_dstate:
            dCSc = (torch.zeros_like(C_S) if dC_S is None else dC_S.float().reshape(BH, DQK, DV)).contiguous()
            dnSc = (torch.zeros_like(n_S) if dn_S is None else dn_S.float().reshape(BH, DQK)).contiguous()
            dM_S -= (C_S * dCSc).sum((-1, -2)) + (n_S * dnSc).sum(-1)
        else:
            dCSc = dnSc = None

        Cs, ns, ms, _ = _states(kc, vc, lf, ig, C0c, n0c, m0c, S, NC, L, scale, half)
        dCs = torch.empty_like(Cs)  # entries 1..NC used; entry 0 goes to dC0f in fp32
        dns = torch.empty_like(ns)
        dC0f = torch.empty(BH, DQK, DV, device=dev, dtype=torch.float32)
        launcher(_bw_dstates_kernel, "bw_dstates", DQK, DV)[_tiles(DQK, DV, "kv", BH)](
            qc, dhc, lf, ig, ms, m_row, invN, dden,
            dCSc if has_dstate else dC0f, dnSc if has_dstate else dns, dCs, dns, dC0f, S, NC,
            DQK=DQK, DV=DV, L=L, HAS_DSTATE=has_dstate, HALF=half,
        )
        dq = torch.empty_like(qc)
        dk = torch.empty_like(kc)
        dv = torch.empty_like(vc)
        xpart = torch.zeros(BH, Sp, device=dev, dtype=torch.float32)
        ypart = torch.zeros(BH, Sp, device=dev, dtype=torch.float32)
        zpart = torch.zeros(BH, NC, device=dev, dtype=torch.float32)
        launcher(_bw_dqdk_kernel, "bw_dqdk", DQK, DV, reset_to_zero=["xpart_ptr", "ypart_ptr", "zpart_ptr"])[
            _tiles(DQK, DV, "k", BH, NC)](
            qc, kc, vc, dhc, lf, ig, Cs, ns, ms, dCs, dns, m_row, invN, dden, dq, dk,
            xpart, ypart, zpart, S, NC, scale, DQK=DQK, DV=DV, L=L, HALF=half,
        )
        launcher(_bw_dv_kernel, "bw_dv", DQK, DV)[_tiles(DQK, DV, "v", BH, NC)](
            qc, kc, dhc, lf, ig, ms, dCs, m_row, invN, dv, S, NC, scale, DQK=DQK, DV=DV, L=L, HALF=half,
        )
        del Cs
        di = torch.empty(BH, Sp, device=dev, dtype=torch.float32)
        fbar = torch.empty(BH, Sp, device=dev, dtype=torch.float32)
        carry = torch.empty(BH, NC, device=dev, dtype=torch.float32)
        aarg = torch.empty(BH, NC, device=dev, dtype=torch.int32)
        smx = torch.empty(BH, NC, device=dev, dtype=torch.float32)
        _bw_dlogw_kernel[(NC, BH)](qc, kc, vc, dhc, lf, ig, ms, m_row, invN, dden, dmh, xpart, ypart, zpart,
                                   di, fbar, carry, aarg, smx, S, NC, scale,
                                   DQK=DQK, DV=DV, L=L, BK=head_block(DQK), BV=head_block(DV), HALF=half,
                                   num_warps=8)
        dM0 = torch.empty(BH, device=dev, dtype=torch.float32)
        _bw_gates_kernel[(BH,)](carry, aarg, smx, dM_S, di, fbar, dM0, NC, L=L, num_warps=1)

        dq = dq.reshape(B, H, S, DQK).to(q_dt)
        dk = dk.reshape(B, H, S, DQK).to(k_dt)
        dv = dv.reshape(B, H, S, DV).to(v_dt)
        di = di[:, :S].reshape(B, H, S).to(i_dt)
        df = (torch.sigmoid(-f.float()) * fbar[:, :S].reshape(B, H, S)).to(f_dt)
        dC0 = dn0 = dm0 = None
        if init_meta is not None:
            C_dt, n_dt, m_dt, m_shape = init_meta
            dn0f = dns[:, 0]
            dm0f = (C0c * dC0f).sum((-1, -2)) + (n0c * dn0f).sum(-1) + dM0
            dC0 = dC0f.reshape(B, H, DQK, DV).to(C_dt)
            dn0 = dn0f.reshape(B, H, DQK).to(n_dt)
            dm0 = dm0f.reshape(m_shape).to(m_dt)
        return dq, dk, dv, di, df, dC0, dn0, dm0, None, None


def mlstm_chunkwise(q, k, v, i, f, initial_state=None, chunk_size=64, eps=1e-6):
    """Chunkwise mLSTM (Triton forward and exact backward).

    Args:
        q, k: ``(B, H, S, Dqk)``; v: ``(B, H, S, Dv)``; i, f: ``(B, H, S)`` gate pre-activations
            (exponential input gate, log-sigmoid forget gate); keys are scaled by 1/sqrt(Dqk).
        initial_state: ``(C (B, H, Dqk, Dv), n (B, H, Dqk), m (B, H))`` or ``None`` (zero state,
            m = 0).
        chunk_size: requested chunk length; the kernels use a power of two in [16, 128] (the
            result is the same up to rounding). Any S works (padded internally).
        eps: added to the normaliser.

    Returns:
        ``h (B, H, S, Dv)`` in the dtype of ``v`` and the final state ``(C, n, m)`` in fp32.
        Differentiable w.r.t. q, k, v, i, f and the initial state, also through the final state.
    """
    if q.dim() != 4 or k.shape != q.shape:
        raise ValueError(f"q and k must be (B, H, S, Dqk) with equal shapes; got {tuple(q.shape)}, {tuple(k.shape)}")
    B, H, S, DQK = q.shape
    if v.dim() != 4 or v.shape[:3] != (B, H, S):
        raise ValueError(f"v must be (B, H, S, Dv); got {tuple(v.shape)}")
    DV = v.shape[-1]
    if i.shape != (B, H, S) or f.shape != (B, H, S):
        raise ValueError(f"i and f must be (B, H, S) = {(B, H, S)}; got {tuple(i.shape)}, {tuple(f.shape)}")
    check_device(q, k, v, i, f)
    _chunk_len(chunk_size, max(S, 1))
    if initial_state is not None:
        C0, n0, m0 = initial_state
        if C0.shape != (B, H, DQK, DV) or n0.shape != (B, H, DQK) or m0.numel() != B * H:
            raise ValueError(
                f"initial_state must be C {(B, H, DQK, DV)}, n {(B, H, DQK)}, m {(B, H)}; got "
                f"{tuple(C0.shape)}, {tuple(n0.shape)}, {tuple(m0.shape)}"
            )
    else:
        C0 = n0 = m0 = None
    if S == 0:
        dev = q.device
        if C0 is None:
            return v.new_zeros(B, H, 0, DV), (
                torch.zeros(B, H, DQK, DV, device=dev), torch.zeros(B, H, DQK, device=dev),
                torch.zeros(B, H, device=dev))
        return v.new_zeros(B, H, 0, DV), (C0.float(), n0.float(), m0.float().reshape(B, H))
    h, C, n, m = MLSTMChunkwiseFn.apply(q, k, v, i, f, C0, n0, m0, chunk_size, eps)
    return h, (C, n, m)

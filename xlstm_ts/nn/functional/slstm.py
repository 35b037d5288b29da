"""sLSTM: scalar memory with exponential gating and memory mixing through block-diagonal heads.

Per head, with recurrent matrix ``R`` mixing the previous hidden state into all four gates::

    [i~, f~, z~, o~] = W x_t + R h_{t-1} + b
    m_t = max(i~, logsigmoid(f~) + m_{t-1})          # stabiliser
    i_t = exp(i~ - m_t),  f_t = exp(logsigmoid(f~) + m_{t-1} - m_t)
    c_t = f_t c_{t-1} + i_t tanh(z~),  n_t = f_t n_{t-1} + i_t,  h_t = sigmoid(o~) c_t / n_t

The empty state has ``m = -inf``: the first step then takes ``m_1 = i~_1`` (the official
kernels' special first step, without a data-dependent branch) and, because one of ``i_t, f_t``
is always 1, ``n_t >= 1`` for ever after. So ``h`` never divides by zero, whatever the gate
pre-activations (tested at +-1e4 and over 100,000 steps).

Layouts: input pre-activations ``x_gates (B, S, 4, NH, DH)`` in gate order (i, f, z, o),
``R (NH, DH, 4, DH)``, ``b (4, NH, DH)``, states ``(h, c, n, m)`` each ``(B, NH, DH)``.

The full-sequence path is a ``torch.autograd.Function`` with a hand-derived, exact backward
(checked by ``gradcheck``): a Python loop of a dozen fused torch ops per step in each
direction is several times faster on the CPU than autograd's bookkeeping over the same loop.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable


class SLSTMState(NamedTuple):
    """sLSTM state, each ``(B, NH, DH)``: hidden, cell, normaliser, stabiliser."""

    h: torch.Tensor
    c: torch.Tensor
    n: torch.Tensor
    m: torch.Tensor


def slstm_zero_state(batch: int, heads: int, head_dim: int, *, device=None, dtype=torch.float32) -> SLSTMState:
    """The empty state (``m = -inf``, see the module docstring)."""
    z = torch.zeros(batch, heads, head_dim, device=device, dtype=dtype)
    return SLSTMState(z, z.clone(), z.clone(), torch.full_like(z, float("-inf")))


def _check(x_gates: torch.Tensor, R: torch.Tensor, b: torch.Tensor) -> tuple[int, int, int, int]:
    if x_gates.dim() != 5 or x_gates.shape[2] != 4:
        raise ValueError(f"x_gates must be (B, S, 4, NH, DH); got {tuple(x_gates.shape)}")
    B, S, _, NH, DH = x_gates.shape
    if R.shape != (NH, DH, 4, DH):
        raise ValueError(f"R must be (NH, DH, 4, DH) = {(NH, DH, 4, DH)}; got {tuple(R.shape)}")
    if b.shape != (4, NH, DH):
        raise ValueError(f"b must be (4, NH, DH) = {(4, NH, DH)}; got {tuple(b.shape)}")
    return B, S, NH, DH


def _state_or_zero(state, B, NH, DH, device, dtype) -> SLSTMState:
    if state is None:
        return slstm_zero_state(B, NH, DH, device=device, dtype=dtype)
    # Checked, not left to broadcasting: a batch-1 state would silently serve any batch.
    shapes = [tuple(s.shape) for s in state]
    if len(shapes) != 4 or any(s != (B, NH, DH) for s in shapes):
        raise ValueError(f"sLSTM state must be (h, c, n, m), each (B, NH, DH) = {(B, NH, DH)}; got {shapes}")
    return SLSTMState(*(s.to(dtype) for s in state))


class _SLSTMSequence(torch.autograd.Function):
    """Whole-sequence sLSTM with an exact hand-written backward.

    Internally everything is head-major, ``(NH, B, ...)``, so that the recurrent matmul plus
    the input pre-activations is one ``baddbmm`` per step.
    """

    @staticmethod
    def forward(ctx, xg, R, h0, c0, n0, m0):
        # xg: (S, NH, B, 4*DH) input pre-activations with the bias added; R: (NH, DH, 4*DH);
        # states (NH, B, DH). The loop does only what the recurrence needs; everything the
        # backward can derive afterwards (branch masks, sigmoid(-f)) is computed vectorised.
        S, NH, B, G = xg.shape
        DH = G // 4
        shape = (S, NH, B, DH)
        PRE = xg.new_empty((S, NH, B, 4, DH))
        H, Cs, Ns = (xg.new_empty((S + 1, NH, B, DH)) for _ in range(3))
        M, I_w, F_w, Z, O = (xg.new_empty(shape) for _ in range(5))
        H[0], Cs[0], Ns[0] = h0, c0, n0
        m = m0
        for t in range(S):
            pre = torch.baddbmm(xg[t], H[t], R, out=PRE[t].view(NH, B, G)).view(NH, B, 4, DH)
            i_t, f_t, z_t, o_t = pre.unbind(2)
            lfm = F.logsigmoid(f_t).add_(m)
            m = torch.maximum(i_t, lfm, out=M[t])
            torch.exp(i_t - m, out=I_w[t])
            torch.exp(lfm.sub_(m), out=F_w[t])
            torch.tanh(z_t, out=Z[t])
            torch.sigmoid(o_t, out=O[t])
            torch.addcmul(F_w[t] * Cs[t], I_w[t], Z[t], out=Cs[t + 1])
            torch.addcmul(I_w[t], F_w[t], Ns[t], out=Ns[t + 1])
            torch.div(O[t] * Cs[t + 1], Ns[t + 1], out=H[t + 1])
        ctx.save_for_backward(R, PRE, H, Cs, Ns, M, I_w, F_w, Z, O)
        return H[1:], Cs[S], Ns[S], M[S - 1]

    @staticmethod
    @once_differentiable
    def backward(ctx, dH, dcS, dnS, dmS):
        R, PRE, H, Cs, Ns, M, I_w, F_w, Z, O = ctx.saved_tensors
        S, NH, B, DH = dH.shape
        # Vectorised prologue: m = max(i~, lf + m') picked i~ exactly where m == i~ (max returns
        # one of its arguments bit for bit); per-step factors of the gate derivatives.
        i_wins = (M == PRE[:, :, :, 0]).to(dH.dtype)
        f_wins = 1 - i_wins
        snf = torch.sigmoid(-PRE[:, :, :, 1])
        inv_n = Ns[1:].reciprocal()
        k_o = Cs[1:] * O * (1 - O)  # dh_n -> d(o~)
        k_z = I_w * (1 - Z * Z)  # dc -> d(z~)
        dpre_all = dH.new_empty((S, NH, B, 4, DH))
        Rt = R.transpose(1, 2)  # (NH, 4*DH, DH)
        dh_rec = torch.zeros_like(dH[0])
        dc = dcS.clone() if dcS is not None else torch.zeros_like(dH[0])
        dn = dnS.clone() if dnS is not None else torch.zeros_like(dH[0])
        dm = dmS.clone() if dmS is not None else torch.zeros_like(dH[0])
        for t in range(S - 1, -1, -1):
            dpre = dpre_all[t]
            dh_n = (dH[t] + dh_rec).mul_(inv_n[t])
            torch.mul(dh_n, k_o[t], out=dpre[:, :, 3])  # h = o c / n
            dc = torch.addcmul(dc, dh_n, O[t])
            dn = torch.addcmul(dn, dh_n, H[t + 1], value=-1)
            torch.mul(dc, k_z[t], out=dpre[:, :, 2])  # c = f c' + i z
            g_i = torch.addcmul(dn, dc, Z[t]).mul_(I_w[t])  # through i = exp(i~ - m)
            g_f = torch.addcmul(dc * Cs[t], dn, Ns[t]).mul_(F_w[t])  # through f = exp(lf + m' - m)
            dc = dc * F_w[t]
            dn = dn * F_w[t]
            dm = dm - g_i - g_f  # m enters both exponentials; its gradient goes to the winner
            torch.addcmul(g_i, dm, i_wins[t], out=dpre[:, :, 0])
            dm = torch.addcmul(g_f, dm, f_wins[t])  # d(lf + m') = d(m') = d(lf)
            torch.mul(dm, snf[t], out=dpre[:, :, 1])
            dh_rec = torch.bmm(dpre.view(NH, B, 4 * DH), Rt)
        # dR = sum_t h_{t-1}^T dpre_t, in one matmul over all steps.
        h_prev = H[:-1].permute(1, 3, 0, 2).reshape(NH, DH, S * B)
        dR = torch.bmm(h_prev, dpre_all.permute(1, 0, 2, 3, 4).reshape(NH, S * B, 4 * DH))
        dxg = dpre_all.view(S, NH, B, 4 * DH)
        return dxg, dR, dh_rec, dc, dn, dm


def _slstm_sequence_torch(x_gates, R, b, initial_state) -> tuple[torch.Tensor, SLSTMState]:
    B, S, NH, DH = _check(x_gates, R, b)
    out_dtype = x_gates.dtype
    dt = torch.float64 if out_dtype == torch.float64 else torch.float32
    h0, c0, n0, m0 = _state_or_zero(initial_state, B, NH, DH, x_gates.device, dt)
    if S == 0:
        return x_gates.new_zeros(B, 0, NH, DH), SLSTMState(h0, c0, n0, m0)
    # (B, S, 4, NH, DH) -> (S, NH, B, 4*DH), bias folded in once.
    xg = (x_gates.to(dt) + b.to(dt)).permute(1, 3, 0, 2, 4).reshape(S, NH, B, 4 * DH)
    hm = lambda s: s.transpose(0, 1)  # (B, NH, DH) <-> (NH, B, DH)  # noqa: E731
    H, c, n, m = _SLSTMSequence.apply(
        xg.contiguous(), R.to(dt).reshape(NH, DH, 4 * DH), hm(h0).contiguous(), hm(c0).contiguous(),
        hm(n0).contiguous(), hm(m0).contiguous(),
    )
    h_seq = H.permute(2, 0, 1, 3)  # (B, S, NH, DH)
    state = SLSTMState(hm(H[-1]), hm(c), hm(n), hm(m))
    return h_seq.to(out_dtype), state


def slstm_step(
    x_t: torch.Tensor,
    R: torch.Tensor,
    b: torch.Tensor,
    state: tuple[torch.Tensor, ...] | None,
) -> tuple[torch.Tensor, SLSTMState]:
    """One sLSTM step with plain autograd ops.

    Args:
        x_t: ``(B, 4, NH, DH)`` input pre-activations of this step (i, f, z, o).
        R: ``(NH, DH, 4, DH)``; b: ``(4, NH, DH)``; state: ``(h, c, n, m)`` or ``None``.

    Returns:
        ``h_t (B, NH, DH)`` and the new state.
    """
    B, _, NH, DH = x_t.shape
    _check(x_t[:, None], R, b)
    dt = torch.float64 if x_t.dtype == torch.float64 else torch.float32
    h, c, n, m = _state_or_zero(state, B, NH, DH, x_t.device, dt)
    rec = torch.einsum("bhd,hdge->bghe", h, R.to(dt))  # memory mixing within each head
    pre = x_t.to(dt) + rec + b.to(dt)
    h, c, n, m = slstm_pointwise(*pre.unbind(1), c, n, m)
    return h.to(x_t.dtype), SLSTMState(h, c, n, m)


def slstm_pointwise(i_t, f_t, z_t, o_t, c, n, m):
    """The gating of one sLSTM step from its pre-activations: ``(h, c, n, m)`` of step t.

    All arguments are ``(..., DH)`` tensors: the i, f, z, o pre-activations (input and
    recurrent parts summed) and the state ``c, n, m`` of step t-1. Out-of-place autograd ops;
    the sequence path inlines the same arithmetic in place.
    """
    lfm = F.logsigmoid(f_t) + m
    m_new = torch.maximum(i_t, lfm)
    i_w = torch.exp(i_t - m_new)
    f_w = torch.exp(lfm - m_new)
    c = f_w * c + i_w * torch.tanh(z_t)
    n = f_w * n + i_w
    return torch.sigmoid(o_t) * c / n, c, n, m_new


def slstm_recurrent_autograd(x_gates, R, b, initial_state=None) -> tuple[torch.Tensor, SLSTMState]:
    """Reference: :func:`slstm_step` looped with autograd (slow; used to test the fast paths)."""
    B, S, NH, DH = _check(x_gates, R, b)
    state = initial_state
    hs = []
    for t in range(S):
        h_t, state = slstm_step(x_gates[:, t], R, b, state)
        hs.append(h_t)
    if state is None:
        state = slstm_zero_state(B, NH, DH, device=x_gates.device)
    return torch.stack(hs, 1) if hs else x_gates.new_zeros(B, 0, NH, DH), SLSTMState(*state)

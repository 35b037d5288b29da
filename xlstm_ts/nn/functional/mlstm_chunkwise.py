"""mLSTM, chunkwise form: linear time, the training default.

The sequence is cut into chunks of ``L`` steps. A sequential recurrence over chunks carries the
stabilised state ``(C, n, m)`` from chunk to chunk (O(S/L) small matrix updates); inside a chunk
the outputs are computed in parallel from the carried state plus an ``L x L`` causal weight
matrix. Cost O(S * L * D + S * D^2) instead of O(S^2 * D).

A sequence whose length is not a multiple of ``L`` is processed as its full chunks followed by
one shorter chunk with the carried state, so there is no padding and the final state is exact.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ._common import (
    EPS,
    MLSTMState,
    as_int,
    check_inputs,
    compute_dtype,
    normaliser_floor,
    prepare_state,
    scale_of,
    split_non_finite,
)


def _chunk_pass(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    i: torch.Tensor,
    f: torch.Tensor,
    state: MLSTMState,
    L: int,
    eps: float,
) -> tuple[torch.Tensor, MLSTMState]:
    """Chunkwise mLSTM for ``S % L == 0``; k is already scaled, all tensors in the compute dtype."""
    B, H, S, Dqk = q.shape
    Dv = v.shape[-1]
    NC = S // L
    dt = q.dtype
    qc = q.reshape(B, H, NC, L, Dqk)
    kc = k.reshape(B, H, NC, L, Dqk)
    vc = v.reshape(B, H, NC, L, Dv)
    ic = i.reshape(B, H, NC, L)
    # Local cumulative log forget gates, kept in fp64 so that their differences are exact.
    b64 = F.logsigmoid(f.to(torch.float64)).reshape(B, H, NC, L).cumsum(-1)
    g = b64[..., -1].to(dt)  # log decay across a whole chunk, (B, H, NC)
    a = (b64[..., -1:] - b64).to(dt) + ic  # log weight of step tau in its chunk's end state

    # Each chunk's own contribution to the state at its end, stabilised by its own max.
    a_max = a.amax(-1)
    kw = kc * torch.exp(a - a_max[..., None])[..., None]
    C_loc = kw.transpose(-1, -2) @ vc  # (B, H, NC, Dqk, Dv)
    n_loc = kw.sum(-2)  # (B, H, NC, Dqk)

    # Sequential recurrence over chunks: the state entering each chunk.
    C, n, m = state
    C_in, n_in, m_in = [], [], []
    for c in range(NC):
        C_in.append(C)
        n_in.append(n)
        m_in.append(m)
        m_new = torch.maximum(g[..., c] + m, a_max[..., c])
        decay = torch.exp(g[..., c] + m - m_new)
        w = torch.exp(a_max[..., c] - m_new)
        C = decay[..., None, None] * C + w[..., None, None] * C_loc[:, :, c]
        n = decay[..., None] * n + w[..., None] * n_loc[:, :, c]
        m = m_new
    C_prev = torch.stack(C_in, 2)  # (B, H, NC, Dqk, Dv)
    n_prev = torch.stack(n_in, 2)  # (B, H, NC, Dqk)
    m_prev = torch.stack(m_in, 2)  # (B, H, NC)

    # Within each chunk: causal weights between steps plus the carried state.
    log_d = (b64[..., :, None] - b64[..., None, :]).to(dt) + ic[..., None, :]
    causal = torch.ones(L, L, dtype=torch.bool, device=q.device).tril()
    log_d = log_d.masked_fill(~causal, float("-inf"))
    log_inter = b64.to(dt) + m_prev[..., None]  # (B, H, NC, L)
    m_comb = torch.maximum(log_d.amax(-1), log_inter)
    # Masked (future) entries must be exactly 0: exp(-inf) = 0 alone is not enough, since a
    # NaN or inf in a later step's key makes them 0 * NaN = NaN, leaking into earlier outputs.
    w = torch.where(causal, torch.exp(log_d - m_comb[..., None]) * (qc @ kc.transpose(-1, -2)), 0.0)
    w_inter = torch.exp(log_inter - m_comb)[..., None]
    # (C_loc above read the raw values: a non-finite one reaches the later chunks through C.)
    v_read, poisoned = split_non_finite(vc)
    num = w @ v_read + w_inter * (qc @ C_prev)
    den = w.sum(-1) + w_inter[..., 0] * (qc @ n_prev[..., None])[..., 0]
    # One reciprocal on the small normaliser tensor, then a multiply: a division of the
    # large tensor costs a division and a negation in the backward too.
    h = num * (torch.maximum(den.abs(), normaliser_floor(m_comb)) + eps).reciprocal()[..., None]
    if poisoned is not None:
        h = h.masked_fill(poisoned, float("nan"))
    return h.reshape(B, H, S, Dv), MLSTMState(C, n, m)


def mlstm_chunkwise_torch(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    i: torch.Tensor,
    f: torch.Tensor,
    initial_state: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
    chunk_size: int = 64,
    eps: float = EPS,
) -> tuple[torch.Tensor, MLSTMState]:
    """Pure-PyTorch chunkwise mLSTM (the CPU path); same contract as ``mlstm_parallel``."""
    B, H, S, Dqk, Dv = check_inputs(q, k, v, i, f)
    chunk_size = as_int(chunk_size, "chunk_size")
    out_dtype, dt = v.dtype, compute_dtype(q.dtype)
    state = prepare_state(initial_state, B, H, Dqk, Dv, q.device, dt)
    if S == 0:
        return v.new_zeros(B, H, 0, Dv), state
    q, k, v, i = q.to(dt), (k * scale_of(Dqk)).to(dt), v.to(dt), i.to(dt)
    L = min(chunk_size, S)
    S_full = (S // L) * L
    h, state = _chunk_pass(q[:, :, :S_full], k[:, :, :S_full], v[:, :, :S_full],
                           i[:, :, :S_full], f[:, :, :S_full], state, L, eps)
    if S_full < S:  # the ragged tail is one shorter chunk with the carried state
        h_tail, state = _chunk_pass(q[:, :, S_full:], k[:, :, S_full:], v[:, :, S_full:],
                                    i[:, :, S_full:], f[:, :, S_full:], state, S - S_full, eps)
        h = torch.cat([h, h_tail], dim=2)
    return h.to(out_dtype), state

"""mLSTM, parallel (quadratic) form: the reference every other form is tested against.

For query t and key s <= t the log weight is ``logD_ts = b_t - b_s + i_s`` with
``b_t = sum_{r<=t} logsigmoid(f_r)``; the initial state enters with log weight ``b_t + m_0``.
The stabiliser ``m_t`` is the row maximum of all of them, which is exactly the ``m_t`` of the
recurrent form, so all forms return the same ``(C, n, m)``.
"""

from __future__ import annotations

import torch

from ._common import (
    EPS,
    MLSTMState,
    check_inputs,
    compute_dtype,
    log_forget_cumsum,
    normaliser_floor,
    prepare_state,
    scale_of,
    split_non_finite,
)


def mlstm_parallel(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    i: torch.Tensor,
    f: torch.Tensor,
    initial_state: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
    eps: float = EPS,
) -> tuple[torch.Tensor, MLSTMState]:
    """mLSTM over a whole sequence in O(S^2) time and memory (reference implementation).

    Args:
        q, k: ``(B, H, S, Dqk)``; v: ``(B, H, S, Dv)``.
        i, f: ``(B, H, S)`` input and forget gate pre-activations.
        initial_state: optional ``(C, n, m)``; ``None`` is the zero state.
        eps: added to the normaliser.

    Returns:
        ``h (B, H, S, Dv)`` in the dtype of ``v`` and the final state ``(C, n, m)`` (fp32/fp64).
    """
    B, H, S, Dqk, Dv = check_inputs(q, k, v, i, f)
    out_dtype, dt = v.dtype, compute_dtype(q.dtype)
    C0, n0, m0 = prepare_state(initial_state, B, H, Dqk, Dv, q.device, dt)
    if S == 0:  # nothing to read: the state passes through (as in the chunkwise and recurrent forms)
        return v.new_zeros(B, H, 0, Dv), MLSTMState(C0, n0, m0)
    q, k, v, i = q.to(dt), k.to(dt), v.to(dt), i.to(dt)
    k = k * scale_of(Dqk)

    b64 = log_forget_cumsum(f)  # (B, H, S)
    log_d = (b64[..., :, None] - b64[..., None, :]).to(dt) + i[..., None, :]
    causal = torch.ones(S, S, dtype=torch.bool, device=q.device).tril()
    log_d = log_d.masked_fill(~causal, float("-inf"))
    log_init = b64.to(dt) + m0[..., None]  # weight of the initial state, (B, H, S)
    m = torch.maximum(log_d.amax(dim=-1), log_init)  # (B, H, S)

    # Masked (future) entries must be exactly 0: exp(-inf) = 0 alone is not enough, since a
    # NaN or inf in a later step's key makes them 0 * NaN = NaN, leaking into earlier outputs.
    w = torch.where(causal, torch.exp(log_d - m[..., None]) * (q @ k.transpose(-1, -2)), 0.0)  # (B, H, S, S)
    w_init = torch.exp(log_init - m)[..., None]  # (B, H, S, 1)
    v_read, poisoned = split_non_finite(v)
    num = w @ v_read + w_init * (q @ C0)
    den = w.sum(-1) + w_init[..., 0] * (q @ n0[..., None])[..., 0]
    # One reciprocal on the small normaliser tensor, then a multiply: a division of the
    # large tensor costs a division and a negation in the backward too.
    h = num * (torch.maximum(den.abs(), normaliser_floor(m)) + eps).reciprocal()[..., None]
    if poisoned is not None:
        h = h.masked_fill(poisoned, float("nan"))

    # Final state: the last row of the same weights, applied to keys instead of queries.
    m_S = m[..., -1]
    w_last = torch.exp(log_d[..., -1, :] - m_S[..., None])  # (B, H, S)
    decay = torch.exp(log_init[..., -1] - m_S)  # (B, H)
    kw = k * w_last[..., None]
    C = decay[..., None, None] * C0 + kw.transpose(-1, -2) @ v
    n = decay[..., None] * n0 + kw.sum(-2)
    return h.to(out_dtype), MLSTMState(C, n, m_S)

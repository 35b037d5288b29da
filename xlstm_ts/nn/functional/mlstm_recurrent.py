"""mLSTM, recurrent form: one step at a time, O(1) memory in sequence length.

This is the form for streaming and generation; ``mlstm_recurrent`` loops the step and is the
executable statement of the cell equations (xLSTM paper, eqs. 19-27, stabilised).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ._common import (
    EPS,
    MLSTMState,
    check_inputs,
    compute_dtype,
    normaliser_floor,
    prepare_state,
    scale_of,
)


def mlstm_step(
    q_t: torch.Tensor,
    k_t: torch.Tensor,
    v_t: torch.Tensor,
    i_t: torch.Tensor,
    f_t: torch.Tensor,
    state: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None,
    eps: float = EPS,
) -> tuple[torch.Tensor, MLSTMState]:
    """Advance the mLSTM memory by one token.

    Args:
        q_t, k_t: ``(B, H, Dqk)``; v_t: ``(B, H, Dv)``; i_t, f_t: ``(B, H)`` gate pre-activations.
        state: ``(C, n, m)`` or ``None`` for the zero state.

    Returns:
        ``h_t (B, H, Dv)`` and the new state.
    """
    BH = q_t.shape[:2]
    if (q_t.dim() != 3 or k_t.shape != q_t.shape or v_t.dim() != 3 or v_t.shape[:2] != BH
            or i_t.shape != BH or f_t.shape != BH):
        raise ValueError(
            "mlstm_step expects q_t, k_t (B, H, Dqk), v_t (B, H, Dv), i_t, f_t (B, H); got "
            f"{tuple(q_t.shape)}, {tuple(k_t.shape)}, {tuple(v_t.shape)}, {tuple(i_t.shape)}, {tuple(f_t.shape)}"
        )
    B, H, Dqk = q_t.shape
    Dv = v_t.shape[-1]
    out_dtype, dt = v_t.dtype, compute_dtype(q_t.dtype)
    C, n, m = prepare_state(state, B, H, Dqk, Dv, q_t.device, dt)
    q_t, k_t, v_t, i_t, f_t = (x.to(dt) for x in (q_t, k_t, v_t, i_t, f_t))

    log_f = F.logsigmoid(f_t)
    m_new = torch.maximum(log_f + m, i_t)
    f_w = torch.exp(log_f + m - m_new)
    i_w = torch.exp(i_t - m_new)
    k_t = k_t * scale_of(Dqk)
    C = f_w[..., None, None] * C + (i_w[..., None] * k_t)[..., :, None] * v_t[..., None, :]
    n = f_w[..., None] * n + i_w[..., None] * k_t
    num = (q_t[..., None, :] @ C)[..., 0, :]
    den = (q_t * n).sum(-1)
    # One reciprocal on the small normaliser tensor, then a multiply: a division of the
    # large tensor costs a division and a negation in the backward too.
    h = num * (torch.maximum(den.abs(), normaliser_floor(m_new)) + eps).reciprocal()[..., None]
    return h.to(out_dtype), MLSTMState(C, n, m_new)


def mlstm_recurrent(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    i: torch.Tensor,
    f: torch.Tensor,
    initial_state: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
    eps: float = EPS,
) -> tuple[torch.Tensor, MLSTMState]:
    """mLSTM over a sequence by looping :func:`mlstm_step` (same contract as ``mlstm_parallel``)."""
    B, H, S, Dqk, Dv = check_inputs(q, k, v, i, f)
    state = prepare_state(initial_state, B, H, Dqk, Dv, q.device, compute_dtype(q.dtype))
    hs = []
    for t in range(S):
        h_t, state = mlstm_step(q[:, :, t], k[:, :, t], v[:, :, t], i[:, :, t], f[:, :, t], state, eps)
        hs.append(h_t)
    h = torch.stack(hs, dim=2) if hs else v.new_zeros(B, H, 0, Dv)
    return h, state

"""Functional xLSTM cells.

mLSTM, one contract for all forms: ``q, k (B, H, S, Dqk)``, ``v (B, H, S, Dv)``, gate
pre-activations ``i, f (B, H, S)``; each returns ``(h (B, H, S, Dv), (C, n, m))``.

- :func:`mlstm_parallel`: quadratic reference.
- :func:`mlstm_chunkwise`: linear time, the training default (torch or Triton backend).
- :func:`mlstm_recurrent` / :func:`mlstm_step`: one step at a time, O(1) memory.

sLSTM: :func:`slstm_sequence` (torch or fused Triton) and :func:`slstm_step`.
"""

from __future__ import annotations

import torch

from ._common import EPS, MLSTMState, as_int, needs_grad, zero_state
from .backend import BACKENDS, resolve_backend
from .backend import kernel as _kernel
from .mlstm_chunkwise import mlstm_chunkwise_torch
from .mlstm_parallel import mlstm_parallel
from .mlstm_recurrent import mlstm_recurrent
from .mlstm_recurrent import mlstm_step as _mlstm_step_torch
from .slstm import (
    SLSTMState,
    _slstm_sequence_torch,
    slstm_recurrent_autograd,
    slstm_step,
    slstm_zero_state,
)


def mlstm_chunkwise(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    i: torch.Tensor,
    f: torch.Tensor,
    initial_state: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
    chunk_size: int = 64,
    backend: str = "auto",
    eps: float = EPS,
) -> tuple[torch.Tensor, MLSTMState]:
    """Chunkwise mLSTM (linear time). Same contract as :func:`mlstm_parallel`.

    Args:
        chunk_size: steps per chunk (any positive int; the sequence need not be a multiple).
        backend: ``"auto"`` (Triton on CUDA, torch elsewhere), ``"torch"`` or ``"triton"``.
    """
    chunk_size = as_int(chunk_size, "chunk_size")  # the kernels take Python ints only (numpy ints too)
    if resolve_backend(backend, q.device) == "triton":
        h, state = _kernel("mlstm_chunkwise")(q, k, v, i, f, initial_state=initial_state,
                                              chunk_size=chunk_size, eps=eps)
        return h, MLSTMState(*state)
    return mlstm_chunkwise_torch(q, k, v, i, f, initial_state, chunk_size, eps)


def mlstm_step(
    q_t: torch.Tensor,
    k_t: torch.Tensor,
    v_t: torch.Tensor,
    i_t: torch.Tensor,
    f_t: torch.Tensor,
    state: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None,
    backend: str = "torch",
    eps: float = EPS,
) -> tuple[torch.Tensor, MLSTMState]:
    """One mLSTM step: ``q_t, k_t (B, H, Dqk)``, ``v_t (B, H, Dv)``, ``i_t, f_t (B, H)``.

    The default backend is torch (a step is latency-bound and differentiable there); pass
    ``"auto"`` or ``"triton"`` to use the fused step kernel for generation on CUDA. That kernel
    is forward-only: where gradients are needed ``"auto"`` takes the torch step and
    ``"triton"`` raises (rather than returning outputs silently cut off from autograd).
    """
    use = resolve_backend(backend, q_t.device)
    if use == "triton" and needs_grad(q_t, k_t, v_t, i_t, f_t, *(state if state is not None else ())):
        if backend == "triton":
            raise RuntimeError(
                "backend='triton': the fused mLSTM step kernel is forward-only (generation), but "
                "these inputs need gradients; use backend='auto' or 'torch', or torch.no_grad()"
            )
        use = "torch"  # "auto": the differentiable torch step
    if use == "triton":
        h, state = _kernel("mlstm_step")(q_t, k_t, v_t, i_t, f_t, state, eps=eps)
        return h, MLSTMState(*state)
    return _mlstm_step_torch(q_t, k_t, v_t, i_t, f_t, state, eps)


def slstm_sequence(
    x_gates: torch.Tensor,
    R: torch.Tensor,
    b: torch.Tensor,
    initial_state: tuple[torch.Tensor, ...] | None = None,
    backend: str = "auto",
) -> tuple[torch.Tensor, SLSTMState]:
    """sLSTM over a sequence.

    Args:
        x_gates: ``(B, S, 4, NH, DH)`` input pre-activations (gate order i, f, z, o).
        R: ``(NH, DH, 4, DH)`` block-diagonal recurrent weights (one block per head).
        b: ``(4, NH, DH)`` gate biases.
        initial_state: ``(h, c, n, m)`` each ``(B, NH, DH)``, or ``None`` (empty state).
        backend: ``"auto" | "torch" | "triton"`` (fused kernel). ``"auto"`` picks the kernel on
            CUDA unless ``xlstm_ts_kernels.slstm_unsupported_reason`` names a reason (none today).

    Returns:
        ``h (B, S, NH, DH)`` and the final state.
    """
    use_triton = resolve_backend(backend, x_gates.device) == "triton"
    if use_triton and backend == "auto":
        # "auto" never picks a case the fused kernel would refuse (the hook names none today).
        use_triton = _kernel("slstm_unsupported_reason")(
            x_gates.dtype, x_gates.shape[-1], compiled=x_gates.device.type == "cuda") is None
    if use_triton:
        h, state = _kernel("slstm_sequence")(x_gates, R, b, initial_state)
        return h, SLSTMState(*state)
    return _slstm_sequence_torch(x_gates, R, b, initial_state)


__all__ = [
    "BACKENDS",
    "EPS",
    "MLSTMState",
    "SLSTMState",
    "mlstm_chunkwise",
    "mlstm_chunkwise_torch",
    "mlstm_parallel",
    "mlstm_recurrent",
    "mlstm_step",
    "resolve_backend",
    "slstm_recurrent_autograd",
    "slstm_sequence",
    "slstm_step",
    "slstm_zero_state",
    "zero_state",
]

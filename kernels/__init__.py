"""Triton kernels for xLSTM (import name ``xlstm_ts_kernels``).

Depends on torch and triton only, never on ``xlstm_ts``. Entry points:

- :func:`mlstm_chunkwise` ``(q, k, v, i, f, initial_state=None, chunk_size=64, eps=1e-6)``
  -> ``(h, (C, n, m))``: chunkwise mLSTM, forward + exact backward.
- :func:`mlstm_step` ``(q, k, v, i, f, state, eps=1e-6)`` -> ``(h, (C, n, m))``: fused step.
- :func:`slstm_sequence` ``(x_gates, R, b, initial_state=None)`` -> ``(h, (h, c, n, m))``:
  fused sLSTM over a sequence, forward + backward.
- :func:`slstm_unsupported_reason` ``(dtype, head_dim, compiled)`` -> why the fused sLSTM cannot
  run a case (compiled fp32 with head dim > 64), or ``None``.

On CUDA tensors they run compiled; with ``TRITON_INTERPRET=1`` set before import they run on
CPU tensors in Triton's interpreter (how the tests run).
"""

from .mlstm_chunkwise import mlstm_chunkwise
from .mlstm_step import mlstm_step
from .slstm_fused import slstm_sequence
from .slstm_fused import unsupported_reason as slstm_unsupported_reason

__all__ = ["mlstm_chunkwise", "mlstm_step", "slstm_sequence", "slstm_unsupported_reason"]

"""Triton kernels for xLSTM (import name ``xlstm_ts_kernels``).

Depends on torch and triton only, never on ``xlstm_ts``.
"""

"""Shared helpers of the kernels: launch policy, dtype policy and small jit functions.

Everything here depends on torch and triton only.
"""

from __future__ import annotations

import os

import torch
import triton
import triton.language as tl

HALF_DTYPES = (torch.float16, torch.bfloat16)


def interpreting() -> bool:
    """True when Triton runs its CPU interpreter (``TRITON_INTERPRET=1``)."""
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


def next_pow2(x: int) -> int:
    return 1 << max(0, int(x) - 1).bit_length()


def head_block(d: int, cap: int = 64) -> int:
    """Tile width over a head dimension: a power of two >= 16 (``tl.dot`` needs 16), <= cap."""
    return max(16, min(next_pow2(d), cap))


def half_dot(dtype: torch.dtype) -> bool:
    """Whether the matmuls take their operands in the (half) input dtype.

    fp32 inputs: fp32 operands with ``input_precision="ieee"`` (no TF32), for parity with the
    torch reference. fp16/bf16 inputs on the GPU: half operands, fp32 accumulation (tensor
    cores). The interpreter computes bf16 ``tl.dot`` on raw bits, so there bf16 operands are
    upcast to fp32 (fp16 runs in fp16, which keeps the half-operand code path tested on CPU).
    """
    if dtype == torch.float16:
        return True
    return dtype == torch.bfloat16 and not interpreting()


def check_device(*tensors: torch.Tensor) -> None:
    dev = tensors[0].device
    if dev.type != "cuda" and not interpreting():
        raise RuntimeError(
            "xlstm_ts_kernels need CUDA tensors; on the CPU set TRITON_INTERPRET=1 before importing "
            "them to run in Triton's interpreter"
        )
    for t in tensors:
        if t is not None and t.device != dev:
            raise ValueError("all tensors must be on the same device")


@triton.jit
def log1p_exp_neg(x):
    """log(1 + exp(-|x|)) in fp32, accurate also when exp(-|x|) is tiny."""
    u = tl.exp(-tl.abs(x))
    return tl.where(u < 1e-3, u * (1.0 - u * (0.5 - u * (1.0 / 3.0))), tl.log(1.0 + u))


@triton.jit
def logsigmoid(x):
    """log(sigmoid(x)) in fp32, finite for any finite x."""
    return tl.minimum(x, 0.0) - log1p_exp_neg(x)


@triton.jit
def sigmoid(x):
    """1 / (1 + exp(-x)) without overflowing exp."""
    e = tl.exp(-tl.abs(x))
    return tl.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


@triton.jit
def tanh(x):
    e = tl.exp(-2.0 * tl.abs(x))
    t = (1.0 - e) / (1.0 + e)
    return tl.where(x < 0, -t, t)


@triton.jit
def mm(a, b, HALF: tl.constexpr, DT: tl.constexpr):
    """a @ b with fp32 accumulation; half operands (dtype DT) when HALF, else exact fp32."""
    if HALF:
        return tl.dot(a.to(DT), b.to(DT), out_dtype=tl.float32)
    else:
        return tl.dot(a, b, input_precision="ieee", out_dtype=tl.float32)

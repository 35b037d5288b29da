"""Small building blocks shared by the xLSTM layers: norms, causal conv, headwise projections, init."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def small_init_(weight: torch.Tensor, dim: int) -> None:
    """N(0, sqrt(2 / (5 dim))), the reference init of input projections and embeddings."""
    nn.init.normal_(weight, mean=0.0, std=math.sqrt(2 / (5 * dim)))


def wang_init_(weight: torch.Tensor, dim: int, num_blocks: int) -> None:
    """N(0, 2 / (num_blocks sqrt(dim))), the reference init of output projections."""
    nn.init.normal_(weight, mean=0.0, std=2 / num_blocks / math.sqrt(dim))


class LayerNorm(nn.LayerNorm):
    """LayerNorm with a weight and no bias (the reference's choice)."""

    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__(dim, eps=eps, bias=False)


class MultiHeadNorm(nn.Module):
    """Per-head normalisation (GroupNorm with one group per head) over ``(B, S, NH, DH)``."""

    def __init__(self, num_heads: int, head_dim: int, eps: float = 1e-5):
        super().__init__()
        self.num_heads, self.eps = num_heads, eps
        self.weight = nn.Parameter(torch.ones(num_heads * head_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, S, NH, DH = x.shape
        # fp32 reductions: the cell output can be far from unit scale.
        y = F.layer_norm(x.float(), (DH,), eps=self.eps).to(x.dtype)
        return y.reshape(B, S, NH * DH) * self.weight


class CausalConv1d(nn.Module):
    """Depthwise causal convolution over time that can carry its input history as state.

    ``forward(x (B, S, D), state (B, K-1, D) | None) -> (y (B, S, D), new_state)``; the state is
    the last ``K-1`` inputs, so running a sequence in pieces equals running it whole.
    """

    def __init__(self, dim: int, kernel_size: int):
        super().__init__()
        self.kernel_size = kernel_size
        self.conv = nn.Conv1d(dim, dim, kernel_size, groups=dim, bias=True) if kernel_size > 0 else None

    def forward(self, x: torch.Tensor, state: torch.Tensor | None = None):
        B, S, D = x.shape
        if self.conv is None:
            if state is not None:
                raise ValueError(f"this layer has no conv (kernel size 0), so its conv state must be None; "
                                 f"got a tensor of shape {tuple(state.shape)}")
            return x, None
        K = self.kernel_size
        if state is None:
            state = x.new_zeros(B, K - 1, D)
        elif state.shape != (B, K - 1, D):
            raise ValueError(f"conv state must be (B, K-1, D) = {(B, K - 1, D)}; got {tuple(state.shape)}")
        xx = torch.cat([state.to(x.dtype), x], dim=1)  # (B, K-1+S, D)
        if S == 0:  # conv1d refuses an input shorter than its kernel; the history is unchanged
            return x, xx
        y = self.conv(xx.transpose(1, 2)).transpose(1, 2)
        return y, xx[:, xx.shape[1] - (K - 1):]


class HeadwiseLinear(nn.Module):
    """Block-diagonal linear map: ``dim`` features in blocks of ``block_size``, no bias."""

    def __init__(self, dim: int, block_size: int):
        super().__init__()
        if dim % block_size:
            raise ValueError(f"dim {dim} is not a multiple of block_size {block_size}")
        self.num_blocks, self.block_size = dim // block_size, block_size
        self.weight = nn.Parameter(torch.empty(self.num_blocks, block_size, block_size))
        small_init_(self.weight, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        x = x.reshape(-1, self.num_blocks, self.block_size)
        y = torch.einsum("nhi,hio->nho", x, self.weight)
        return y.reshape(shape)


class GatedFeedForward(nn.Module):
    """``down(act(gate(x)) * up(x))`` with hidden ``ceil(proj_factor * E / 64) * 64``."""

    ACTS = {"gelu": F.gelu, "relu": F.relu, "silu": F.silu, "swish": F.silu, "sigmoid": torch.sigmoid}

    def __init__(self, dim: int, proj_factor: float, act_fn: str, num_blocks: int, dropout: float = 0.0):
        super().__init__()
        if act_fn not in self.ACTS:
            raise ValueError(f"act_fn must be one of {sorted(self.ACTS)}; got {act_fn!r}")
        hidden = int(math.ceil(proj_factor * dim / 64) * 64)
        self.act = self.ACTS[act_fn]
        self.proj_up = nn.Linear(dim, 2 * hidden, bias=False)
        self.proj_down = nn.Linear(hidden, dim, bias=False)
        self.dropout = nn.Dropout(dropout)
        small_init_(self.proj_up.weight, dim)
        wang_init_(self.proj_down.weight, dim, num_blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, up = self.proj_up(x).chunk(2, dim=-1)
        return self.dropout(self.proj_down(self.act(gate) * up))

"""The sLSTM layer: causal conv feeding the i/f gates, headwise gate projections, sLSTM cell."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .components import CausalConv1d, MultiHeadNorm, small_init_
from .config import SLSTMLayerConfig
from .functional import SLSTMState, slstm_sequence

SLSTMLayerState = tuple[torch.Tensor | None, SLSTMState]  # (conv history, cell state)


def forget_bias_init(num_heads: int, head_dim: int, kind: str, block_idx: int, num_blocks: int) -> torch.Tensor:
    """Forget-gate biases ``(NH, DH)``.

    ``powerlaw_blockdependent`` (reference default): per head, unit j gets
    ``-(-5 + 12 * (j / (DH-1)) ** (0.3 + 1.3 * r))`` with ``r = block_idx / (num_blocks - 1)``,
    i.e. +5 (long memory) at j = 0 down to -7; deeper blocks have more long-memory units.
    """
    if kind == "powerlaw_blockdependent":
        r = block_idx / (num_blocks - 1) if num_blocks > 1 else 0.0
        j = torch.arange(head_dim, dtype=torch.float32) / max(head_dim - 1, 1)
        row = -(-5.0 + 12.0 * j ** (0.3 + 1.3 * r))
    elif kind == "linspace":
        row = torch.linspace(3.0, 6.0, head_dim)
    else:
        raise ValueError(f"forget_bias_init must be 'powerlaw_blockdependent' or 'linspace'; got {kind!r}")
    return row.expand(num_heads, head_dim).clone()


class SLSTMLayer(nn.Module):
    """sLSTM layer on ``(B, S, E)``: ``E = NH * DH``, recurrent memory mixing within each head."""

    def __init__(self, embedding_dim: int, config: SLSTMLayerConfig | None = None, *,
                 block_idx: int = 0, num_blocks: int = 1, dropout: float = 0.0, backend: str = "auto"):
        super().__init__()
        cfg = config or SLSTMLayerConfig()
        self.config, self.backend = cfg, backend
        if embedding_dim % cfg.num_heads:
            raise ValueError(f"embedding_dim {embedding_dim} is not divisible by num_heads {cfg.num_heads}")
        NH, DH = cfg.num_heads, embedding_dim // cfg.num_heads
        self.num_heads, self.head_dim = NH, DH
        self.conv = CausalConv1d(embedding_dim, cfg.conv1d_kernel_size)
        # Headwise (block-diagonal) input maps: i, f read the conv output; z, o the raw input.
        self.w_if = nn.Parameter(torch.empty(NH, DH, 2, DH))
        self.w_zo = nn.Parameter(torch.empty(NH, DH, 2, DH))
        self.R = nn.Parameter(torch.zeros(NH, DH, 4, DH))
        self.b = nn.Parameter(torch.zeros(4, NH, DH))
        self.norm = MultiHeadNorm(NH, DH)
        self.dropout = nn.Dropout(dropout)
        small_init_(self.w_if, embedding_dim)
        small_init_(self.w_zo, embedding_dim)
        with torch.no_grad():
            self.b[1] = forget_bias_init(NH, DH, cfg.forget_bias_init, block_idx, num_blocks)

    def forward(self, x: torch.Tensor, state: SLSTMLayerState | None = None) -> tuple[torch.Tensor, SLSTMLayerState]:
        B, S, E = x.shape
        conv_state, cell_state = state if state is not None else (None, None)
        x_c, conv_state = self.conv(x, conv_state)
        x_c = F.silu(x_c)
        heads = lambda t: t.reshape(B, S, self.num_heads, self.head_dim)  # noqa: E731
        g_if = torch.einsum("bshd,hdge->bsghe", heads(x_c), self.w_if)
        g_zo = torch.einsum("bshd,hdge->bsghe", heads(x), self.w_zo)
        x_gates = torch.cat([g_if, g_zo], dim=2)  # (B, S, 4, NH, DH) in order i, f, z, o
        h, cell_state = slstm_sequence(x_gates, self.R, self.b, cell_state, backend=self.backend)
        return self.norm(self.dropout(h)), (conv_state, cell_state)

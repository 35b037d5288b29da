"""The mLSTM layer: pre-up-projection, causal conv, block-diagonal q/k/v, mLSTM cell, output gate."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .components import CausalConv1d, HeadwiseLinear, MultiHeadNorm, small_init_, wang_init_
from .config import MLSTMLayerConfig, round_up
from .functional import MLSTMState, mlstm_chunkwise, mlstm_step
from .functional._common import needs_grad

MLSTMLayerState = tuple[torch.Tensor | None, MLSTMState]  # (conv history, cell state)


def soft_cap(x: torch.Tensor, cap: float | None) -> torch.Tensor:
    return x if cap is None else cap * torch.tanh(x / cap)


class MLSTMLayer(nn.Module):
    """mLSTM layer of the xLSTM paper (Fig. 10), operating on ``(B, S, E)``.

    ``x -> up-projection -> [x_m | z]``; ``x_c = SiLU(conv(x_m))``; ``q, k`` from ``x_c`` and
    ``v`` from ``x_m`` through block-diagonal maps; scalar i/f gates per head from
    ``[q, k, v]``; ``h = (norm(cell(q, k, v)) + skip * x_c) * SiLU(z)``; down-projection.
    """

    def __init__(self, embedding_dim: int, config: MLSTMLayerConfig | None = None, *,
                 num_blocks: int = 1, dropout: float = 0.0, backend: str = "auto"):
        super().__init__()
        cfg = config or MLSTMLayerConfig()
        self.config, self.backend = cfg, backend
        E = embedding_dim
        inner = round_up(cfg.proj_factor * E, 64)
        if inner % cfg.num_heads:
            raise ValueError(f"inner dim {inner} is not divisible by num_heads {cfg.num_heads}")
        self.inner_dim, self.num_heads, self.head_dim = inner, cfg.num_heads, inner // cfg.num_heads
        self.proj_up = nn.Linear(E, 2 * inner, bias=cfg.bias)
        self.conv = CausalConv1d(inner, cfg.conv1d_kernel_size)
        self.q_proj = HeadwiseLinear(inner, cfg.qkv_proj_blocksize)
        self.k_proj = HeadwiseLinear(inner, cfg.qkv_proj_blocksize)
        self.v_proj = HeadwiseLinear(inner, cfg.qkv_proj_blocksize)
        self.gates = nn.Linear(3 * inner, 2 * cfg.num_heads, bias=True)  # [i | f]
        self.outnorm = MultiHeadNorm(cfg.num_heads, self.head_dim)
        self.skip = nn.Parameter(torch.ones(inner))
        self.proj_down = nn.Linear(inner, E, bias=cfg.bias)
        self.dropout = nn.Dropout(dropout)
        self.reset_parameters(num_blocks)

    def reset_parameters(self, num_blocks: int = 1) -> None:
        E = self.proj_up.in_features
        small_init_(self.proj_up.weight, E)
        wang_init_(self.proj_down.weight, E, num_blocks)
        for lin in (self.proj_up, self.proj_down):
            if lin.bias is not None:
                nn.init.zeros_(lin.bias)
        # Gates: zero weights; input bias ~ N(0, 0.1); forget bias linspace(3, 6) over heads
        # so that the heads start with memories of different lengths.
        nn.init.zeros_(self.gates.weight)
        NH = self.num_heads
        with torch.no_grad():
            self.gates.bias[:NH].normal_(0.0, 0.1)
            self.gates.bias[NH:].copy_(torch.linspace(3.0, 6.0, NH))

    def forward(self, x: torch.Tensor, state: MLSTMLayerState | None = None) -> tuple[torch.Tensor, MLSTMLayerState]:
        """``x (B, S, E)`` -> ``(y (B, S, E), state)``; ``state`` continues a previous call."""
        B, S, _ = x.shape
        conv_state, cell_state = state if state is not None else (None, None)
        x_m, z = self.proj_up(x).chunk(2, dim=-1)
        x_c, conv_state = self.conv(x_m, conv_state)
        x_c = F.silu(x_c)
        q, k, v = self.q_proj(x_c), self.k_proj(x_c), self.v_proj(x_m)
        gates = soft_cap(self.gates(torch.cat([q, k, v], dim=-1)), self.config.gate_soft_cap)
        i, f = gates.transpose(1, 2).chunk(2, dim=1)  # (B, NH, S) each

        def heads(t):
            return t.reshape(B, S, self.num_heads, self.head_dim).transpose(1, 2)

        # Streaming: the O(1) recurrent step, on the layer's backend like the sequence path. The
        # fused step kernel is forward-only, so under gradients a forced "triton" runs the token
        # through the (differentiable) chunkwise kernel instead; "auto" takes the torch step then.
        if S == 1 and cell_state is not None and not (self.backend == "triton" and needs_grad(q)):
            h, cell_state = mlstm_step(heads(q)[:, :, 0], heads(k)[:, :, 0], heads(v)[:, :, 0],
                                       i[:, :, 0], f[:, :, 0], cell_state, backend=self.backend)
            h = h[:, :, None]
        else:
            h, cell_state = mlstm_chunkwise(heads(q), heads(k), heads(v), i, f, cell_state,
                                            chunk_size=self.config.chunk_size, backend=self.backend)
        h = self.outnorm(h.transpose(1, 2))  # (B, S, inner)
        h = (h + self.skip * x_c) * F.silu(z)
        return self.dropout(self.proj_down(h)), (conv_state, cell_state)

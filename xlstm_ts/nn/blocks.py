"""Pre-norm residual xLSTM blocks and the stack ``xLSTM[a:b]``."""

from __future__ import annotations

import torch
from torch import nn

from .components import GatedFeedForward, LayerNorm
from .config import XLSTMStackConfig
from .mlstm_layer import MLSTMLayer
from .slstm_layer import SLSTMLayer


class MLSTMBlock(nn.Module):
    """``x + mLSTM(LN(x))`` (the mLSTM layer carries its own up-projection)."""

    def __init__(self, cfg: XLSTMStackConfig, block_idx: int):
        super().__init__()
        self.norm = LayerNorm(cfg.embedding_dim)
        self.layer = MLSTMLayer(cfg.embedding_dim, cfg.mlstm, num_blocks=cfg.num_blocks,
                                dropout=cfg.dropout, backend=cfg.backend)

    def forward(self, x, state=None):
        y, state = self.layer(self.norm(x), state)
        return x + y, state


class SLSTMBlock(nn.Module):
    """``x + sLSTM(LN(x))`` then ``x + FFN(LN(x))`` (post-up-projection)."""

    def __init__(self, cfg: XLSTMStackConfig, block_idx: int):
        super().__init__()
        E = cfg.embedding_dim
        self.norm = LayerNorm(E)
        self.layer = SLSTMLayer(E, cfg.slstm, block_idx=block_idx, num_blocks=cfg.num_blocks,
                                dropout=cfg.dropout, backend=cfg.backend)
        self.ffn_norm = LayerNorm(E)
        self.ffn = GatedFeedForward(E, cfg.feedforward.proj_factor, cfg.feedforward.act_fn,
                                    cfg.num_blocks, cfg.dropout)

    def forward(self, x, state=None):
        y, state = self.layer(self.norm(x), state)
        x = x + y
        return x + self.ffn(self.ffn_norm(x)), state


class XLSTMStack(nn.Module):
    """A stack of mLSTM/sLSTM blocks on ``(B, S, E)`` with no fixed context length.

    ``forward(x, state=None) -> (y, state)`` runs a sequence (chunkwise mLSTM, fused sLSTM);
    ``step(x_t, state) -> (y_t, state)`` advances one token in O(1) time and memory. The state
    is a list with one entry per block; its size does not depend on the sequence length, and
    running a sequence in pieces with the carried state equals running it whole.
    """

    def __init__(self, config: XLSTMStackConfig | dict | None = None):
        super().__init__()
        cfg = XLSTMStackConfig.from_dict(config) if isinstance(config, dict) else (config or XLSTMStackConfig())
        self.config = cfg
        slstm = set(cfg.slstm_positions())
        self.blocks = nn.ModuleList(
            SLSTMBlock(cfg, idx) if idx in slstm else MLSTMBlock(cfg, idx) for idx in range(cfg.num_blocks)
        )
        self.post_norm = LayerNorm(cfg.embedding_dim) if cfg.add_post_blocks_norm else nn.Identity()

    def forward(self, x: torch.Tensor, state: list | None = None) -> tuple[torch.Tensor, list]:
        if x.dim() != 3 or x.shape[-1] != self.config.embedding_dim:
            raise ValueError(f"XLSTMStack expects (B, S, {self.config.embedding_dim}); got {tuple(x.shape)}")
        state = state if state is not None else [None] * len(self.blocks)
        new_state = []
        for block, s in zip(self.blocks, state, strict=True):
            x, s = block(x, s)
            new_state.append(s)
        return self.post_norm(x), new_state

    def step(self, x_t: torch.Tensor, state: list | None = None) -> tuple[torch.Tensor, list]:
        """One token ``x_t (B, E)`` -> ``(y_t (B, E), state)``."""
        y, state = self.forward(x_t[:, None], state)
        return y[:, 0], state

"""Pre-norm residual xLSTM blocks and the stack ``xLSTM[a:b]``."""

from __future__ import annotations

import torch
from torch import nn

from .components import GatedFeedForward, LayerNorm
from .config import XLSTMStackConfig
from .functional import MLSTMState, SLSTMState
from .mlstm_layer import MLSTMLayer
from .slstm_layer import SLSTMLayer


class MLSTMBlock(nn.Module):
    """``x + mLSTM(LN(x))`` (the mLSTM layer carries its own up-projection)."""

    kind, cell_state_type = "mLSTM", MLSTMState

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

    kind, cell_state_type = "sLSTM", SLSTMState

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


def _fields(block: type[nn.Module]) -> str:
    return "(" + ", ".join(block.cell_state_type._fields) + ")"


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
        if state is None:
            state = [None] * len(self.blocks)
        else:
            self._check_state(state, x.shape[0])
        new_state = []
        for block, s in zip(self.blocks, state, strict=True):
            x, s = block(x, s)
            new_state.append(s)
        return self.post_norm(x), new_state

    def step(self, x_t: torch.Tensor, state: list | None = None) -> tuple[torch.Tensor, list]:
        """One token ``x_t (B, E)`` -> ``(y_t (B, E), state)``."""
        if x_t.dim() != 2:
            raise ValueError(f"XLSTMStack.step expects one token (B, {self.config.embedding_dim}); got {tuple(x_t.shape)}")
        y, state = self.forward(x_t[:, None], state)
        return y[:, 0], state

    def _check_state(self, state: list, batch: int) -> None:
        """Refuse a state made by another stack (block count or kinds) or for another batch size.

        A wrong state otherwise fails deep inside torch.cat or zip, or (sLSTM, batch 1) silently
        broadcasts. The per-tensor shapes are checked where each part is used: the conv history
        in ``CausalConv1d``, the cell states in the mLSTM and sLSTM functions.
        """
        kinds = [block.kind for block in self.blocks]
        if not isinstance(state, (list, tuple)) or len(state) != len(kinds):
            got = f"{len(state)} entries" if isinstance(state, (list, tuple)) else f"a {type(state).__name__}"
            raise ValueError(f"state must be a list with one entry per block, {len(kinds)} for this stack "
                             f"({kinds}); got {got}")
        cell_kinds = {len(b.cell_state_type._fields): b for b in (MLSTMBlock, SLSTMBlock)}
        for idx, (block, s) in enumerate(zip(self.blocks, state, strict=True)):
            if s is None:
                continue
            if not isinstance(s, (list, tuple)) or len(s) != 2:
                raise ValueError(f"state[{idx}] must be a pair (conv state, cell state) or None; got {type(s).__name__}"
                                 + (f" of length {len(s)}" if isinstance(s, (list, tuple)) else ""))
            conv, cell = s
            if cell is not None and len(cell) != len(block.cell_state_type._fields):
                other = cell_kinds.get(len(cell))
                what = f"an {other.kind} cell state {_fields(other)}" if other else f"{len(cell)} cell tensors"
                raise ValueError(f"state[{idx}] holds {what}, but block {idx} is an {block.kind} block with cell "
                                 f"state {_fields(block)}; this stack's blocks are {kinds}")
            for t in (conv, *(cell if cell is not None else ())):
                if t is not None and t.shape[0] != batch:
                    raise ValueError(f"state[{idx}] is for batch size {t.shape[0]}, but the input has batch size {batch}")

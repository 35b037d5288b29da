"""``XLSTMLanguageModel``: token embedding -> XLSTMStack (its post norm is the final norm) -> LM head."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from xlstm_ts.nn import XLSTMStack, XLSTMStackConfig
from xlstm_ts.nn.components import small_init_

from .base import LanguageModel, soft_cap
from .fast_step import stack_step, supports_fast_step


@dataclass
class XLSTMLMConfig:
    """Attributes:
    vocab_size: number of token ids.
    stack: the :class:`XLSTMStackConfig` (as a dataclass or dict); ``add_post_blocks_norm``
        must stay on, it is the model's final norm.
    tie_weights: share the embedding matrix with the LM head.
    logit_soft_cap: ``cap * tanh(logits / cap)`` on the output (None: off).
    embedding_dropout: dropout after the embedding.
    """

    vocab_size: int
    stack: XLSTMStackConfig | dict = field(default_factory=XLSTMStackConfig)
    tie_weights: bool = False
    logit_soft_cap: float | None = 30.0
    embedding_dropout: float = 0.0

    def __post_init__(self):
        if isinstance(self.stack, dict):
            self.stack = XLSTMStackConfig.from_dict(self.stack)
        if not self.stack.add_post_blocks_norm:
            raise ValueError("XLSTMLanguageModel uses the stack's post norm as its final norm; "
                             "keep add_post_blocks_norm=True")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["stack"] = self.stack.to_dict()
        return d


class XLSTMLanguageModel(LanguageModel):
    """xLSTM LM (NX-AI ``xLSTMLMModel``): no positional encoding, no context limit.

    ``forward(idx (B, S), state=None) -> (logits (B, S, V), state)`` uses the chunkwise mLSTM
    and the fused sLSTM; :meth:`step` advances the recurrent state by one token in O(1) time
    and memory (the state size does not depend on how many tokens it has seen).
    """

    kind = "xlstm"

    def __init__(self, config: XLSTMLMConfig | dict):
        super().__init__()
        cfg = config if isinstance(config, XLSTMLMConfig) else XLSTMLMConfig(**config)
        self.config = cfg
        self.fast_step = True
        E = cfg.stack.embedding_dim
        self.embedding = nn.Embedding(cfg.vocab_size, E)
        self.embedding_dropout = nn.Dropout(cfg.embedding_dropout)
        self.stack = XLSTMStack(cfg.stack)
        self.lm_head = nn.Linear(E, cfg.vocab_size, bias=False)
        if cfg.tie_weights:
            self.lm_head.weight = self.embedding.weight
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Reference init (the stack initialises itself): small-init embedding and untied head."""
        E = self.config.stack.embedding_dim
        small_init_(self.embedding.weight, E)
        if not self.config.tie_weights:
            small_init_(self.lm_head.weight, E)

    def config_dict(self) -> dict:
        return self.config.to_dict()

    def init_state(self, batch_size: int, capacity: int | None = None):
        return None  # the stack starts from its empty state

    def forward(self, idx: torch.Tensor, state: list | None = None):
        x = self.embedding_dropout(self.embedding(idx))
        y, state = self.stack(x, state)
        return soft_cap(self.lm_head(y), self.config.logit_soft_cap), state

    def _fast_ok(self) -> bool:
        key = (self.stack.config.backend, self.embedding.weight.dtype, self.embedding.weight.device.type)
        if self.__dict__.get("_fast_key") != key:  # checked once per dtype/device, not per token
            self.__dict__["_fast_key"], self.__dict__["_fast_val"] = key, supports_fast_step(self.stack)
        return self.__dict__["_fast_val"]

    def step(self, idx_t: torch.Tensor, state):
        """One token ``(B,)`` -> ``(logits (B, V), state)``. In eval mode the lean CPU step of
        :mod:`xlstm_ts.lm.fast_step` is used (same numbers, fewer ops); set
        ``model.fast_step = False`` to use ``XLSTMStack.step``."""
        x = self.embedding(idx_t)
        if self.fast_step and not self.training and self._fast_ok():
            y, state = stack_step(self.stack, x, state)
        else:
            y, state = self.stack.step(x, state)
        return soft_cap(self.lm_head(y), self.config.logit_soft_cap), state

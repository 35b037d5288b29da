from __future__ import annotations

import pytest
import torch

from xlstm_ts.lm import (
    TransformerLanguageModel,
    TransformerLMConfig,
    XLSTMLanguageModel,
    XLSTMLMConfig,
)
from xlstm_ts.nn import MLSTMLayerConfig, SLSTMLayerConfig, XLSTMStackConfig

V = 40


def tiny_xlstm(slstm_at="1:0", *, tie=False, E=32, num_blocks=2, chunk=8, seed=0, vocab=V, **kw) -> XLSTMLanguageModel:
    torch.manual_seed(seed)
    cfg = XLSTMLMConfig(vocab_size=vocab, tie_weights=tie, stack=XLSTMStackConfig(
        embedding_dim=E, num_blocks=num_blocks, slstm_at=slstm_at,
        mlstm=MLSTMLayerConfig(num_heads=2, chunk_size=chunk), slstm=SLSTMLayerConfig(num_heads=2),
        backend="torch"), **kw)
    return XLSTMLanguageModel(cfg).eval()


def tiny_transformer(*, positions="rotary", tie=False, seed=0, **kw) -> TransformerLanguageModel:
    torch.manual_seed(seed)
    cfg = TransformerLMConfig(vocab_size=V, dim=32, num_layers=2, num_heads=4, positions=positions,
                              max_positions=128, tie_weights=tie, **kw)
    return TransformerLanguageModel(cfg).eval()


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny ops: threads only add synchronisation overhead
    yield
    torch.set_num_threads(n)

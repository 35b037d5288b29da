"""Language modelling with xLSTM: models, a Transformer baseline, tokenizer, data, training, studies."""

from .base import LanguageModel, sample_next, soft_cap, state_nbytes
from .data import FixedBlocks, RandomBlocks, TextData, read_corpus
from .persist import build_model, load, save
from .tokenizer import CharTokenizer
from .training import LMModule, TrainResult, evaluate_loss, train_lm
from .transformer import (
    KVCache,
    TransformerLanguageModel,
    TransformerLMConfig,
    match_transformer,
    transformer_params,
)
from .xlstm_lm import XLSTMLanguageModel, XLSTMLMConfig

__all__ = [
    "CharTokenizer",
    "FixedBlocks",
    "KVCache",
    "LMModule",
    "LanguageModel",
    "RandomBlocks",
    "TextData",
    "TrainResult",
    "TransformerLMConfig",
    "TransformerLanguageModel",
    "XLSTMLMConfig",
    "XLSTMLanguageModel",
    "build_model",
    "evaluate_loss",
    "load",
    "match_transformer",
    "read_corpus",
    "sample_next",
    "save",
    "soft_cap",
    "state_nbytes",
    "train_lm",
    "transformer_params",
]

"""xLSTM modules: functional cells, layers, blocks and the residual stack."""

from .blocks import MLSTMBlock, SLSTMBlock, XLSTMStack
from .config import FeedForwardConfig, MLSTMLayerConfig, SLSTMLayerConfig, XLSTMStackConfig
from .mlstm_layer import MLSTMLayer
from .slstm_layer import SLSTMLayer

__all__ = [
    "FeedForwardConfig",
    "MLSTMBlock",
    "MLSTMLayer",
    "MLSTMLayerConfig",
    "SLSTMBlock",
    "SLSTMLayer",
    "SLSTMLayerConfig",
    "XLSTMStack",
    "XLSTMStackConfig",
]

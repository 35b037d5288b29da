"""Forecasting models behind one interface (``forward(batch) -> (B, H, C, Q)``), a registry,
training losses and YAML presets.

>>> spec = ModelSpec(lookback=336, horizon=96, n_channels=7)
>>> model = build_model("xlstm_patch", spec, xlstm={"num_blocks": 1})
"""

from .base import ForecastModel, ModelSpec, resolve_hparams
from .baselines import DLinear, Naive, SeasonalNaive, season_length_for
from .layers import RevIN, num_patches, patchify
from .losses import LOSSES, ForecastLoss, QuantileLoss, make_loss
from .patchtst import PatchTST
from .registry import (
    MODELS,
    build_from_preset,
    build_model,
    get_model_class,
    list_presets,
    load_preset,
    model_hparams,
)
from .xlstm_mixer import XLSTMMixer
from .xlstm_patch import XLSTMPatch

__all__ = [
    "LOSSES",
    "MODELS",
    "DLinear",
    "ForecastLoss",
    "ForecastModel",
    "ModelSpec",
    "Naive",
    "PatchTST",
    "QuantileLoss",
    "RevIN",
    "SeasonalNaive",
    "XLSTMMixer",
    "XLSTMPatch",
    "build_from_preset",
    "build_model",
    "get_model_class",
    "list_presets",
    "load_preset",
    "make_loss",
    "model_hparams",
    "num_patches",
    "patchify",
    "resolve_hparams",
    "season_length_for",
]

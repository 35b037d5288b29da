"""Save and load language models: ``config.json`` + ``model.safetensors`` via :mod:`xlstm_ts.persist`."""

from __future__ import annotations

import os
from pathlib import Path

from xlstm_ts.persist import ModelFileError, load_directory, save_directory

from .base import LanguageModel
from .tokenizer import CharTokenizer
from .transformer import TransformerLanguageModel
from .xlstm_lm import XLSTMLanguageModel

MODEL_CLASSES: dict[str, type[LanguageModel]] = {
    XLSTMLanguageModel.kind: XLSTMLanguageModel,
    TransformerLanguageModel.kind: TransformerLanguageModel,
}


def build_model(kind: str, config: dict) -> LanguageModel:
    if kind not in MODEL_CLASSES:
        raise ValueError(f"unknown language model kind {kind!r}; known: {sorted(MODEL_CLASSES)}")
    return MODEL_CLASSES[kind](config)


def save(model: LanguageModel, path: str | os.PathLike, tokenizer: CharTokenizer | None = None,
         extra: dict | None = None) -> Path:
    """Atomically write the model (and its tokenizer) to the directory ``path``; no pickle.

    A tied LM head is stored once (as the embedding) and re-tied on load.
    """
    sd = {k: v for k, v in model.state_dict().items()}
    if model.config.tie_weights:
        sd.pop("lm_head.weight", None)
    config = {"kind": "xlstm_ts.lm", "model_kind": model.kind, "model": model.config_dict(),
              "tokenizer": tokenizer.to_dict() if tokenizer is not None else None, "extra": extra or {}}
    return save_directory(path, config, {"model": sd})


def load(path: str | os.PathLike) -> tuple[LanguageModel, CharTokenizer | None]:
    """Read a directory written by :func:`save`; returns ``(model in eval mode, tokenizer or None)``."""
    config, groups = load_directory(path)
    if config.get("kind") != "xlstm_ts.lm" or "model" not in groups:
        raise ModelFileError(f"{str(path)!r} is not an xlstm_ts.lm model directory")
    model = build_model(config["model_kind"], config["model"])
    missing, unexpected = model.load_state_dict(groups["model"], strict=False)
    allowed = {"lm_head.weight"} if model.config.tie_weights else set()
    if set(missing) - allowed or unexpected:
        raise ModelFileError(f"{path}: weights do not match the config (missing {missing}, unexpected {unexpected})")
    tok = CharTokenizer.from_dict(config["tokenizer"]) if config.get("tokenizer") else None
    return model.eval(), tok

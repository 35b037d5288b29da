"""Model registry: ``MODELS``, ``build_model``, ``model_hparams`` and YAML presets."""

from __future__ import annotations

import copy
import importlib.resources
from pathlib import Path
from typing import Any

import yaml

from .._dicts import deep_merge
from .._names import did_you_mean
from .base import ForecastModel, ModelSpec
from .baselines import DLinear, Naive, SeasonalNaive
from .patchtst import PatchTST
from .xlstm_mixer import XLSTMMixer
from .xlstm_patch import XLSTMPatch

MODELS: dict[str, type[ForecastModel]] = {
    cls.name: cls for cls in (XLSTMPatch, XLSTMMixer, PatchTST, DLinear, Naive, SeasonalNaive)
}

# Streaming models (class attribute ``streaming = True``) follow a different training protocol
# (TBPTT over whole series, see :mod:`xlstm_ts.streaming`), so they are kept out of the windowed
# registry that the model tests and the benchmark grid iterate over; ``build_model``,
# ``model_hparams`` and ``XLSTMForecaster(model=...)`` find them by name all the same.
# (Imported on first use: ``xlstm_ts.streaming`` builds on ``xlstm_ts.models``.)
def streaming_models() -> dict[str, type[ForecastModel]]:
    """The streaming models by name (``"xlstm_stream"``)."""
    from ..streaming.model import XLSTMStream

    return {XLSTMStream.name: XLSTMStream}


def get_model_class(name: str) -> type[ForecastModel]:
    try:
        return MODELS[name]
    except (KeyError, TypeError):
        pass
    streaming = streaming_models()
    try:
        return streaming[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown model {name!r}{did_you_mean([name], MODELS | streaming)}; valid models: {sorted(MODELS | streaming)}") from None


def model_hparams(name: str) -> dict[str, Any]:
    """The default hparams of model ``name`` (a copy; JSON-able)."""
    return copy.deepcopy(get_model_class(name).defaults)


def resolved_hparams(name: str, hparams: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every hparam that defines model ``name`` built with ``hparams``: the class defaults merged
    with ``hparams``, and the nested ``xlstm`` stack config expanded to all its fields (so that a
    change of any default, down to the stack's, shows up — the benchmark's cell signatures hash
    this)."""
    from ..nn import XLSTMStackConfig
    from .base import resolve_hparams

    cls = get_model_class(name)
    hp = resolve_hparams(name, copy.deepcopy(cls.defaults), copy.deepcopy(hparams or {}))
    if isinstance(hp.get("xlstm"), dict):
        hp["xlstm"] = XLSTMStackConfig.from_dict(hp["xlstm"]).to_dict()
    return hp


def build_model(name: str, spec: ModelSpec | dict[str, Any], **hparams: Any) -> ForecastModel:
    """Instantiate model ``name`` for ``spec``; ``hparams`` override the defaults (nested dicts merge)."""
    return get_model_class(name)(spec, **hparams)


def _preset_dir():
    return importlib.resources.files("xlstm_ts._configs") / "models"


def list_presets() -> list[str]:
    """Names of the bundled presets (``configs/models/*.yaml``)."""
    d = _preset_dir()
    return sorted(p.name[:-5] for p in d.iterdir() if p.name.endswith(".yaml")) if d.is_dir() else []


def load_preset(name_or_path: str | Path) -> dict[str, Any]:
    """``{"model": name, "hparams": {...}}`` from a bundled preset name or a YAML file path.

    The model name and hparam names are validated (nested xLSTM configs are checked when the
    model is built).
    """
    s = str(name_or_path)
    path = Path(s)
    if s.endswith((".yaml", ".yml")) or path.is_file():
        if not path.is_file():
            raise ValueError(f"preset file {s!r} does not exist")
        text = path.read_text()
    else:
        res = _preset_dir() / f"{s}.yaml"
        if not res.is_file():
            raise ValueError(f"unknown preset {s!r}{did_you_mean([s], list_presets())}; bundled presets: {list_presets()}")
        text = res.read_text()
    data = yaml.safe_load(text) or {}
    if not isinstance(data, dict) or "model" not in data:
        raise ValueError(f"preset {s!r} must be a mapping with keys 'model' and 'hparams'")
    unknown = sorted(set(data) - {"model", "hparams", "description"})
    if unknown:
        raise ValueError(f"preset {s!r} has unknown keys {unknown}{did_you_mean(unknown, ['description', 'hparams', 'model'])}; valid: ['description', 'hparams', 'model']")
    cls = get_model_class(data["model"])
    hparams = data.get("hparams") or {}
    if not isinstance(hparams, dict):
        raise ValueError(f"preset {s!r}: 'hparams' must be a mapping")
    bad = sorted(set(hparams) - set(cls.defaults))
    if bad:
        raise ValueError(f"preset {s!r}: unknown hparams {bad}{did_you_mean(bad, cls.defaults)} for model "
                         f"{data['model']!r}; valid hparams: {sorted(cls.defaults)}")
    return {"model": data["model"], "hparams": hparams}


def build_from_preset(name_or_path: str | Path, spec: ModelSpec | dict[str, Any], **overrides: Any) -> ForecastModel:
    """Build the model of a preset; ``overrides`` are merged over the preset's hparams."""
    p = load_preset(name_or_path)
    hp = deep_merge(p["hparams"], overrides, strict="hparam ")
    return build_model(p["model"], spec, **hp)

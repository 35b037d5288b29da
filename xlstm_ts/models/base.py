"""The common model interface: :class:`ModelSpec`, :class:`ForecastModel` and hparam resolution."""

from __future__ import annotations

import copy
import dataclasses
import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from xlstm_ts._dicts import deep_merge
from xlstm_ts._names import did_you_mean
from xlstm_ts._scalars import is_int, is_number


@dataclass
class ModelSpec:
    """Shapes a model is built for; filled by the caller from the data.

    Attributes:
        lookback: L, past steps in ``batch["x"]``.
        horizon: H, steps to forecast.
        n_channels: C, target channels.
        n_futr: F, dynamic covariates, given for L+H steps in ``batch["x_futr"]``.
        n_hist: P <= F, how many of them (the last P columns of ``x_futr``) are past-only:
            known up to the forecast origin only (neuralforecast's ``hist_exog``, darts'
            ``past_covariates``). :meth:`ForecastModel.forward` zeroes their H future rows before
            the network sees them, so no value after the origin can leak into a forecast.
        n_static: static covariates per series in ``batch["static"]``.
        n_outputs: Q, outputs per step and channel (1 for point losses, the number of
            quantiles for the quantile loss).
    """

    lookback: int
    horizon: int
    n_channels: int
    n_futr: int = 0
    n_static: int = 0
    n_outputs: int = 1
    n_hist: int = 0

    def __post_init__(self):
        for name in ("lookback", "horizon", "n_channels", "n_outputs"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"ModelSpec.{name} must be a positive int; got {v!r}")
        for name in ("n_futr", "n_static", "n_hist"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError(f"ModelSpec.{name} must be a non-negative int; got {v!r}")
        if self.n_hist > self.n_futr:
            raise ValueError(f"ModelSpec.n_hist ({self.n_hist}) counts the past-only columns among the "
                             f"n_futr ({self.n_futr}) covariate columns: it cannot exceed n_futr")

    def to_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any] | ModelSpec) -> ModelSpec:
        if isinstance(d, cls):
            return d
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - fields)
        if unknown:
            raise ValueError(f"unknown ModelSpec keys {unknown}{did_you_mean(unknown, fields)}; valid keys: {sorted(fields)}")
        return cls(**d)


def mask_past_only(futr: torch.Tensor, lookback: int, n_hist: int) -> torch.Tensor:
    """``futr (..., L+H, F)`` with the future rows (``L:``) of its last ``n_hist`` columns zeroed.

    Past-only covariates are unknown after the forecast origin; whatever a caller put there
    (true values in training windows and backtests, anything at predict time) must not reach
    the network. Zero is the training mean of a standardised covariate.
    """
    if not n_hist:
        return futr
    futr = futr.clone()
    futr[..., lookback:, futr.shape[-1] - n_hist:] = 0
    return futr


def resolve_hparams(model_name: str, defaults: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """Defaults updated with ``given``; an unknown top-level name raises a ValueError listing the valid ones."""
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise ValueError(f"unknown hparams {unknown}{did_you_mean(unknown, defaults)} for model {model_name!r}; "
                         f"valid hparams: {sorted(defaults)}")
    # Nested dicts (e.g. the xLSTM stack config) are validated by their own dataclass.
    return deep_merge(defaults, given, strict="hparam ")


#: ``(low, high)`` bounds of a numeric hparam, ``low <= value < high`` (None: unbounded).
Range = tuple[float | None, float | None]
POSITIVE: Range = (1, None)  # sizes and counts
NON_NEGATIVE: Range = (0, None)
RATE: Range = (0, 1)  # dropout rates: 1.0 would zero every activation

_KINDS = {bool: "a bool (True or False)", int: "an int", float: "a number", str: "a string"}


def _describe(kind: type, rng: Range | None) -> str:
    if rng is None:
        return _KINDS[kind]
    low, high = rng
    if kind is int and low == 1 and high is None:
        return "a positive int"
    if low is not None and high is not None:
        return f"{_KINDS[kind]} in [{low}, {high})"
    return f"{_KINDS[kind]} >= {low}" if low is not None else f"{_KINDS[kind]} < {high}"


def check_hparams(model_name: str, defaults: dict[str, Any], hparams: dict[str, Any],
                  ranges: dict[str, Range]) -> dict[str, Any]:
    """``hparams`` (resolved) with every scalar checked against the type of its default and its range.

    A bool default takes only a bool (``"false"`` would be truthy), an int default only an int
    (numpy ints too; not a bool, not ``16.0``), a float default any finite number but a bool, a
    str default a str. Ranges come from ``ranges``; hparams named ``dropout`` / ``*_dropout`` are
    rates in [0, 1) unless ``ranges`` says otherwise. Hparams whose default is None or a dict
    (checked by its own dataclass) are left to the model. Numpy scalars come back as Python
    numbers, so the hparams stay JSON-able.

    Raises:
        ValueError: naming the model, the hparam, the value and what it must be.
    """
    out = dict(hparams)
    for name, default in defaults.items():
        value = out[name]
        kind = type(default)
        if kind not in _KINDS:
            continue  # None or a nested dict
        rng = ranges.get(name, RATE if name == "dropout" or name.endswith("_dropout") else None)
        if kind is bool:
            ok = isinstance(value, (bool, np.bool_))
        elif kind is int:
            ok = is_int(value)
        elif kind is float:
            ok = is_number(value) and math.isfinite(value)
        else:
            ok = isinstance(value, str)
        if ok and rng is not None:
            low, high = rng
            ok = (low is None or value >= low) and (high is None or value < high)
        if not ok:
            raise ValueError(f"{model_name}: hparam {name!r} must be {_describe(kind, rng)}; got {value!r}")
        if isinstance(value, np.generic):
            out[name] = value.item()
    return out


class ForecastModel(nn.Module):
    """Base class: ``forward(batch) -> (B, H, C, Q)``.

    ``batch["x"]`` is ``(B, L, C)`` (scaled per series by the data pipeline);
    ``batch.get("x_futr")`` is ``(B, L+H, F)`` and ``batch.get("static")`` ``(B, n_static)``.
    Inputs the spec does not declare (``n_futr=0`` / ``n_static=0``) are ignored, so a model
    can be built without covariates on data that has them.

    Subclasses set ``name``, ``defaults`` (JSON-able hparams; their types are the types the
    hparams must have, see :func:`check_hparams`), ``ranges`` (bounds of numeric hparams) and
    implement ``_forward``. A subclass that sets ``self.revin`` (a ``RevIN`` or None) gets instance
    normalisation around ``_forward`` from :meth:`forward`. ``trainable = False`` marks models with nothing to fit (the trainer
    can skip them; they cannot use covariates either). ``past_covariates = True`` marks models
    that read the past rows of ``x_futr`` (so past-only covariates, ``spec.n_hist``, inform them);
    the others use only its future rows and refuse ``n_hist > 0`` rather than ignore them. ``added_hparams`` lists hparams added after
    benchmark results were recorded, with the value that keeps the old behaviour: at that value
    they are left out of cell signatures, so finished cells stay finished.
    """

    name: ClassVar[str] = ""
    defaults: ClassVar[dict[str, Any]] = {}
    ranges: ClassVar[dict[str, Range]] = {}
    trainable: ClassVar[bool] = True
    past_covariates: ClassVar[bool] = False
    added_hparams: ClassVar[dict[str, Any]] = {}

    def __init__(self, spec: ModelSpec | dict[str, Any], **hparams: Any):
        super().__init__()
        self.spec = ModelSpec.from_dict(spec)
        name = self.name or type(self).__name__
        if self.spec.n_hist and not self.past_covariates:
            raise ValueError(f"model {name!r} uses only the future rows of the covariates, so it would ignore "
                             f"past-only covariates (n_hist={self.spec.n_hist}); models that read them: "
                             f"{past_covariate_models()}")
        self.hparams: dict[str, Any] = check_hparams(name, self.defaults, resolve_hparams(name, self.defaults, hparams),
                                                     self.ranges)

    # -- public -------------------------------------------------------------------------
    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        x, futr, static = self.check_batch(batch)
        if futr is not None:
            futr = mask_past_only(futr, self.spec.lookback, self.spec.n_hist)
        # A model with a ``revin`` submodule (``RevIN`` or None) sees each window normalised per
        # channel, and its forecast is de-normalised here; ``_forward`` works in normalised units.
        revin = getattr(self, "revin", None)
        if revin is None:
            return self._forward(x, futr, static)
        x, stats = revin.normalize(x)
        return revin.denormalize(self._forward(x, futr, static), stats)

    def config(self) -> dict[str, Any]:
        """``{"model", "spec", "hparams"}``: enough to rebuild it with :func:`build_model`."""
        return {"model": self.name, "spec": self.spec.to_dict(), "hparams": copy.deepcopy(self.hparams)}

    def num_parameters(self, trainable_only: bool = True) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)

    def check_batch(self, batch: dict[str, torch.Tensor]):
        """Validate shapes; return ``(x, x_futr or None, static or None)`` as declared by the spec."""
        s = self.spec
        if not isinstance(batch, dict) or "x" not in batch:
            raise ValueError(f"{self.name}: batch must be a dict with key 'x'")
        x = batch["x"]
        if x.dim() != 3 or x.shape[1] != s.lookback or x.shape[2] != s.n_channels:
            raise ValueError(f"{self.name}: batch['x'] must be (B, {s.lookback}, {s.n_channels}); got {tuple(x.shape)}")
        B = x.shape[0]
        futr = static = None
        if s.n_futr:
            futr = batch.get("x_futr")
            want = (B, s.lookback + s.horizon, s.n_futr)
            if futr is None or tuple(futr.shape) != want:
                got = None if futr is None else tuple(futr.shape)
                raise ValueError(f"{self.name}: spec has n_futr={s.n_futr}, so batch['x_futr'] must be {want}; got {got}")
            futr = futr.to(x.dtype)
        if s.n_static:
            static = batch.get("static")
            want = (B, s.n_static)
            if static is None or tuple(static.shape) != want:
                got = None if static is None else tuple(static.shape)
                raise ValueError(f"{self.name}: spec has n_static={s.n_static}, so batch['static'] must be {want}; got {got}")
            static = static.to(x.dtype)
        return x, futr, static

    def _forward(self, x: torch.Tensor, futr: torch.Tensor | None, static: torch.Tensor | None) -> torch.Tensor:
        raise NotImplementedError


def past_covariate_models() -> list[str]:
    """Names of the models that read past-only covariates (``past_covariates = True``)."""
    from .registry import MODELS, streaming_models

    return sorted(n for n, cls in (MODELS | streaming_models()).items() if cls.past_covariates)

    def extra_repr(self) -> str:
        return f"spec={self.spec}"

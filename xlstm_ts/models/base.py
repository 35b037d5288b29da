"""The common model interface: :class:`ModelSpec`, :class:`ForecastModel` and hparam resolution."""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn


@dataclass
class ModelSpec:
    """Shapes a model is built for; filled by the caller from the data.

    Attributes:
        lookback: L, past steps in ``batch["x"]``.
        horizon: H, steps to forecast.
        n_channels: C, target channels.
        n_futr: F, future-known covariates, given for L+H steps in ``batch["x_futr"]``.
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

    def __post_init__(self):
        for name in ("lookback", "horizon", "n_channels", "n_outputs"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"ModelSpec.{name} must be a positive int; got {v!r}")
        for name in ("n_futr", "n_static"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError(f"ModelSpec.{name} must be a non-negative int; got {v!r}")

    def to_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any] | ModelSpec) -> ModelSpec:
        if isinstance(d, cls):
            return d
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - fields)
        if unknown:
            raise ValueError(f"unknown ModelSpec keys {unknown}; valid keys: {sorted(fields)}")
        return cls(**d)


def _merge(defaults: dict[str, Any], given: dict[str, Any], where: str, check_keys: bool) -> dict[str, Any]:
    """Deep-merge ``given`` into a copy of ``defaults``; unknown keys are errors when ``check_keys``."""
    out = copy.deepcopy(defaults)
    for key, value in given.items():
        if check_keys and key not in defaults:
            raise ValueError(f"unknown hparam {where}{key!r}; valid hparams: {sorted(defaults)}")
        if isinstance(out.get(key), dict):
            if not isinstance(value, dict):
                raise ValueError(f"hparam {where}{key!r} must be a dict; got {type(value).__name__}")
            # Nested dicts (e.g. the xLSTM stack config) are validated by their own dataclass.
            out[key] = _merge(out[key], value, f"{where}{key}.", check_keys=False)
        else:
            out[key] = copy.deepcopy(value)
    return out


def resolve_hparams(model_name: str, defaults: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """Defaults updated with ``given``; an unknown top-level name raises a ValueError listing the valid ones."""
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise ValueError(f"unknown hparams {unknown} for model {model_name!r}; valid hparams: {sorted(defaults)}")
    return _merge(defaults, given, "", check_keys=True)


class ForecastModel(nn.Module):
    """Base class: ``forward(batch) -> (B, H, C, Q)``.

    ``batch["x"]`` is ``(B, L, C)`` (scaled per series by the data pipeline);
    ``batch.get("x_futr")`` is ``(B, L+H, F)`` and ``batch.get("static")`` ``(B, n_static)``.
    Inputs the spec does not declare (``n_futr=0`` / ``n_static=0``) are ignored, so a model
    can be built without covariates on data that has them.

    Subclasses set ``name``, ``defaults`` (JSON-able hparams) and implement ``_forward``.
    ``trainable = False`` marks models with nothing to fit (the trainer can skip them).
    """

    name: ClassVar[str] = ""
    defaults: ClassVar[dict[str, Any]] = {}
    trainable: ClassVar[bool] = True

    def __init__(self, spec: ModelSpec | dict[str, Any], **hparams: Any):
        super().__init__()
        self.spec = ModelSpec.from_dict(spec)
        self.hparams: dict[str, Any] = resolve_hparams(self.name or type(self).__name__, self.defaults, hparams)

    # -- public -------------------------------------------------------------------------
    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        x, futr, static = self.check_batch(batch)
        return self._forward(x, futr, static)

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

    def extra_repr(self) -> str:
        return f"spec={self.spec}"

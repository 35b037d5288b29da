"""Baselines behind the common interface: ``naive``, ``seasonal_naive``, ``dlinear``."""

from __future__ import annotations

import re
from typing import Any, ClassVar

import pandas as pd
import torch
from torch import nn

from .base import POSITIVE, ForecastModel, Range
from .layers import ChannelLinear, CovariateHead, RevIN, moving_average


class _NoFit(ForecastModel):
    """A model with nothing to learn: ``trainable = False``.

    It holds one zero-size parameter, and its output depends on it (through a sum of zero
    elements), so a generic trainer that does not skip it still runs: the optimizer gets a
    non-empty parameter list and ``loss.backward()`` has a graph. Nothing changes.
    """

    trainable: ClassVar[bool] = False

    def __init__(self, spec, **hparams):
        super().__init__(spec, **hparams)
        self._dummy = nn.Parameter(torch.zeros(0))

    def _tie(self, out: torch.Tensor) -> torch.Tensor:
        return out + self._dummy.sum().to(out.dtype) if torch.is_grad_enabled() else out


class Naive(_NoFit):
    """Repeat the last observed value over the horizon (and all Q outputs)."""

    name: ClassVar[str] = "naive"
    defaults: ClassVar[dict[str, Any]] = {}

    def _forward(self, x, futr, static):
        s = self.spec
        out = x[:, -1:, :, None].expand(-1, s.horizon, -1, s.n_outputs)
        return self._tie(out.clone())


def season_length_for(index: pd.Index) -> int:
    """Seasonal-naive period from the sampling step: one day of sub-daily data, a week of
    daily data, a year (52) of weekly data, else 1."""
    if not isinstance(index, pd.DatetimeIndex) or len(index) < 3:
        return 1
    step = pd.Series(index[:1001]).diff().dropna().median()
    day, week = pd.Timedelta(days=1), pd.Timedelta(days=7)
    if step < day:
        return max(1, int(round(day / step)))
    if step == day:
        return 7
    if step == week:
        return 52
    return 1


class SeasonalNaive(_NoFit):
    """``y[t + h] = x[t + h - m * ceil(h / m)]``: the last season repeated over the horizon.

    ``season_length`` m is an int here. ``"auto"`` (the default of ``XLSTMForecaster`` and of
    the benchmark) is resolved from the data's time index by :func:`season_length_for` before
    the model is built.
    """

    name: ClassVar[str] = "seasonal_naive"
    defaults: ClassVar[dict[str, Any]] = {"season_length": 24}
    ranges: ClassVar[dict[str, Range]] = {"season_length": POSITIVE}

    def __init__(self, spec, **hparams):
        if hparams.get("season_length") == "auto":
            # The model sees no timestamps: whoever has the data resolves "auto".
            raise ValueError("seasonal_naive: hparam season_length='auto' is resolved from the data's time "
                             "index (XLSTMForecaster and the benchmark do it); building the model needs an "
                             "int, e.g. season_length_for(index)")
        super().__init__(spec, **hparams)
        m = self.hparams["season_length"]
        if m > self.spec.lookback:
            raise ValueError(f"season_length {m} exceeds the lookback {self.spec.lookback}")
        L = self.spec.lookback
        idx = torch.tensor([L - m + (h % m) for h in range(self.spec.horizon)])
        self.register_buffer("index", idx, persistent=False)

    def _forward(self, x, futr, static):
        out = x[:, self.index, :, None].expand(-1, -1, -1, self.spec.n_outputs)
        return self._tie(out.clone())


class DLinear(ForecastModel):
    """DLinear (Zeng et al., 2023): moving-average trend + remainder, one ``Linear(L -> H*Q)`` each.

    ``individual=False`` shares both maps across channels (the LTSF-Linear default). Covariates
    (future part of ``x_futr`` and statics) enter through an additive :class:`CovariateHead`;
    the past part of ``x_futr`` is not used. ``revin`` is off by default, as in the paper.
    """

    name: ClassVar[str] = "dlinear"
    defaults: ClassVar[dict[str, Any]] = {"kernel_size": 25, "individual": False, "revin": False}
    ranges: ClassVar[dict[str, Range]] = {"kernel_size": POSITIVE}

    def __init__(self, spec, **hparams):
        super().__init__(spec, **hparams)
        s, hp = self.spec, self.hparams
        out = s.horizon * s.n_outputs
        def linear() -> nn.Module:
            return ChannelLinear(s.lookback, out, s.n_channels) if hp["individual"] else nn.Linear(s.lookback, out)

        self.seasonal, self.trend = linear(), linear()
        self.revin = RevIN(s.n_channels) if hp["revin"] else None
        self.covariates = (CovariateHead(s.horizon, s.n_futr, s.n_static, s.n_channels, s.n_outputs)
                           if s.n_futr or s.n_static else None)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # Models saved before 2026-11-29 held a ModuleList of Linear maps per part
        # (``seasonal.0.weight``; with ``individual`` one per channel, ``seasonal.{c}.weight``):
        # stack them into this layout so their saved estimators keep loading.
        legacy = re.compile(rf"{re.escape(prefix)}(seasonal|trend)\.(\d+)\.(weight|bias)$")
        found: dict[tuple[str, str], list[tuple[int, torch.Tensor]]] = {}
        for key in list(state_dict):
            if match := legacy.match(key):
                part, index, name = match.groups()
                found.setdefault((part, name), []).append((int(index), state_dict.pop(key)))
        for (part, name), items in found.items():
            tensors = [t for _, t in sorted(items, key=lambda item: item[0])]
            stack = torch.stack if isinstance(getattr(self, part), ChannelLinear) else torch.cat
            state_dict[f"{prefix}{part}.{name}"] = stack(tensors)  # a mismatch fails as a shape error
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def decompose(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x (B, L, C) -> (seasonal, trend)`` with ``trend = moving_average(x, kernel_size)``."""
        trend = moving_average(x, self.hparams["kernel_size"])
        return x - trend, trend

    def _forward(self, x, futr, static):
        s = self.spec
        B, L, C = x.shape
        seas, trend = (t.transpose(1, 2) for t in self.decompose(x))  # (B, C, L)
        out = self.seasonal(seas) + self.trend(trend)  # (B, C, H*Q)
        out = out.reshape(B, C, s.horizon, s.n_outputs).transpose(1, 2)
        if self.covariates is not None:
            out = out + self.covariates(futr[:, L:] if futr is not None else None, static)
        return out

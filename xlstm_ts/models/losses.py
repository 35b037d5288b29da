"""Training losses on ``pred (B, H, C, Q)`` and ``target (B, H, C)`` with an optional mask.

``make_loss("mse" | "mae" | "huber" | "quantile", quantiles=None, **kw)``. Point losses need
``Q == 1``; the quantile (pinball) loss needs ``Q == len(quantiles)``. ``loss.n_outputs`` is the
Q to put in the :class:`~xlstm_ts.models.ModelSpec`; ``loss.point(pred)`` is the point forecast
``(B, H, C)`` (the median quantile, or the one closest to 0.5).

Masking: ``mask`` (broadcastable to the target; bool or 0/1 weights) selects the entries that
count; non-finite targets are always left out. The loss is the weighted mean over the entries
that count (0 when none do).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from xlstm_ts._names import did_you_mean

LOSSES = ("mse", "mae", "huber", "quantile")
POINT_LOSSES = ("mse", "mae", "huber")  # one output per value: usable as a valid_loss
DEFAULT_QUANTILES = (0.1, 0.5, 0.9)


class ForecastLoss(nn.Module):
    """Base: elementwise loss, then masked mean."""

    name = ""
    n_outputs = 1

    def elementwise(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def point(self, pred: torch.Tensor) -> torch.Tensor:
        """``(B, H, C, Q) -> (B, H, C)`` point forecast."""
        return pred[..., 0]

    def forward(self, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if pred.dim() != target.dim() + 1 or pred.shape[:-1] != target.shape:
            raise ValueError(f"{self.name} loss: pred must be target.shape + (Q,); got pred {tuple(pred.shape)}, "
                             f"target {tuple(target.shape)}")
        if pred.shape[-1] != self.n_outputs:
            raise ValueError(f"{self.name} loss expects Q={self.n_outputs} outputs; got pred {tuple(pred.shape)}")
        target = target.to(pred.dtype)
        finite = torch.isfinite(target)
        weight = finite.to(pred.dtype)
        if mask is not None:
            weight = weight * mask.to(pred.dtype).expand_as(target)
        target = torch.where(finite, target, torch.zeros_like(target))
        el = self.elementwise(pred, target)  # (B, H, C)
        if mask is None and bool(finite.all()):
            return el.mean()
        # No entry counts -> numerator 0 -> loss 0 (still on the graph).
        return (el * weight).sum() / weight.sum().clamp_min(torch.finfo(el.dtype).tiny)


class MSELoss(ForecastLoss):
    name = "mse"

    def elementwise(self, pred, target):
        return (pred[..., 0] - target) ** 2


class MAELoss(ForecastLoss):
    name = "mae"

    def elementwise(self, pred, target):
        return (pred[..., 0] - target).abs()


class HuberLoss(ForecastLoss):
    name = "huber"

    def __init__(self, delta: float = 1.0):
        super().__init__()
        if not delta > 0:
            raise ValueError(f"huber delta must be > 0; got {delta!r}")
        self.delta = float(delta)

    def elementwise(self, pred, target):
        return F.huber_loss(pred[..., 0], target, reduction="none", delta=self.delta)


class QuantileLoss(ForecastLoss):
    """Pinball loss ``max(q (y - p_q), (q - 1)(y - p_q))`` averaged over the quantiles."""

    name = "quantile"

    def __init__(self, quantiles: Sequence[float] = DEFAULT_QUANTILES):
        super().__init__()
        qs = [float(q) for q in quantiles]
        if not qs or any(not 0.0 < q < 1.0 for q in qs) or any(b <= a for a, b in zip(qs, qs[1:], strict=False)):
            raise ValueError(f"quantiles must be strictly increasing values in (0, 1); got {list(quantiles)}")
        self.quantiles = qs
        self.n_outputs = len(qs)
        self.register_buffer("q", torch.tensor(qs), persistent=False)
        self.median_index = min(range(len(qs)), key=lambda i: abs(qs[i] - 0.5))

    def elementwise(self, pred, target):
        q = self.q.to(pred.dtype)
        err = target[..., None] - pred
        return torch.maximum(q * err, (q - 1) * err).mean(-1)

    def point(self, pred):
        return pred[..., self.median_index]


def make_loss(name: str, quantiles: Sequence[float] | None = None, **kwargs) -> ForecastLoss:
    """Build a loss by name; ``huber`` takes ``delta`` (default 1.0); ``quantile`` takes ``quantiles``
    (default 0.1, 0.5, 0.9)."""
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}{did_you_mean([name], LOSSES)}; valid losses: {list(LOSSES)}")
    if quantiles is not None and name != "quantile":
        raise ValueError(f"quantiles are only for the 'quantile' loss, not {name!r}")
    allowed = {"huber": {"delta"}}.get(name, set())
    unknown = sorted(set(kwargs) - allowed)
    if unknown:
        raise ValueError(f"unknown arguments {unknown}{did_you_mean(unknown, allowed)} for loss {name!r}; valid: {sorted(allowed)}")
    if name == "mse":
        return MSELoss()
    if name == "mae":
        return MAELoss()
    if name == "huber":
        return HuberLoss(**kwargs)
    return QuantileLoss(DEFAULT_QUANTILES if quantiles is None else quantiles)

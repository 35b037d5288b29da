"""Building blocks shared by the forecasters: RevIN, patching, patch embedding, covariate head."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from xlstm_ts.nn import XLSTMStack, XLSTMStackConfig


class RevIN(nn.Module):
    """Reversible instance normalisation per series and channel over the look-back window.

    ``normalize(x (B, L, C)) -> (x_n, stats)``; ``denormalize(y (B, H, C[, Q]), stats)``.
    The statistics are returned, not stored on the module, so calls never interfere.
    ``std = sqrt(var + eps)``: a constant window normalises to 0 instead of dividing by 0.
    """

    def __init__(self, n_channels: int, affine: bool = False, eps: float = 1e-5):
        super().__init__()
        self.eps, self.affine = eps, affine
        if affine:
            self.weight = nn.Parameter(torch.ones(n_channels))
            self.bias = nn.Parameter(torch.zeros(n_channels))

    def normalize(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        # Statistics in fp32 (or better): inputs of scale 1e4 square to 1e8.
        xf = x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
        # Centred on the window's last value first. For a series far from 0 relative to its
        # spread (1e12 + O(1) in fp32) the mean and the variance of the raw values disagree by
        # rounding: var = 0 while x - mean is one ulp (6.5e4), which normalised to ~1e7 (inf,
        # then NaN, under fp16 autocast). Differences to a value of the same window are exact
        # (for values within a factor 2 of it), so the centring and the variance below are
        # computed from the same numbers and |x_n| <= sqrt(L).
        # The statistics are contiguous (B, 1, C) tensors (on the CPU, broadcasting the strided
        # slice xf[:, -1:] was 3-10x slower), and the window is centred and scaled in place (d is
        # this function's own tensor; the in-place ops need no saved inputs for autograd), which
        # saves two full-size temporaries. The arithmetic is unchanged, bit for bit: torch.var is
        # the slowest step, but a two-pass variance rounds differently, and those last bits change
        # training enough (another kept epoch) that recorded benchmark cells would no longer
        # reproduce (scripts/bench_cpu_train_step.py times it).
        ref = xf[:, -1:].detach().contiguous()
        d = xf - ref
        mean_d = d.detach().mean(dim=1, keepdim=True)
        std = torch.sqrt(d.detach().var(dim=1, keepdim=True, unbiased=False) + self.eps)
        x_n = d.sub_(mean_d).div_(std).to(x.dtype)
        if self.affine:
            x_n = x_n * self.weight + self.bias
        return x_n, (ref + mean_d, std)

    def denormalize(self, y: torch.Tensor, stats: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        mean, std = stats  # (B, 1, C)
        extra = y.dim() - 3  # trailing output dims, e.g. Q
        if self.affine:
            w, b = self.weight, self.bias
            w, b = w.reshape(w.shape + (1,) * extra), b.reshape(b.shape + (1,) * extra)
            y = (y - b) / (w + self.eps * self.eps)
        mean, std = mean.reshape(mean.shape + (1,) * extra), std.reshape(std.shape + (1,) * extra)
        # The result keeps the dtype of the statistics (fp32 for fp32 or half inputs) instead of
        # being cast back to y's: under fp16 autocast y is fp16, and a series of scale >= 65504
        # would de-normalise to inf (then NaN in the loss and the gradients).
        return y.to(torch.promote_types(y.dtype, mean.dtype)) * std + mean


def _check_patching(patch_len: int, stride: int) -> None:
    if patch_len < 1 or stride < 1:
        raise ValueError(f"patch_len and stride must be >= 1; got {patch_len}, {stride}")
    if stride > patch_len:
        # The steps between two patches would reach no token: a forecaster never wants that.
        raise ValueError(f"patch stride {stride} is larger than patch_len {patch_len}, so the "
                         f"{stride - patch_len} steps between patches would be ignored; use stride <= patch_len")


def num_patches(length: int, patch_len: int, stride: int, pad_end: bool = True) -> int:
    """Patches of ``patch_len`` every ``stride`` steps; ``pad_end`` adds one (PatchTST "end")."""
    _check_patching(patch_len, stride)
    if length < patch_len:
        raise ValueError(f"lookback {length} is shorter than patch_len {patch_len}")
    return (length - patch_len) // stride + 1 + int(pad_end)


def patchify(x: torch.Tensor, patch_len: int, stride: int, pad_end: bool = True) -> torch.Tensor:
    """``(..., T) -> (..., N, patch_len)``; ``pad_end`` repeats the last value ``stride`` times first,
    as PatchTST's ``ReplicationPad1d((0, stride))``.

    Without ``pad_end`` the patches are anchored at the end of the window: when ``T - patch_len``
    is not a multiple of ``stride``, the oldest ``(T - patch_len) % stride`` steps are dropped,
    never the newest, which matter most to a forecast. (With ``pad_end`` and
    ``stride <= patch_len`` every step is covered already.)
    """
    _check_patching(patch_len, stride)
    if pad_end:
        x = torch.cat([x, x[..., -1:].expand(*x.shape[:-1], stride)], dim=-1)
    else:
        x = x[..., (x.shape[-1] - patch_len) % stride:]
    return x.unfold(-1, patch_len, stride)


class PatchEmbedding(nn.Module):
    """Channel-independent patch tokens ``(B*C, N, E)`` from normalised ``x (B, L, C)``.

    Value patches go through ``Linear(P -> E)``. Past covariates ``x_futr[:, :L] (B, L, F)`` are
    patched the same way and embedded with ``Linear(P*F -> E)``, which equals concatenating them
    to every channel's patch before one linear map, at a fraction of the cost. Statics go through
    ``Linear(n_static -> E)`` and are added to every token.
    """

    def __init__(self, lookback: int, patch_len: int, stride: int, embed_dim: int,
                 n_futr: int = 0, n_static: int = 0, pad_end: bool = True):
        super().__init__()
        self.patch_len, self.stride, self.pad_end = patch_len, stride, pad_end
        self.n_patches = num_patches(lookback, patch_len, stride, pad_end)
        self.value = nn.Linear(patch_len, embed_dim)
        self.futr = nn.Linear(patch_len * n_futr, embed_dim, bias=False) if n_futr else None
        self.static = nn.Linear(n_static, embed_dim) if n_static else None

    def forward(self, x_n: torch.Tensor, futr_past: torch.Tensor | None, static: torch.Tensor | None) -> torch.Tensor:
        B, L, C = x_n.shape
        p = patchify(x_n.transpose(1, 2), self.patch_len, self.stride, self.pad_end)  # (B, C, N, P)
        tok = self.value(p)  # (B, C, N, E)
        if self.futr is not None and futr_past is not None:
            fp = patchify(futr_past.transpose(1, 2), self.patch_len, self.stride, self.pad_end)  # (B, F, N, P)
            fp = fp.permute(0, 2, 1, 3).reshape(B, self.n_patches, -1)  # (B, N, F*P)
            tok = tok + self.futr(fp)[:, None]
        if self.static is not None and static is not None:
            tok = tok + self.static(static)[:, None, None]
        return tok.reshape(B * C, self.n_patches, -1)


class CovariateHead(nn.Module):
    """Additive covariate term ``(B, H, C, Q)`` from the future covariates and statics.

    ``Linear(H*F + n_static -> H*Q)`` on the flattened future part ``x_futr[:, L:]`` (and the
    statics), shared by the channels and scaled by a learnable per-channel gain. The linear map
    starts at zero, so a model starts from its covariate-free forecast.
    """

    def __init__(self, horizon: int, n_futr: int, n_static: int, n_channels: int, n_outputs: int):
        super().__init__()
        self.horizon, self.n_outputs = horizon, n_outputs
        self.linear = nn.Linear(horizon * n_futr + n_static, horizon * n_outputs)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)
        self.gain = nn.Parameter(torch.ones(n_channels))

    def forward(self, futr_future: torch.Tensor | None, static: torch.Tensor | None) -> torch.Tensor:
        parts = []
        if futr_future is not None:
            parts.append(futr_future.reshape(futr_future.shape[0], -1))
        if static is not None:
            parts.append(static)
        z = self.linear(torch.cat(parts, dim=-1)).reshape(-1, self.horizon, 1, self.n_outputs)
        return z * self.gain[:, None]


def build_stack(cfg: dict[str, Any], what: str) -> XLSTMStack:
    """An :class:`XLSTMStack` from a (merged) dict; config errors name the model hparam."""
    try:
        return XLSTMStack(XLSTMStackConfig.from_dict(cfg))
    except (TypeError, ValueError) as e:
        raise ValueError(f"invalid {what} hparam: {e}") from e


class ChannelLinear(nn.Module):
    """One ``Linear(L -> H)`` per channel over the last dim of ``(B, C, L)`` (DLinear's
    ``individual``), each initialised as ``nn.Linear``."""

    def __init__(self, in_features: int, out_features: int, n_channels: int):
        super().__init__()
        bound = 1.0 / in_features ** 0.5  # nn.Linear's default initialisation
        self.weight = nn.Parameter(torch.empty(n_channels, out_features, in_features).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(n_channels, out_features).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.einsum("bcl,chl->bch", x, self.weight) + self.bias


def check_choice(value: Any, choices: tuple, what: str) -> None:
    if value not in choices:
        raise ValueError(f"{what} must be one of {list(choices)}; got {value!r}")


def moving_average(x: torch.Tensor, kernel_size: int) -> torch.Tensor:
    """Moving average over dim 1 of ``(B, L, C)`` with edge replication (DLinear's ``moving_avg``)."""
    front = (kernel_size - 1) // 2
    back = kernel_size - 1 - front
    xx = torch.cat([x[:, :1].expand(-1, front, -1), x, x[:, -1:].expand(-1, back, -1)], dim=1)
    return F.avg_pool1d(xx.transpose(1, 2), kernel_size, stride=1).transpose(1, 2)

"""``patchtst``: PatchTST (Nie et al., 2023), channel-independent patch Transformer."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from .base import POSITIVE, ForecastModel, Range
from .layers import CovariateHead, PatchEmbedding, RevIN, check_choice


class _BatchNormTokens(nn.Module):
    """BatchNorm1d over the feature dim of ``(B, N, E)`` (PatchTST's ``Transpose + BatchNorm1d``)."""

    def __init__(self, dim: int):
        super().__init__()
        self.bn = nn.BatchNorm1d(dim)

    def forward(self, x):
        return self.bn(x.transpose(1, 2)).transpose(1, 2)


class EncoderLayer(nn.Module):
    """Transformer encoder layer with ``F.scaled_dot_product_attention`` (no mask).

    ``norm="batch"``: post-norm with BatchNorm, as PatchTST; ``norm="layer"``: pre-norm LayerNorm.
    """

    def __init__(self, dim: int, n_heads: int, d_ff: int, dropout: float, attn_dropout: float, norm: str):
        super().__init__()
        if dim % n_heads:
            raise ValueError(f"d_model {dim} is not divisible by n_heads {n_heads}")
        self.n_heads, self.attn_dropout, self.pre_norm = n_heads, attn_dropout, norm == "layer"
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        self.ff = nn.Sequential(nn.Linear(dim, d_ff), nn.GELU(), nn.Dropout(dropout), nn.Linear(d_ff, dim))
        make = (lambda: nn.LayerNorm(dim)) if self.pre_norm else (lambda: _BatchNormTokens(dim))
        self.norm1, self.norm2 = make(), make()
        self.drop1, self.drop2 = nn.Dropout(dropout), nn.Dropout(dropout)

    def _attn(self, x):
        B, N, E = x.shape
        q, k, v = self.qkv(x).reshape(B, N, 3, self.n_heads, E // self.n_heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=self.attn_dropout if self.training else 0.0)
        return self.out(y.transpose(1, 2).reshape(B, N, E))

    def forward(self, x):
        if self.pre_norm:
            x = x + self.drop1(self._attn(self.norm1(x)))
            return x + self.drop2(self.ff(self.norm2(x)))
        x = self.norm1(x + self.drop1(self._attn(x)))
        return self.norm2(x + self.drop2(self.ff(x)))


class PatchTST(ForecastModel):
    """RevIN -> patches (16 / 8, end padding) -> Linear(P -> d_model) + learnable positions ->
    Transformer encoder -> flatten -> Linear(N*d_model -> H*Q) -> de-normalise.

    Covariates as in ``xlstm_patch``: past ``x_futr`` and statics in the patch embedding, the
    future part through an additive linear term.
    """

    name: ClassVar[str] = "patchtst"
    defaults: ClassVar[dict[str, Any]] = {
        "patch_len": 16,
        "stride": 8,
        "pad_end": True,
        "d_model": 32,
        "n_heads": 4,
        "n_layers": 3,
        "d_ff": 128,
        "norm": "batch",
        "dropout": 0.2,
        "attn_dropout": 0.0,
        "head_dropout": 0.2,
        "revin": True,
        "revin_affine": False,
    }
    ranges: ClassVar[dict[str, Range]] = {k: POSITIVE for k in ("patch_len", "stride", "d_model", "n_heads",
                                                                 "n_layers", "d_ff")}

    def __init__(self, spec, **hparams):
        super().__init__(spec, **hparams)
        hp, s = self.hparams, self.spec
        check_choice(hp["norm"], ("batch", "layer"), "patchtst hparam 'norm'")
        E = hp["d_model"]
        self.revin = RevIN(s.n_channels, affine=hp["revin_affine"]) if hp["revin"] else None
        self.embed = PatchEmbedding(s.lookback, hp["patch_len"], hp["stride"], E,
                                    n_futr=s.n_futr, n_static=s.n_static, pad_end=hp["pad_end"])
        self.n_patches = N = self.embed.n_patches
        self.pos = nn.Parameter(torch.empty(N, E).uniform_(-0.02, 0.02))
        self.dropout = nn.Dropout(hp["dropout"])
        self.layers = nn.ModuleList(
            EncoderLayer(E, hp["n_heads"], hp["d_ff"], hp["dropout"], hp["attn_dropout"], hp["norm"])
            for _ in range(hp["n_layers"])
        )
        self.final_norm = nn.LayerNorm(E) if hp["norm"] == "layer" else nn.Identity()
        self.head_dropout = nn.Dropout(hp["head_dropout"])
        self.head = nn.Linear(N * E, s.horizon * s.n_outputs)
        # Statics enter through the tokens; the future part of x_futr through an additive term.
        self.covariates = CovariateHead(s.horizon, s.n_futr, 0, s.n_channels, s.n_outputs) if s.n_futr else None

    def _forward(self, x, futr, static):
        s = self.spec
        B, L, C = x.shape
        tok = self.embed(x, futr[:, :L] if futr is not None else None, static)  # (B*C, N, E)
        tok = self.dropout(tok + self.pos)
        for layer in self.layers:
            tok = layer(tok)
        tok = self.final_norm(tok)
        out = self.head(self.head_dropout(tok.flatten(1)))
        out = out.reshape(B, C, s.horizon, s.n_outputs).transpose(1, 2)
        if self.covariates is not None:
            out = out + self.covariates(futr[:, L:], None)
        return out

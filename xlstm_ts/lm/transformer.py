"""A pre-norm decoder-only Transformer baseline with a KV cache, and parameter matching."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from xlstm_ts.nn.components import LayerNorm

from .base import LanguageModel, soft_cap


@dataclass
class TransformerLMConfig:
    """Attributes:
    vocab_size: number of token ids.
    dim, num_layers, num_heads: width, depth, attention heads (``dim % num_heads == 0``).
    mlp_ratio: hidden width of the GELU MLP is ``round(mlp_ratio * dim)``.
    positions: ``"rotary"`` (RoPE on q/k, any length) or ``"learned"`` (absolute, at most
        ``max_positions`` tokens per sequence, cache included).
    rope_base: RoPE frequency base.
    tie_weights, logit_soft_cap, dropout: as for the xLSTM model.
    """

    vocab_size: int
    dim: int = 128
    num_layers: int = 4
    num_heads: int = 4
    mlp_ratio: float = 4.0
    positions: str = "rotary"
    max_positions: int = 1024
    rope_base: float = 10000.0
    tie_weights: bool = False
    logit_soft_cap: float | None = 30.0
    dropout: float = 0.0

    def __post_init__(self):
        if self.dim % self.num_heads:
            raise ValueError(f"dim {self.dim} is not divisible by num_heads {self.num_heads}")
        if self.positions not in ("rotary", "learned"):
            raise ValueError(f"positions must be 'rotary' or 'learned'; got {self.positions!r}")
        if self.positions == "rotary" and (self.dim // self.num_heads) % 2:
            raise ValueError("rotary positions need an even head dim")

    def to_dict(self) -> dict:
        return asdict(self)


class LayerKV:
    """One layer's keys and values ``(B, H, T, D)``; capacity grows by doubling (amortised O(1))."""

    def __init__(self, capacity: int | None = None):
        self.k: torch.Tensor | None = None
        self.v: torch.Tensor | None = None
        self.length = 0
        self.capacity_hint = capacity

    def append(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        B, H, S, D = k.shape
        need = self.length + S
        cap = 0 if self.k is None else self.k.shape[2]
        if need > cap:
            new_cap = max(need, 2 * cap, self.capacity_hint or 0, 16)
            nk, nv = k.new_empty(B, H, new_cap, D), v.new_empty(B, H, new_cap, v.shape[-1])
            if self.length:
                nk[:, :, :self.length] = self.k[:, :, :self.length]
                nv[:, :, :self.length] = self.v[:, :, :self.length]
            self.k, self.v = nk, nv
        self.k[:, :, self.length:need] = k
        self.v[:, :, self.length:need] = v
        self.length = need
        return self.k[:, :, :need], self.v[:, :, :need]

    @property
    def nbytes(self) -> int:
        """Allocated bytes (the buffers, not only the used part)."""
        return sum(t.numel() * t.element_size() for t in (self.k, self.v) if t is not None)

    @property
    def used_numel(self) -> int:
        return 0 if self.k is None else 2 * self.k[:, :, :self.length].numel()


class KVCache:
    """Per-layer :class:`LayerKV` plus the position of the next token."""

    def __init__(self, num_layers: int, capacity: int | None = None):
        self.layers = [LayerKV(capacity) for _ in range(num_layers)]

    @property
    def length(self) -> int:
        return self.layers[0].length if self.layers else 0

    @property
    def nbytes(self) -> int:
        return sum(layer.nbytes for layer in self.layers)

    @property
    def used_numel(self) -> int:
        return sum(layer.used_numel for layer in self.layers)


class Rotary(nn.Module):
    """RoPE (rotate-half form) with a cos/sin table that extends itself as needed."""

    def __init__(self, head_dim: int, base: float):
        super().__init__()
        inv = 1.0 / (base ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
        self.register_buffer("inv_freq", inv, persistent=False)
        self._cos = self._sin = None

    def _table(self, n: int, device, dtype):
        if self._cos is None or self._cos.shape[0] < n or self._cos.device != device:
            size = max(n, 2 * (0 if self._cos is None else self._cos.shape[0]), 256)
            t = torch.arange(size, device=device, dtype=torch.float32)
            ang = torch.outer(t, self.inv_freq.to(device))
            ang = torch.cat([ang, ang], dim=-1)
            self._cos, self._sin = ang.cos(), ang.sin()
        return self._cos[:n].to(dtype), self._sin[:n].to(dtype)

    def forward(self, x: torch.Tensor, pos0: int) -> torch.Tensor:
        """``x (B, H, S, D)`` at positions ``pos0 .. pos0 + S - 1``."""
        S = x.shape[2]
        cos, sin = self._table(pos0 + S, x.device, x.dtype)
        cos, sin = cos[pos0:], sin[pos0:]
        x1, x2 = x.chunk(2, dim=-1)
        return x * cos + torch.cat([-x2, x1], dim=-1) * sin


class Attention(nn.Module):
    def __init__(self, cfg: TransformerLMConfig):
        super().__init__()
        self.num_heads, self.head_dim = cfg.num_heads, cfg.dim // cfg.num_heads
        self.qkv = nn.Linear(cfg.dim, 3 * cfg.dim, bias=False)
        self.out = nn.Linear(cfg.dim, cfg.dim, bias=False)
        self.rotary = Rotary(self.head_dim, cfg.rope_base) if cfg.positions == "rotary" else None
        self.dropout = cfg.dropout

    def forward(self, x: torch.Tensor, cache: LayerKV | None, pos0: int) -> torch.Tensor:
        B, S, E = x.shape
        q, k, v = self.qkv(x).view(B, S, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        if self.rotary is not None:
            q, k = self.rotary(q, pos0), self.rotary(k, pos0)
        if cache is not None:
            k, v = cache.append(k, v)
        T = k.shape[2]
        p = self.dropout if self.training else 0.0
        if S == 1:  # one new token attends to everything before it
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=p)
        elif T == S:
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=True)
        else:  # a chunk after a non-empty cache: causal with an offset
            mask = torch.ones(S, T, dtype=torch.bool, device=x.device).tril(diagonal=T - S)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)
        return self.out(y.transpose(1, 2).reshape(B, S, E))


class TransformerBlock(nn.Module):
    """``x + Attn(LN(x))`` then ``x + MLP(LN(x))``."""

    def __init__(self, cfg: TransformerLMConfig):
        super().__init__()
        hidden = int(round(cfg.mlp_ratio * cfg.dim))
        self.norm1, self.norm2 = LayerNorm(cfg.dim), LayerNorm(cfg.dim)
        self.attn = Attention(cfg)
        self.up = nn.Linear(cfg.dim, hidden, bias=False)
        self.down = nn.Linear(hidden, cfg.dim, bias=False)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x, cache, pos0):
        x = x + self.drop(self.attn(self.norm1(x), cache, pos0))
        return x + self.drop(self.down(F.gelu(self.up(self.norm2(x)))))


class TransformerLanguageModel(LanguageModel):
    """GPT-style pre-norm Transformer LM with ``F.scaled_dot_product_attention(is_causal=True)``.

    ``forward(idx, state=None)``: without a state (training) nothing is cached; with a
    :class:`KVCache` from :meth:`init_state` keys and values are appended to it, so
    generation attends over the cache (which grows with the generated length).
    """

    kind = "transformer"

    def __init__(self, config: TransformerLMConfig | dict):
        super().__init__()
        cfg = config if isinstance(config, TransformerLMConfig) else TransformerLMConfig(**config)
        self.config = cfg
        self.embedding = nn.Embedding(cfg.vocab_size, cfg.dim)
        self.pos_embedding = nn.Embedding(cfg.max_positions, cfg.dim) if cfg.positions == "learned" else None
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(TransformerBlock(cfg) for _ in range(cfg.num_layers))
        self.norm = LayerNorm(cfg.dim)
        self.lm_head = nn.Linear(cfg.dim, cfg.vocab_size, bias=False)
        if cfg.tie_weights:
            self.lm_head.weight = self.embedding.weight
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """GPT-2 init: N(0, 0.02); residual output projections N(0, 0.02 / sqrt(2 * layers))."""
        for name, p in self.named_parameters():
            if p.dim() >= 2:
                std = 0.02 / math.sqrt(2 * self.config.num_layers) if name.endswith(("attn.out.weight", "down.weight")) else 0.02
                nn.init.normal_(p, 0.0, std)

    def config_dict(self) -> dict:
        return self.config.to_dict()

    def init_state(self, batch_size: int, capacity: int | None = None) -> KVCache:
        return KVCache(self.config.num_layers, capacity)

    def forward(self, idx: torch.Tensor, state: KVCache | None = None):
        B, S = idx.shape
        pos0 = state.length if state is not None else 0
        x = self.embedding(idx)
        if self.pos_embedding is not None:
            if pos0 + S > self.config.max_positions:
                raise ValueError(f"learned positions cover {self.config.max_positions} tokens; got {pos0 + S} "
                                 "(use positions='rotary' for longer sequences)")
            x = x + self.pos_embedding(torch.arange(pos0, pos0 + S, device=idx.device))
        x = self.drop(x)
        for i, block in enumerate(self.blocks):
            x = block(x, state.layers[i] if state is not None else None, pos0)
        logits = soft_cap(self.lm_head(self.norm(x)), self.config.logit_soft_cap)
        return logits, state


def transformer_params(cfg: TransformerLMConfig) -> int:
    """Exact parameter count of a configuration, computed without building the model."""
    E, V, L = cfg.dim, cfg.vocab_size, cfg.num_layers
    hidden = int(round(cfg.mlp_ratio * E))
    per_layer = 2 * E + 4 * E * E + 2 * E * hidden  # two norms, qkv + out, up + down
    n = V * E + L * per_layer + E  # embedding, blocks, final norm
    if cfg.positions == "learned":
        n += cfg.max_positions * E
    if not cfg.tie_weights:
        n += V * E
    return n


def _heads_for(width: int, head_dim: int) -> int:
    """The number of heads dividing ``width`` (even head dim) whose head dim is nearest ``head_dim``."""
    options = [h for h in range(1, width + 1) if width % h == 0 and (width // h) % 2 == 0]
    return min(options, key=lambda h: (abs(math.log(width / h / head_dim)), h))


def match_transformer(target_params: int, vocab_size: int, *, num_layers: int | None = None,
                      head_dim: int = 32, width_multiple: int = 8, tolerance: float = 0.05,
                      **kwargs) -> TransformerLMConfig:
    """A Transformer config whose parameter count is within ``tolerance`` of ``target_params``.

    Widths are multiples of ``width_multiple`` (finer multiples are tried when that misses, as
    for tiny models dominated by the embedding), with heads of about ``head_dim``. With
    ``num_layers`` the depth is fixed and only the width is searched; otherwise depths 2..12 are
    tried: among the configs within tolerance the one whose width/depth ratio is nearest 64
    (GPT-like shapes) wins. Raises ``ValueError`` when nothing is within tolerance.
    """
    err = None
    for mult in sorted({width_multiple, 4, 2}, reverse=True):
        if mult > width_multiple:
            continue
        try:
            return _match(target_params, vocab_size, num_layers, head_dim, mult, tolerance, kwargs)
        except ValueError as e:
            err = e
    raise err


def _match(target_params, vocab_size, num_layers, head_dim, width_multiple, tolerance, kwargs):
    depths = [num_layers] if num_layers else list(range(2, 13))
    best = None
    for L in depths:
        for width in range(width_multiple, 4096 + 1, width_multiple):
            cfg = TransformerLMConfig(vocab_size=vocab_size, dim=width, num_layers=L,
                                      num_heads=_heads_for(width, head_dim), **kwargs)
            n = transformer_params(cfg)
            err = abs(n - target_params) / target_params
            key = (err if err > tolerance else 0.0, abs(math.log(width / L / 64)), err)
            if best is None or key < best[0]:
                best = (key, cfg, n, err)
            if n > target_params:
                break
    _, cfg, n, err = best
    if err > tolerance:
        raise ValueError(f"no Transformer within {tolerance:.0%} of {target_params} parameters "
                         f"(closest: {n}, dim {cfg.dim}, {cfg.num_layers} layers)")
    return cfg

"""Configuration dataclasses for xLSTM layers and stacks; they round-trip through dicts and YAML."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import yaml

from .._names import did_you_mean
from .functional._common import as_int
from .functional.backend import BACKENDS


def round_up(x: float, multiple: int) -> int:
    return int(math.ceil(x / multiple) * multiple)


class _DictMixin:
    """``to_dict`` / ``from_dict`` / YAML for (nested) config dataclasses; unknown keys are errors."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[arg-type]

    @classmethod
    def from_dict(cls, d: dict[str, Any]):
        if isinstance(d, cls):
            return d
        if not isinstance(d, dict):
            raise TypeError(f"{cls.__name__}.from_dict expects a dict; got {type(d).__name__}")
        fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(d) - set(fields))
        if unknown:
            raise ValueError(f"unknown {cls.__name__} keys {unknown}{did_you_mean(unknown, fields)}; valid keys: {sorted(fields)}")
        return cls(**d)  # nested dicts become sub-configs in __post_init__

    def _nested_from_dicts(self) -> None:
        """Sub-config fields given as dicts become their dataclasses (in the constructor too, not
        only in ``from_dict``); anything else but the dataclass is refused."""
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            sub = _NESTED.get((type(self).__name__, f.name))
            value = getattr(self, f.name)
            if sub is None or isinstance(value, sub):
                continue
            if not isinstance(value, dict):
                raise TypeError(f"{type(self).__name__}.{f.name} must be a {sub.__name__} or a dict; "
                                f"got {type(value).__name__}")
            setattr(self, f.name, sub.from_dict(value))

    def _check_ints(self, **minimums: int) -> None:
        """Validate int fields (``name=minimum``) at construction, normalising numpy ints."""
        for name, minimum in minimums.items():
            setattr(self, name, as_int(getattr(self, name), f"{type(self).__name__}.{name}", minimum))

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    @classmethod
    def from_yaml(cls, text: str):
        return cls.from_dict(yaml.safe_load(text) or {})


@dataclass
class MLSTMLayerConfig(_DictMixin):
    """mLSTM layer (pre-up-projection block of the xLSTM paper).

    Attributes:
        num_heads: mLSTM heads; head dim = inner dim / num_heads.
        proj_factor: up-projection factor; inner dim = ceil(proj_factor * E / 64) * 64.
        conv1d_kernel_size: causal depthwise conv before q/k (0 disables it).
        qkv_proj_blocksize: block size of the block-diagonal q/k/v projections.
        gate_soft_cap: gate pre-activations pass through ``cap * tanh(x / cap)`` (None: off);
            as in xLSTM-Large, this keeps the layer stable for inputs of any scale.
        chunk_size: chunk length of the chunkwise form used for sequences.
        bias: biases in the up/down projections.
    """

    num_heads: int = 4
    proj_factor: float = 2.0
    conv1d_kernel_size: int = 4
    qkv_proj_blocksize: int = 4
    gate_soft_cap: float | None = 15.0
    chunk_size: int = 64
    bias: bool = False

    def __post_init__(self):
        self._check_ints(num_heads=1, conv1d_kernel_size=0, qkv_proj_blocksize=1, chunk_size=1)


@dataclass
class SLSTMLayerConfig(_DictMixin):
    """sLSTM layer (post-up-projection block: the FFN follows the cell).

    Attributes:
        num_heads: heads; memory mixing happens inside a head (block-diagonal R).
        conv1d_kernel_size: causal conv feeding the i and f gates (0 disables it).
        forget_bias_init: "powerlaw_blockdependent" (reference default) or "linspace".
    """

    num_heads: int = 4
    conv1d_kernel_size: int = 4
    forget_bias_init: str = "powerlaw_blockdependent"

    def __post_init__(self):
        self._check_ints(num_heads=1, conv1d_kernel_size=0)


@dataclass
class FeedForwardConfig(_DictMixin):
    """Gated feed-forward after each sLSTM layer: ``down(act(gate) * up)``."""

    proj_factor: float = 1.3
    act_fn: str = "gelu"


@dataclass
class XLSTMStackConfig(_DictMixin):
    """A pre-norm residual stack of mLSTM and sLSTM blocks, ``xLSTM[a:b]``.

    Attributes:
        embedding_dim: model width E.
        num_blocks: number of blocks.
        slstm_at: which blocks are sLSTM blocks: a list of positions (ints), ``"all"``, or a ratio
            ``"a:b"`` (in every group of a+b consecutive blocks the last b are sLSTM; e.g.
            ``"1:1"`` alternates, ``"1:0"`` is mLSTM only; ``num_blocks`` must be a multiple of a+b).
        backend: ``"auto" | "torch" | "triton"`` for the cells (see ``xlstm_ts.nn.functional``).
        dropout: dropout after each layer's down-projection.
        add_post_blocks_norm: final LayerNorm after the last block.
    """

    embedding_dim: int = 128
    num_blocks: int = 2
    slstm_at: list[int] | str = field(default_factory=list)
    mlstm: MLSTMLayerConfig = field(default_factory=MLSTMLayerConfig)
    slstm: SLSTMLayerConfig = field(default_factory=SLSTMLayerConfig)
    feedforward: FeedForwardConfig = field(default_factory=FeedForwardConfig)
    backend: str = "auto"
    dropout: float = 0.0
    add_post_blocks_norm: bool = True

    def __post_init__(self):
        # Validate early, with clear errors, rather than at the first forward.
        self._nested_from_dicts()
        self._check_ints(embedding_dim=1, num_blocks=1)
        if self.backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}; got {self.backend!r}")
        self.slstm_positions()
        if not isinstance(self.slstm_at, str):  # plain ints (numpy ints do not go through YAML)
            self.slstm_at = [int(p) for p in self.slstm_at]

    def slstm_positions(self) -> list[int]:
        """The block indices that are sLSTM blocks."""
        n, spec = as_int(self.num_blocks, "num_blocks"), self.slstm_at
        if spec == "all":
            return list(range(n))
        if isinstance(spec, str):
            try:
                a, b = (int(p) for p in spec.split(":"))
            except ValueError:
                raise ValueError(f"slstm_at must be a list of positions, 'all' or a ratio 'a:b'; got {spec!r}") from None
            if a < 0 or b < 0 or a + b == 0:
                raise ValueError(f"slstm_at ratio {spec!r} needs non-negative parts with a positive sum")
            if n % (a + b):
                raise ValueError(f"num_blocks={n} is not a multiple of a+b={a + b} for slstm_at={spec!r}")
            return [g + j for g in range(0, n, a + b) for j in range(a, a + b)]
        if not isinstance(spec, Iterable):  # e.g. slstm_at=1, ambiguous next to the ratios: refused
            raise ValueError(f"slstm_at must be a list of positions, 'all' or a ratio 'a:b'; got {spec!r} "
                             "(a single sLSTM block at position p is [p])")
        positions = sorted(as_int(p, "each slstm_at position", minimum=0) for p in spec)
        if len(set(positions)) != len(positions) or any(p < 0 or p >= n for p in positions):
            raise ValueError(f"slstm_at positions {list(spec)} must be distinct and in [0, {n})")
        return positions


_NESTED = {
    ("XLSTMStackConfig", "mlstm"): MLSTMLayerConfig,
    ("XLSTMStackConfig", "slstm"): SLSTMLayerConfig,
    ("XLSTMStackConfig", "feedforward"): FeedForwardConfig,
}

"""Shared helpers of the mLSTM forms: state type, gate bookkeeping, argument checks."""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F

from xlstm_ts._scalars import is_int

EPS = 1e-6


class MLSTMState(NamedTuple):
    """Stabilised mLSTM memory of one layer.

    The true (unstabilised) state is ``C * exp(m)`` and ``n * exp(m)``; storing it scaled by
    ``exp(-m)`` keeps every entry finite under exponential input gates.

    Shapes: ``C (B, H, Dqk, Dv)``, ``n (B, H, Dqk)``, ``m (B, H)``.
    """

    C: torch.Tensor
    n: torch.Tensor
    m: torch.Tensor


def zero_state(
    batch: int, heads: int, dqk: int, dv: int, *, device=None, dtype=torch.float32
) -> MLSTMState:
    """The empty memory: ``C = 0, n = 0, m = 0`` (the convention every form shares)."""
    return MLSTMState(
        torch.zeros(batch, heads, dqk, dv, device=device, dtype=dtype),
        torch.zeros(batch, heads, dqk, device=device, dtype=dtype),
        torch.zeros(batch, heads, device=device, dtype=dtype),
    )


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """Torch paths compute in at least fp32 (fp64 stays fp64, for gradcheck)."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def as_int(value, name: str, minimum: int = 1) -> int:
    """``value`` as a Python int ``>= minimum``, or a ValueError naming ``name``.

    numpy integers are accepted (values taken from arrays); bools are refused although ``bool``
    is an int subclass, and so are floats (``int(1.5)`` would silently truncate).
    """
    if not is_int(value) or value < minimum:
        what = {0: "a non-negative int", 1: "a positive int"}.get(minimum, f"an int >= {minimum}")
        raise ValueError(f"{name} must be {what}; got {value!r}")
    return int(value)


def needs_grad(*tensors: torch.Tensor | None) -> bool:
    """Whether autograd will differentiate through any of ``tensors`` (``None`` entries skipped)."""
    return torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)


def check_inputs(q, k, v, i, f) -> tuple[int, int, int, int, int]:
    """Validate shapes of a sequence call; returns ``(B, H, S, Dqk, Dv)``."""
    if q.dim() != 4 or k.shape != q.shape:
        raise ValueError(f"q and k must be (B, H, S, Dqk) with equal shapes; got {tuple(q.shape)} and {tuple(k.shape)}")
    B, H, S, Dqk = q.shape
    if v.dim() != 4 or v.shape[:3] != (B, H, S):
        raise ValueError(f"v must be (B, H, S, Dv) = ({B}, {H}, {S}, Dv); got {tuple(v.shape)}")
    for name, g in (("i", i), ("f", f)):
        if g.shape != (B, H, S):
            raise ValueError(f"gate pre-activation {name} must be (B, H, S) = ({B}, {H}, {S}); got {tuple(g.shape)}")
    return B, H, S, Dqk, v.shape[-1]


def prepare_state(
    initial_state, B: int, H: int, Dqk: int, Dv: int, device, dtype
) -> MLSTMState:
    """Return ``initial_state`` cast to the compute dtype, or the zero state."""
    if initial_state is None:
        return zero_state(B, H, Dqk, Dv, device=device, dtype=dtype)
    C, n, m = initial_state
    if C.shape != (B, H, Dqk, Dv) or n.shape != (B, H, Dqk) or m.shape[:2] != (B, H):
        raise ValueError(
            f"initial_state must be C {(B, H, Dqk, Dv)}, n {(B, H, Dqk)}, m {(B, H)}; "
            f"got {tuple(C.shape)}, {tuple(n.shape)}, {tuple(m.shape)}"
        )
    return MLSTMState(C.to(dtype), n.to(dtype), m.reshape(B, H).to(dtype))


def log_forget_cumsum(f: torch.Tensor) -> torch.Tensor:
    """Cumulative log forget gate ``b_t = sum_{s<=t} logsigmoid(f_s)`` along the last dim, in fp64.

    Differences ``b_t - b_s`` of fp32 cumsums lose ``|b| * 6e-8`` to cancellation (about 1e-4
    after a few hundred strongly closed forget gates). The sums are kept in fp64; callers cast
    the *differences* back to the compute dtype.
    """
    return torch.cumsum(F.logsigmoid(f.to(torch.float64)), dim=-1)


# Lowest stabiliser the normaliser floor exp(-m) is evaluated at (exp(80) ~ 5.5e34; fp32 overflows
# above 88.7).
MIN_STABILISER = -80.0


def normaliser_floor(m: torch.Tensor) -> torch.Tensor:
    """``exp(-m)``, the lower bound of the normaliser ``max(|q.n|, exp(-m))``, finite for every m.

    When the input gates stay closed (``i ~ -1e4``, e.g. with ``gate_soft_cap=None``) the
    stabiliser follows them down (``m ~ -1e4``) and ``exp(-m)`` overflows to inf. The forward
    still gives the right ``h = num / inf = 0``, but the backward multiplies the zero gradient
    reaching ``exp(-m)`` by its inf value: ``0 * inf = NaN`` in ``di``, ``df`` and ``dm0``.
    With ``m`` capped from below at -80, ``h`` changes by at most ``|num| exp(-80)`` and the
    capped branch gets gradient 0, which is what its true gradient ``num exp(m)`` rounds to.
    (The Triton kernels derive this gradient analytically and never form ``0 * inf``.)
    """
    return torch.exp(-m.clamp_min(MIN_STABILISER))


def split_non_finite(v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``v`` with non-finite entries zeroed for the causal matmul ``w @ v``, and where ``h`` is non-finite.

    The masked (future) weights of ``w`` are exactly 0, but ``0 * NaN = NaN``: a NaN or inf value
    at step s would reach the outputs before s through the matmul. Zeroing it there and setting
    ``h[..., t, d]`` to NaN for every ``t >= s`` afterwards gives what the recurrent form gives
    (the NaN enters column d of the memory C at step s and every later read of it). The returned
    mask is None when all of ``v`` is finite (one reduction; the usual case costs nothing else).
    """
    bad = ~torch.isfinite(v)
    if not bool(bad.any()):
        return v, None
    return v.masked_fill(bad, 0.0), bad.cumsum(dim=-2) > 0


def scale_of(dqk: int) -> float:
    return 1.0 / math.sqrt(dqk)

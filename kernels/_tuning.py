"""Launch configurations of the chunkwise mLSTM kernels: Triton's autotuner over a small set.

Each kernel has a short list of candidate tiles (``BK`` over Dqk, ``BV`` over Dv), warp counts
and pipeline depths. :func:`launcher` fits the list to the head dims of a call (tiles no wider
than the next power of two of the dim, duplicates dropped) and returns the kernel wrapped in
``triton.autotune`` over it, so on a GPU the fastest candidate is measured once per key and
reused. The default (:func:`default`) depends on the head width: it is what the autotuner picked
on an H200 at Dqk x Dv = 256 x 512 ("wide", any head dim >= 128) and at 64 x 64 ("narrow") on
2026-11-27 (docs/kernels.md: fwbw 34.9 -> 22.2 ms at 256 x 512, S = 4096); before, one set of
64 x 64 tiles with 8 warps ran at every width.

Tuning is **opt-in** (``XLSTM_TS_KERNELS_AUTOTUNE=1``): on an H200 with triton 3.6
(2026-11-26, ``scripts/check_kernel_candidates.py``) some candidates, each pinned alone, gave
wrong gradients (bw_dqdk (32, 64, 4, 2): dq off by 6x) or changed the *forward* output of the same
call afterwards (bw_dstates (64, 64, 4, 2), fw_intra (64, 128, 4, 3), bw_dqdk (64, 64, 4, 2) and
(128, 64, 8, 2)), which points at out-of-bounds writes, and tuning over the full lists crashed
the CUDA context (illegal address). Those candidates are removed below; the rest left every
output bit-identical to the defaults there, but the pruned lists have not been re-run as a
whole on a GPU. On 2026-11-27 (H200, after the backward split of session 6) every remaining
candidate passed alone with one allocation per tensor and blocking launches, and tuning over
them ran without a fault; bw_dqdk (32, 64, 4, 2) still gave a wrong dk. Tuning stays opt-in
because it re-measures every candidate for each new chunk count (seconds per shape); by default
only :func:`default` runs;

- under ``TRITON_INTERPRET=1`` only the default runs (the interpreter cannot time kernels);
- :func:`forced_configs` pins a candidate (``tests/kernels/test_gpu_tuning.py`` and
  ``scripts/check_kernel_candidates.py`` check every candidate against the reference this way).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import triton

from ._utils import interpreting, next_pow2

# name -> candidates as (BK, BV, num_warps, num_stages) (the defaults, per head width, are below). Pruned after
# the H200 check of 2026-11-26 (module docstring).
CANDIDATES: dict[str, list[tuple[int, int, int, int]]] = {
    # sequential over chunks, grid (Dqk tiles, Dv tiles, BH)
    "fw_states": [(64, 64, 8, 2), (64, 64, 4, 2), (32, 64, 4, 2), (32, 32, 4, 2), (64, 128, 8, 2),
                  (128, 64, 8, 2)],
    "bw_dstates": [(64, 64, 8, 2), (32, 64, 4, 2), (32, 32, 4, 2), (64, 128, 8, 2), (128, 64, 8, 2)],
    # chunk-parallel, grid (Dv tiles, NC, BH), loop over Dqk
    "fw_intra": [(64, 64, 8, 2), (64, 64, 4, 2), (64, 128, 8, 2), (32, 128, 8, 2), (128, 128, 8, 1)],
    # grid (Dqk tiles, NC, BH), loop over Dv
    "bw_dqdk": [(64, 64, 8, 2), (64, 128, 8, 2), (128, 32, 8, 2)],
    # grid (Dv tiles, NC, BH), loop over Dqk
    "bw_dv": [(64, 64, 8, 2), (64, 64, 4, 2), (64, 128, 8, 2), (32, 128, 8, 2), (128, 64, 8, 2),
              (128, 128, 8, 1)],
}

# Removed after that check, kept so that the next GPU run can re-test them
# (``scripts/check_kernel_candidates.py --include-removed``): (32, 64, 4, 2) of bw_dqdk gave a
# wrong dq; with the others h's error changed, which only a stray write can do.
REMOVED: dict[str, list[tuple[int, int, int, int]]] = {
    "bw_dstates": [(64, 64, 4, 2)],
    "fw_intra": [(64, 128, 4, 3)],
    "bw_dqdk": [(32, 64, 4, 2), (64, 64, 4, 2), (128, 64, 8, 2)],
}

# Sequential kernels are tuned per chunk count (their parallelism is BH x tiles, their work per
# program grows with NC); chunk-parallel ones once per shape family.
KEYS = {"fw_states": ["NC"], "bw_dstates": ["NC"], "fw_intra": ["DQK"], "bw_dqdk": ["DQK"], "bw_dv": ["DQK"]}

# The defaults, per head width (module docstring; each also a candidate above).
WIDE_DEFAULTS: dict[str, tuple[int, int, int, int]] = {
    "fw_states": (64, 64, 4, 2), "bw_dstates": (64, 128, 8, 2), "fw_intra": (128, 128, 8, 1),
    "bw_dqdk": (64, 128, 8, 2), "bw_dv": (128, 128, 8, 1)}
NARROW_DEFAULTS: dict[str, tuple[int, int, int, int]] = {
    "fw_states": (64, 64, 4, 2), "bw_dstates": (32, 64, 4, 2), "fw_intra": (64, 64, 4, 2),
    "bw_dqdk": (64, 64, 8, 2), "bw_dv": (64, 64, 4, 2)}

_FORCED: dict[str, tuple[int, int, int, int]] = {}
_WRAPPED: dict[tuple, object] = {}


def autotune_enabled() -> bool:
    """Opt-in: ``XLSTM_TS_KERNELS_AUTOTUNE=1`` (see the module docstring for why)."""
    return os.environ.get("XLSTM_TS_KERNELS_AUTOTUNE", "0").strip().lower() in ("1", "true", "yes", "on")


def fit(cand: tuple[int, int, int, int], DQK: int, DV: int) -> tuple[int, int, int, int]:
    """``cand`` with its tiles capped at the head dims (powers of two >= 16)."""
    bk, bv, w, s = cand
    return min(bk, max(16, next_pow2(DQK))), min(bv, max(16, next_pow2(DV))), w, s


def default(name: str, DQK: int, DV: int) -> tuple[int, int, int, int]:
    """The launch of ``name`` when nothing is tuned or pinned, fitted to the head dims."""
    table = WIDE_DEFAULTS if max(DQK, DV) >= 128 else NARROW_DEFAULTS
    return fit(table[name], DQK, DV)


def fitted(name: str, DQK: int, DV: int) -> list[tuple[int, int, int, int]]:
    """:func:`default` first, then the candidates of ``name`` fitted to the head dims
    (:func:`fit`), duplicates dropped."""
    out: list[tuple[int, int, int, int]] = [default(name, DQK, DV)]
    for cand in CANDIDATES[name]:
        c = fit(cand, DQK, DV)
        if c not in out:
            out.append(c)
    return out


def launcher(kernel, name: str, DQK: int, DV: int, reset_to_zero: list[str] | None = None):
    """``kernel`` wrapped in ``triton.autotune`` over the candidates that apply (see module doc).

    Launch it with a grid function of ``META["BK"]`` / ``META["BV"]`` and without BK, BV,
    num_warps, num_stages.
    """
    if name in _FORCED:
        cands = [_FORCED[name]]
    else:
        cands = fitted(name, DQK, DV)
        if interpreting() or not autotune_enabled():
            cands = cands[:1]
    sig = (name, tuple(cands))
    if sig not in _WRAPPED:
        configs = [triton.Config({"BK": bk, "BV": bv}, num_warps=w, num_stages=s) for bk, bv, w, s in cands]
        _WRAPPED[sig] = triton.autotune(configs=configs, key=KEYS[name],
                                        reset_to_zero=reset_to_zero if len(configs) > 1 else None)(kernel)
    return _WRAPPED[sig]


def chosen() -> dict[str, list[str]]:
    """What the autotuner picked so far: kernel name -> ``"key: config"`` lines (for benchmarks)."""
    out: dict[str, list[str]] = {}
    for (name, _), tuner in _WRAPPED.items():
        for key, cfg in getattr(tuner, "cache", {}).items():
            out.setdefault(name, []).append(f"{key}: {cfg}")
    return out


@contextlib.contextmanager
def forced_configs(**configs: tuple[int, int, int, int]) -> Iterator[None]:
    """Pin kernels to given candidates, e.g. ``forced_configs(fw_intra=(64, 128, 8, 2))``."""
    unknown = set(configs) - set(CANDIDATES)
    if unknown:
        raise ValueError(f"unknown kernels {sorted(unknown)}; known: {sorted(CANDIDATES)}")
    old = dict(_FORCED)
    _FORCED.update(configs)
    try:
        yield
    finally:
        _FORCED.clear()
        _FORCED.update(old)

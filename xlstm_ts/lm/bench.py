"""Measurements shared by the studies: peak memory, generation speed, interleaved train throughput."""

from __future__ import annotations

import ctypes
import gc
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from .base import LanguageModel, state_nbytes


def _status_kb(key: str) -> int | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _release_free_memory() -> None:
    gc.collect()
    try:  # return freed heap pages to the OS so that the next peak is measured from a clean base
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


class PeakRSS:
    """Peak resident memory of this process while the block runs, above the RSS at its start (MB).

    Uses Linux's resettable high-water mark (``/proc/self/clear_refs`` + ``VmHWM``); elsewhere
    ``delta_mb`` is None.
    """

    def __enter__(self):
        _release_free_memory()
        self.ok = True
        try:
            with open("/proc/self/clear_refs", "w") as fh:
                fh.write("5")
        except OSError:
            self.ok = False
        self.base = _status_kb("VmRSS")
        self.delta_mb: float | None = None
        return self

    def __exit__(self, *exc):
        peak = _status_kb("VmHWM")
        if self.ok and peak is not None and self.base is not None:
            self.delta_mb = max(0, peak - self.base) / 1024
        return False


@torch.no_grad()
def generation_speed(model: LanguageModel, context: torch.Tensor, new_tokens: int, *,
                     prefill_chunk_size: int | None = 512, repeats: int = 1) -> dict:
    """Prefill ``context (1, S)`` then decode ``new_tokens`` greedily, one step at a time.

    Returns prefill seconds, decode tokens/s (best of ``repeats``), the state/KV-cache size after
    decoding and the peak RSS above the start of the first repeat (prefill + decode).
    """
    model.eval()
    best_decode, best_prefill, mem, state_mb = float("inf"), float("inf"), None, None
    for r in range(repeats):
        with PeakRSS() as peak:
            t0 = time.perf_counter()
            state = model.init_state(context.shape[0], capacity=context.shape[1] + new_tokens)
            logits, state = model.prefill(context, state, prefill_chunk_size)
            t1 = time.perf_counter()
            for _ in range(new_tokens):
                logits, state = model.step(logits.argmax(-1), state)
            t2 = time.perf_counter()
        if r == 0:
            mem, state_mb = peak.delta_mb, state_nbytes(state) / 2**20
        best_prefill, best_decode = min(best_prefill, t1 - t0), min(best_decode, t2 - t1)
        del state, logits
    return {"context": context.shape[1], "prefill_s": best_prefill, "decode_tok_s": new_tokens / best_decode,
            "state_mb": state_mb, "peak_rss_mb": mem}


def train_throughput(models: dict[str, LanguageModel], batch_size: int, context: int, vocab_size: int, *,
                     rounds: int = 3, steps_per_round: int = 2, seed: int = 0,
                     loss_fn: Callable | None = None) -> dict[str, float]:
    """Training tokens/s (forward, backward, AdamW step) of each model, measured in interleaved
    rounds so that every model sees the same machine load; the median round counts.

    The models are deep-copied; the originals are not touched.
    """
    import copy
    import statistics

    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, vocab_size, (batch_size, context), generator=g)
    y = torch.randint(0, vocab_size, (batch_size, context), generator=g)
    work = {}
    for name, m in models.items():
        mc = copy.deepcopy(m).train()
        work[name] = (mc, torch.optim.AdamW(mc.parameters(), lr=1e-4))
    times: dict[str, list[float]] = {n: [] for n in models}

    def one(mc, opt):
        logits, _ = mc(x)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for mc, opt in work.values():  # warm-up
        one(mc, opt)
    for _ in range(rounds):
        for name, (mc, opt) in work.items():
            t0 = time.perf_counter()
            for _ in range(steps_per_round):
                one(mc, opt)
            times[name].append((time.perf_counter() - t0) / steps_per_round)
    return {n: batch_size * context / statistics.median(ts) for n, ts in times.items()}

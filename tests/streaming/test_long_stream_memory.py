"""A streaming forecaster follows a 1,000,000-step series in constant memory (measured).

The stream is advanced through the public ``update`` in chunks of 10,000 rows, generated on the
fly so that the raw history is never held. ``update`` with k > 1 rows reads them with the
chunkwise form, carrying the state (one row at a time takes the O(1) recurrent step, about
1.3 ms per step at the default size: 10^6 of those would take over 20 minutes, too slow for a
test; the chunked path carries the same state, see ``test_single_step_updates_equal_one_chunk``).
A few single-step updates follow at the end.

Memory is measured at 10^4, 10^5 and 10^6 steps: the resident set size (``/proc/self/statm``,
after ``gc.collect()`` and glibc's ``malloc_trim(0)`` so that freed chunk buffers do not count),
the peak RSS (``ru_maxrss``, reported, not asserted: it is a high-water mark of the transient
buffers of one chunk and moves with heap fragmentation), Python's traced allocations (``tracemalloc``, which also sees numpy
buffers, not torch's) and the bytes of the kept per-series state. Between 10^5 and 10^6 steps
the RSS must grow by less than 8 MB and the traced allocations by less than 1 MB; keeping the
history (8 bytes per value) would add 7 MB to the traced allocations alone, keeping activations
far more. The figures are printed (``-s``) and recorded in ``docs/streaming.md``.
"""

from __future__ import annotations

import ctypes
import gc
import os
import resource
import time
import tracemalloc

import numpy as np
import pandas as pd
import pytest

from xlstm_ts import XLSTMForecaster

START = pd.Timestamp("2000-01-01")
N_FIT, N_STREAM, CHUNK = 200, 1_000_000, 10_000
CHECKPOINTS = (10_000, 100_000, 1_000_000)


def rows(start: int, n: int) -> pd.DataFrame:
    """Rows ``start .. start+n`` of one long hourly series; row t is the same in any chunk."""
    t = np.arange(start, start + n)
    y = 10 + 3 * np.sin(2 * np.pi * t / 24) + 0.5 * (np.sin(t * 12.9898) * 43758.5453 % 1.0 - 0.5)
    ds = pd.date_range(START + pd.Timedelta(hours=int(start)), periods=n, freq="h")
    return pd.DataFrame({"unique_id": "s", "ds": ds, "y": y})


def _malloc_trim() -> bool:
    """Hand freed heap pages back to the OS (glibc); False where that is not available."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        return False
    return True


def rss_mb() -> float:
    """Current resident set size (the peak where /proc is missing)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(est: XLSTMForecaster, steps: int, t0: float) -> dict:
    gc.collect()
    trimmed = _malloc_trim()
    traced, _ = tracemalloc.get_traced_memory()
    return {"steps": steps, "seconds": time.perf_counter() - t0, "rss_mb": rss_mb(),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "traced_kb": traced / 1024, "state_bytes": est.stream_.nbytes, "trimmed": trimmed}


@pytest.mark.slow
def test_million_step_stream_runs_in_constant_memory():
    est = XLSTMForecaster(model="xlstm_stream", horizon=4, lookback=16, calendar=False, val_size=0,
                          max_epochs=1, batch_size=8,
                          model_params={"xlstm": {"embedding_dim": 16, "num_blocks": 2,
                                                  "mlstm": {"num_heads": 2, "chunk_size": 64}}})
    est.fit(rows(0, N_FIT))
    tracemalloc.start()
    try:
        marks = []
        t0 = time.perf_counter()
        for a in range(0, N_STREAM, CHUNK):
            est.update(rows(N_FIT + a, CHUNK))
            if a + CHUNK in CHECKPOINTS:
                marks.append(measure(est, a + CHUNK, t0))
        for k in range(20):  # the O(1) single-step path after 10^6 steps
            est.update(rows(N_FIT + N_STREAM + k, 1))
        marks.append(measure(est, N_STREAM + 20, t0))
    finally:
        tracemalloc.stop()
    for m in marks:
        print(f"steps={m['steps']:>9,}  t={m['seconds']:6.1f}s  rss={m['rss_mb']:7.1f} MB  "
              f"peak_rss={m['peak_rss_mb']:7.1f} MB  traced={m['traced_kb']:7.1f} KB  "
              f"state={m['state_bytes']:,} B")

    assert int(est.stream_.n_seen[0]) == N_FIT + N_STREAM + 20
    assert len({m["state_bytes"] for m in marks}) == 1 and marks[0]["state_bytes"] < 50_000
    at_1e5, at_1e6 = marks[1], marks[2]
    rss_budget = 8.0 if at_1e6["trimmed"] else 32.0  # without malloc_trim freed chunks may stay mapped
    assert at_1e6["rss_mb"] - at_1e5["rss_mb"] < rss_budget, marks
    assert at_1e6["traced_kb"] - at_1e5["traced_kb"] < 1024, marks
    assert marks[3]["rss_mb"] - at_1e6["rss_mb"] < rss_budget, marks
    pred = est.predict()
    assert len(pred) == 4 and np.isfinite(pred["y_hat"]).all()
    assert pred["ds"].iloc[0] == START + pd.Timedelta(hours=N_FIT + N_STREAM + 20)

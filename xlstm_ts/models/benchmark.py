"""Forward+backward time and parameter count of every model on one batch.

``python -m xlstm_ts.models.benchmark [--batch 32 --lookback 336 --horizon 96 --channels 7]``
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from .base import ModelSpec
from .registry import MODELS, build_model


def time_model(name: str, spec: ModelSpec, batch_size: int = 32, reps: int = 10, warmup: int = 3,
               **hparams) -> dict:
    """Seconds of one ``forward + loss.backward()`` in train mode (min and median over ``reps``;
    the min is the robust figure on a shared machine) and the parameter count."""
    torch.manual_seed(0)
    model = build_model(name, spec, **hparams).train()
    batch = {"x": torch.randn(batch_size, spec.lookback, spec.n_channels)}
    if spec.n_futr:
        batch["x_futr"] = torch.randn(batch_size, spec.lookback + spec.horizon, spec.n_futr)
    if spec.n_static:
        batch["static"] = torch.randn(batch_size, spec.n_static)
    y = torch.randn(batch_size, spec.horizon, spec.n_channels, spec.n_outputs)
    times = []
    for i in range(warmup + reps):
        t0 = time.perf_counter()
        out = model(batch)
        loss = ((out - y) ** 2).mean()
        if loss.requires_grad:
            loss.backward()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
        model.zero_grad(set_to_none=True)
    return {"model": name, "params": model.num_parameters(), "fwd_bwd_s": min(times),
            "fwd_bwd_median_s": statistics.median(times)}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lookback", type=int, default=336)
    ap.add_argument("--horizon", type=int, default=96)
    ap.add_argument("--channels", type=int, default=7)
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("models", nargs="*", default=sorted(MODELS))
    a = ap.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    spec = ModelSpec(lookback=a.lookback, horizon=a.horizon, n_channels=a.channels)
    print(f"B={a.batch} L={a.lookback} H={a.horizon} C={a.channels} threads={torch.get_num_threads()}")
    for name in a.models:
        r = time_model(name, spec, a.batch, a.reps)
        print(f"{name:16s} params {r['params']:>10,d}   fwd+bwd min {1000 * r['fwd_bwd_s']:8.1f} ms"
              f"  median {1000 * r['fwd_bwd_median_s']:8.1f} ms")


if __name__ == "__main__":
    main()

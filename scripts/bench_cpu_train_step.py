"""CPU time of one training step of the benchmark presets' models, and of RevIN alone.

Prints a Markdown table (median ms over repeats after warm-up): one optimiser step (forward,
MSE loss, backward, Adam) on a random batch at each preset's shapes and batch size, and the
RevIN normalisation of that batch on its own. One torch thread by default, as the benchmark
cells run (``--threads 1``).

    python scripts/bench_cpu_train_step.py [--threads 1] [--repeats 7]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch

from xlstm_ts.models import ModelSpec, RevIN, build_model

# (name, model, lookback, horizon, channels, batch, hparams): the presets' long-regime models.
CASES = [
    ("ETTh1 xlstm_mixer", "xlstm_mixer", 336, 96, 7, 64,
     {"views": 1, "dropout": 0.7, "xlstm": {"embedding_dim": 32}}),
    ("ETTm1 xlstm_mixer", "xlstm_mixer", 336, 96, 7, 128,
     {"views": 1, "dropout": 0.5, "xlstm": {"embedding_dim": 64}}),
    ("Weather xlstm_mixer (L=1440)", "xlstm_mixer", 1440, 96, 21, 64,
     {"views": 1, "dropout": 0.5, "xlstm": {"embedding_dim": 64}}),
    ("ETTh1 xlstm_patch", "xlstm_patch", 336, 96, 7, 64,
     {"patch_len": 16, "stride": 16, "dropout": 0.2, "head_dropout": 0.2,
      "xlstm": {"embedding_dim": 32, "num_blocks": 1, "slstm_at": "1:0", "mlstm": {"num_heads": 2}}}),
]


def median_ms(fn, repeats: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def time_case(model: str, L: int, H: int, C: int, B: int, hp: dict, repeats: int) -> tuple[float, float]:
    """``(train step ms, RevIN normalise ms)`` for one preset's shapes."""
    m = build_model(model, ModelSpec(lookback=L, horizon=H, n_channels=C), **hp).train()
    opt = torch.optim.Adam(m.parameters(), lr=1e-3)
    x, y = torch.randn(B, L, C), torch.randn(B, H, C)

    def step():
        loss = ((m({"x": x})[..., 0] - y) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()

    revin = RevIN(C)
    return median_ms(step, repeats), median_ms(lambda: revin.normalize(x), repeats)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {args.threads} thread(s), {platform.processor() or platform.machine()}\n")
    print("| model | L | H | C | batch | train step (ms) | RevIN normalise (ms) |")
    print("|---|---|---|---|---|---|---|")
    for name, model, L, H, C, B, hp in CASES:
        step_ms, revin_ms = time_case(model, L, H, C, B, hp, args.repeats)
        print(f"| {name} | {L} | {H} | {C} | {B} | {step_ms:.1f} | {revin_ms:.2f} |", flush=True)


if __name__ == "__main__":
    main()

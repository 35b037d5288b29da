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

import torch
from bench_cpu_layers import timeit as median_ms  # the scripts' one timer (median ms after warm-up)

from xlstm_ts.bench.config import load_bench_config, model_lookback, resolve_model
from xlstm_ts.models import ModelSpec, RevIN, build_model

# (preset, label, channels): the presets' long-regime models at H=96, hyper-parameters and batch
# size read from configs/bench so that the timings follow the presets.
CASES = [("etth1", "xlstm_mixer", 7), ("ettm1", "xlstm_mixer", 7), ("weather", "xlstm_mixer", 21),
         ("etth1", "xlstm_patch", 7)]
HORIZON = 96


def preset_case(preset: str, label: str) -> tuple[str, int, int, dict]:
    """``(model, lookback, batch size, hparams)`` of a preset's label in the long regime at H=96."""
    cfg = load_bench_config(preset)
    model, hp, train = resolve_model(cfg, label, "long", HORIZON)
    return model, model_lookback(cfg, label, "long"), int(train["batch_size"]), hp


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
    for preset, label, C in CASES:
        model, L, B, hp = preset_case(preset, label)
        step_ms, revin_ms = time_case(model, L, HORIZON, C, B, hp, args.repeats)
        print(f"| {preset} {label} | {L} | {HORIZON} | {C} | {B} | {step_ms:.1f} | {revin_ms:.2f} |", flush=True)


if __name__ == "__main__":
    main()

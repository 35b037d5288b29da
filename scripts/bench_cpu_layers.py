"""CPU speed of the xLSTM layers against nn.LSTM, a Transformer layer and the official package.

Prints Markdown tables (median ms over repeats after warm-up) and optionally writes JSON.

    python scripts/bench_cpu_layers.py [--threads 2] [--json out.json] [--quick]

Table 1: B=8, S=512, d=128, 4 heads, fp32, forward and forward+backward (loss = mean(y^2),
backward into parameters and input). Table 2: mLSTM layer vs Transformer layer for
S = 1024 ... 8192 at B=1. With the official ``xlstm`` package installed (``pip install
.[peers]``) its mLSTM layer (xlstm_large, chunkwise native backend) and sLSTM layer (vanilla
backend) are measured too.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import torch
from torch import nn

from xlstm_ts.nn import MLSTMLayer, SLSTMLayer


def timeit(fn, repeats: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def measure(module: nn.Module, x: torch.Tensor, repeats: int) -> tuple[float, float, int]:
    def call(inp):
        y = module(inp)
        return y[0] if isinstance(y, tuple) else y

    def fwd():
        with torch.no_grad():
            call(x)

    def fwdbwd():
        xi = x.detach().requires_grad_()
        call(xi).pow(2).mean().backward()

    params = sum(p.numel() for p in module.parameters())
    return timeit(fwd, repeats), timeit(fwdbwd, repeats), params


class CausalTransformerLayer(nn.Module):
    def __init__(self, d: int, heads: int):
        super().__init__()
        self.layer = nn.TransformerEncoderLayer(d, heads, 2 * d, dropout=0.0, batch_first=True)

    def forward(self, x):
        mask = nn.Transformer.generate_square_subsequent_mask(x.shape[1])
        return self.layer(x, src_mask=mask, is_causal=True)


def official_layers(d: int, heads: int, S: int):
    """The official package's layers, or an empty dict when it is not installed."""
    out = {}
    try:
        from xlstm import sLSTMLayer, sLSTMLayerConfig
        from xlstm.xlstm_large.model import (
            mLSTMBackendConfig,  # noqa: F401
            mLSTMLayer,
            mLSTMLayerConfig,
        )
    except Exception as e:  # not installed, or an incompatible version
        print(f"(official xlstm package not measured: {type(e).__name__}: {e})")
        return out
    try:
        from xlstm.xlstm_large.model import mLSTMBackendConfig as BC
        cfg = mLSTMLayerConfig(
            embedding_dim=d, num_heads=heads,
            mlstm_backend=BC(chunkwise_kernel="chunkwise--native_autograd",
                             sequence_kernel="native_sequence__native", step_kernel="native",
                             mode="train", chunk_size=64, return_last_states=True,
                             autocast_kernel_dtype="float32"),
        )
        out["official mLSTM (xlstm_large, chunkwise native)"] = mLSTMLayer(cfg)
    except Exception as e:
        print(f"(official mLSTM layer not measured: {type(e).__name__}: {e})")
    try:
        out["official sLSTM (vanilla)"] = sLSTMLayer(
            sLSTMLayerConfig(embedding_dim=d, num_heads=heads, backend="vanilla"))
    except Exception as e:
        print(f"(official sLSTM layer not measured: {type(e).__name__}: {e})")
    return out


def cell_times(B: int, H: int, S: int, D: int, repeats: int) -> list[float | None]:
    """fwd+bwd ms of our chunkwise cell and, if installed, mlstm_kernels' native chunkwise kernels."""
    from xlstm_ts.nn.functional import mlstm_chunkwise

    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(B, H, S, D, generator=g) for _ in range(3))
    i, f = torch.randn(B, H, S, generator=g), torch.randn(B, H, S, generator=g) + 3

    def run(fn):
        leaves = [t.clone().requires_grad_() for t in (q, k, v, i, f)]
        out = fn(*leaves)
        (out[0] if isinstance(out, tuple) else out).pow(2).mean().backward()

    times = [timeit(lambda: run(lambda *a: mlstm_chunkwise(*a, chunk_size=64, backend="torch")), repeats)]
    try:
        from mlstm_kernels.torch import get_mlstm_kernel
    except Exception:
        return times + [None, None]
    for name in ("chunkwise--native_autograd", "chunkwise--native_custbw"):
        kern = get_mlstm_kernel(name)
        times.append(timeit(lambda kern=kern: run(lambda *a: kern(*a, chunk_size=64, return_last_states=False)), repeats))
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json", default=None)
    ap.add_argument("--quick", action="store_true", help="smaller sweep (S up to 2048)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    B, S, d, H = 8, 512, 128, 4
    results: dict = {"machine": platform.processor() or platform.machine(), "threads": args.threads,
                     "torch": torch.__version__, "table1": [], "table2": []}

    modules = {
        "xlstm-ts mLSTM layer": MLSTMLayer(d, backend="torch"),
        "xlstm-ts sLSTM layer": SLSTMLayer(d, backend="torch"),
        "nn.LSTM": nn.LSTM(d, d, batch_first=True),
        "nn.TransformerEncoderLayer (causal)": CausalTransformerLayer(d, H),
        **official_layers(d, H, S),
    }
    x = torch.randn(B, S, d)
    lstm_fb = None
    print(f"\n### B={B}, S={S}, d={d}, {H} heads, fp32, {args.threads} threads\n")
    print("| layer | params | fwd ms | fwd+bwd ms | fwd+bwd / nn.LSTM |")
    print("|---|---|---|---|---|")
    rows = []
    for name, mod in modules.items():
        f, fb, p = measure(mod, x, args.repeats)
        rows.append((name, p, f, fb))
        if name == "nn.LSTM":
            lstm_fb = fb
    for name, p, f, fb in rows:
        print(f"| {name} | {p:,} | {f:.1f} | {fb:.1f} | {fb / lstm_fb:.2f}x |")
        results["table1"].append({"layer": name, "params": p, "fwd_ms": f, "fwdbwd_ms": fb})

    print("\n### mLSTM layer vs Transformer layer, B=1, d=128, fp32\n")
    print("| S | mLSTM fwd | mLSTM fwd+bwd | Transformer fwd | Transformer fwd+bwd | speed-up fwd+bwd |")
    print("|---|---|---|---|---|---|")
    mlstm, tf = modules["xlstm-ts mLSTM layer"], modules["nn.TransformerEncoderLayer (causal)"]
    for S2 in (1024, 2048) if args.quick else (1024, 2048, 4096, 8192):
        x2 = torch.randn(1, S2, d)
        mf, mfb, _ = measure(mlstm, x2, 3)
        tf_f, tf_fb, _ = measure(tf, x2, 3)
        print(f"| {S2} | {mf:.1f} | {mfb:.1f} | {tf_f:.1f} | {tf_fb:.1f} | {tf_fb / mfb:.1f}x |")
        results["table2"].append({"S": S2, "mlstm_fwd_ms": mf, "mlstm_fwdbwd_ms": mfb,
                                  "transformer_fwd_ms": tf_f, "transformer_fwdbwd_ms": tf_fb})
    print("\n### Raw mLSTM cell (chunkwise, chunk 64), B=8, 4 heads, S=512, fp32, fwd+bwd ms\n")
    print("| Dqk=Dv | xlstm-ts mlstm_chunkwise | mlstm_kernels chunkwise--native_autograd | mlstm_kernels chunkwise--native_custbw |")
    print("|---|---|---|---|")
    for D in (32, 64):
        row = cell_times(B, H, S, D, args.repeats)
        print("| " + " | ".join([str(D)] + [f"{t:.1f}" if t is not None else "n/a" for t in row]) + " |")
        results.setdefault("cells", []).append({"D": D, "ours": row[0], "native_autograd": row[1], "native_custbw": row[2]})
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2)


if __name__ == "__main__":
    main()

#!/usr/bin/env python
"""GPU benchmark of the xlstm-ts kernels (needs CUDA; run on an H100-class card).

mLSTM, bf16, 65,536 tokens per batch (B = 65536 // S), 8 heads, at (Dqk, Dv) = (256, 512) and
(64, 64), S = 512 ... 16384, forward and forward+backward (backward of ``h`` with a fixed random
``dh``), for:

- ``triton``: ``xlstm_ts_kernels.mlstm_chunkwise`` (this repo);
- ``torch-chunkwise``: ``xlstm_ts.nn.functional.mlstm_chunkwise_torch`` (shapes that run out of
  memory are reported as OOM);
- ``sdpa-causal``: ``torch.nn.functional.scaled_dot_product_attention(is_causal=True)`` with the
  same heads and dims (FlashAttention where it supports the dims, else whatever SDPA picks; the
  backend is recorded);
- ``mlstm_kernels limit_chunk``: ``mlstm_kernels.torch.get_mlstm_kernel``
  ``chunkwise--triton_limit_chunk`` (chunk 64), if that package imports. (Its
  ``chunkwise--triton_xl_chunk`` aborted the whole process with an LLVM assertion while compiling
  under triton 3.6 on an H200, 2026-11-26, so it is left out.)

sLSTM, bf16 and fp32, B = 16, S = 1024, NH = 4, DH = 64 / 128: ``xlstm_ts_kernels.slstm_sequence``
(fused) against the torch recurrence ``slstm_sequence(..., backend="torch")``.

Timing: CUDA events, median over ``--reps`` runs after ``--warmup`` runs. Prints Markdown tables
and writes JSON (card, torch / triton versions, date, every measurement).

    python scripts/bench_kernels_gpu.py                      # full run
    python scripts/bench_kernels_gpu.py --quick              # S = 512, 4096 only, fewer reps
    python scripts/bench_kernels_gpu.py --out bench.json --seqlens 1024 8192
    python scripts/bench_kernels_gpu.py --skip-torch-mlstm --profile-s 4096    # + per-kernel profile
    XLSTM_TS_KERNELS_AUTOTUNE=1 python scripts/bench_kernels_gpu.py --candidates cand.json
        # tune over the launch candidates that scripts/check_kernel_candidates.py passed

Without ``XLSTM_TS_KERNELS_AUTOTUNE=1`` our kernels run their default launch configurations.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import platform
import statistics
import sys
import time
import traceback

import torch
import torch.nn.functional as F

TOKENS = 65536
HEADS = 8
MLSTM_DIMS = [(256, 512), (64, 64)]
SEQLENS = [512, 1024, 2048, 4096, 8192, 16384]


def cuda_time_ms(fn, warmup: int, reps: int) -> float:
    """Median milliseconds of ``fn()`` over ``reps`` runs (CUDA events) after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def measure(fn, warmup, reps):
    """``(ms, peak_GB, note)``; ``ms`` is None on OOM or error."""
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    try:
        ms = cuda_time_ms(fn, warmup, reps)
        return ms, torch.cuda.max_memory_allocated() / 1e9, ""
    except torch.cuda.OutOfMemoryError:
        return None, None, "OOM"
    except Exception as e:  # a kernel that does not support the shape, a compile error, ...
        traceback.print_exc(limit=2)
        return None, None, f"error: {type(e).__name__}: {str(e).splitlines()[0][:120] if str(e) else ''}"
    finally:
        torch.cuda.empty_cache()


class Recorder:
    """Collects result rows, rewrites the JSON after each one (a killed run keeps what it measured)
    and stops measuring once ``budget_s`` seconds have passed (later rows say so)."""

    def __init__(self, out: str, meta: dict, budget_s: float | None):
        self.out, self.meta, self.rows = out, meta, []
        self.deadline = None if budget_s is None else time.monotonic() + budget_s

    def over_budget(self) -> bool:
        return self.deadline is not None and time.monotonic() > self.deadline

    def add(self, row: dict) -> None:
        self.rows.append(row)
        with open(self.out + ".tmp", "w") as fh:
            json.dump(dict(meta=self.meta, results=self.rows), fh, indent=1)
        os.replace(self.out + ".tmp", self.out)


def mlstm_inputs(B, S, Dqk, Dv, dtype, requires_grad):
    g = torch.Generator(device="cuda").manual_seed(0)
    mk = lambda *s: torch.randn(*s, device="cuda", generator=g, dtype=dtype)  # noqa: E731
    q, k, v = mk(B, HEADS, S, Dqk), mk(B, HEADS, S, Dqk), mk(B, HEADS, S, Dv)
    i = mk(B, HEADS, S) - 3.0
    f = mk(B, HEADS, S) + 4.0
    xs = [q, k, v, i, f]
    if requires_grad:
        for x in xs:
            x.requires_grad_()
    return xs


def sdpa_backend_name(q, k, v):
    """Run SDPA once restricted to FlashAttention; fall back to SDPA's own choice."""
    try:
        from torch.nn.attention import SDPBackend, sdpa_kernel

        with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
            F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return "flash"
    except Exception:
        return "sdpa-default"


def mlstm_impls(with_torch: bool = True):
    """name -> callable(q, k, v, i, f) returning h; the slow torch path last."""
    from xlstm_ts_kernels import mlstm_chunkwise

    from xlstm_ts.nn.functional import mlstm_chunkwise_torch

    impls = {"triton (xlstm_ts_kernels)": lambda q, k, v, i, f: mlstm_chunkwise(q, k, v, i, f, chunk_size=64)[0]}
    try:
        from mlstm_kernels.torch import get_mlstm_kernel

        lim = get_mlstm_kernel("chunkwise--triton_limit_chunk")
        impls["mlstm_kernels limit_chunk (cs 64)"] = lambda q, k, v, i, f: lim(
            q=q, k=k, v=v, i=i, f=f, chunk_size=64, return_last_states=False)
    except Exception as e:
        print(f"# mlstm_kernels not available: {type(e).__name__}: {e}", file=sys.stderr)
    if with_torch:
        impls["torch chunkwise"] = lambda q, k, v, i, f: mlstm_chunkwise_torch(q, k, v, i, f, chunk_size=64)[0]
    return impls


def profile_mlstm(dims, S, rec, reps=3):
    """Per-kernel GPU time of one forward+backward (torch.profiler), ours and mlstm_kernels'."""
    from torch.profiler import ProfilerActivity, profile

    lines = []
    for Dqk, Dv in dims:
        B = max(1, TOKENS // S)
        for name, fn in mlstm_impls(with_torch=False).items():
            if rec.over_budget():
                return lines
            try:
                xs = mlstm_inputs(B, S, Dqk, Dv, torch.bfloat16, True)
                dh = torch.randn(B, HEADS, S, Dv, device="cuda", dtype=torch.bfloat16)
                for _ in range(2):  # warm-up (compiles, tunes)
                    fn(*xs).backward(dh)
                torch.cuda.synchronize()
                with profile(activities=[ProfilerActivity.CUDA]) as prof:
                    for _ in range(reps):
                        fn(*xs).backward(dh)
                    torch.cuda.synchronize()
            except Exception as e:
                lines.append(f"{name} Dqk={Dqk} Dv={Dv}: profile failed: {type(e).__name__}: {e}")
                continue
            rows = sorted(prof.key_averages(), key=lambda a: -a.self_device_time_total)
            total = sum(a.self_device_time_total for a in rows) / reps / 1e3
            lines += ["", f"### profile: {name}, fwbw, Dqk={Dqk}, Dv={Dv}, S={S}, B={B}: "
                          f"{total:.2f} ms of GPU kernels per call", "",
                      "| kernel | calls/iter | ms/iter | share |", "|---|---|---|---|"]
            for a in rows[:14]:
                ms = a.self_device_time_total / reps / 1e3
                lines.append(f"| `{a.key[:70]}` | {a.count / reps:g} | {ms:.3f} | {ms / max(total, 1e-9):.0%} |")
            rec.add(dict(kernel="profile", impl=name, Dqk=Dqk, Dv=Dv, S=S, B=B, total_ms=total,
                         top=[(a.key, a.count / reps, a.self_device_time_total / reps / 1e3) for a in rows[:20]]))
            del xs
            torch.cuda.empty_cache()
    return lines


def _skipped(rec, row):
    row.update(ms=None, peak_GB=None, note="skipped (time budget)")
    rec.add(row)


def bench_mlstm(seqlens, dims, warmup, reps, rec, with_torch=True):
    impls = mlstm_impls(with_torch)
    for Dqk, Dv in dims:
        for S in seqlens:
            B = max(1, TOKENS // S)
            for name, fn in impls.items():
                for mode in ("fw", "fwbw"):
                    row = dict(kernel="mlstm", impl=name, mode=mode, B=B, S=S, H=HEADS, Dqk=Dqk, Dv=Dv,
                               dtype="bfloat16")
                    if rec.over_budget():
                        _skipped(rec, row)
                        continue
                    try:
                        xs = mlstm_inputs(B, S, Dqk, Dv, torch.bfloat16, mode == "fwbw")
                    except torch.cuda.OutOfMemoryError:
                        row.update(ms=None, peak_GB=None, note="OOM (inputs)")
                        rec.add(row)
                        continue
                    if mode == "fw":
                        def run(fn=fn, xs=xs):
                            with torch.no_grad():
                                fn(*xs)
                    else:
                        dh = torch.randn(B, HEADS, S, Dv, device="cuda", dtype=torch.bfloat16)

                        def run(fn=fn, xs=xs, dh=dh):
                            h = fn(*xs)
                            h.backward(dh)
                            for x in xs:
                                x.grad = None
                    ms, peak, note = measure(run, warmup, reps)
                    row.update(ms=ms, peak_GB=peak, note=note)
                    rec.add(row)
                    print(f"mlstm {name:36s} {mode:5s} Dqk={Dqk:3d} Dv={Dv:3d} S={S:5d} B={B:4d}: "
                          f"{'-' if ms is None else f'{ms:9.3f} ms'} {note}", flush=True)
                    del xs
            # causal attention at the same heads / dims
            for mode in ("fw", "fwbw"):
                row = dict(kernel="attention", impl="sdpa causal", mode=mode, B=B, S=S, H=HEADS, Dqk=Dqk,
                           Dv=Dv, dtype="bfloat16")
                if rec.over_budget():
                    _skipped(rec, row)
                    continue
                try:
                    g = torch.Generator(device="cuda").manual_seed(0)
                    q = torch.randn(B, HEADS, S, Dqk, device="cuda", dtype=torch.bfloat16, generator=g)
                    k = torch.randn(B, HEADS, S, Dqk, device="cuda", dtype=torch.bfloat16, generator=g)
                    v = torch.randn(B, HEADS, S, Dv, device="cuda", dtype=torch.bfloat16, generator=g)
                except torch.cuda.OutOfMemoryError:
                    row.update(ms=None, peak_GB=None, note="OOM (inputs)")
                    rec.add(row)
                    continue
                backend = sdpa_backend_name(q, k, v)
                row["impl"] = f"sdpa causal ({backend})"
                if mode == "fw":
                    def run(q=q, k=k, v=v):
                        with torch.no_grad():
                            F.scaled_dot_product_attention(q, k, v, is_causal=True)
                else:
                    for x in (q, k, v):
                        x.requires_grad_()
                    do = torch.randn(B, HEADS, S, Dv, device="cuda", dtype=torch.bfloat16)

                    def run(q=q, k=k, v=v, do=do):
                        F.scaled_dot_product_attention(q, k, v, is_causal=True).backward(do)
                        q.grad = k.grad = v.grad = None
                ms, peak, note = measure(run, warmup, reps)
                row.update(ms=ms, peak_GB=peak, note=note)
                rec.add(row)
                print(f"attn  {row['impl']:36s} {mode:5s} Dqk={Dqk:3d} Dv={Dv:3d} S={S:5d} B={B:4d}: "
                      f"{'-' if ms is None else f'{ms:9.3f} ms'} {note}", flush=True)
                del q, k, v


def bench_slstm(warmup, reps, rec, B=16, S=1024, NH=4):
    """Fused kernel vs the torch recurrence (a Python loop of S steps: few reps suffice)."""
    from xlstm_ts_kernels import slstm_sequence as slstm_fused

    from xlstm_ts.nn.functional import slstm_sequence as slstm_dispatch

    impls = {
        "triton fused (xlstm_ts_kernels)": (slstm_fused, warmup, reps),
        "torch recurrence": (lambda x, R, b: slstm_dispatch(x, R, b, backend="torch"), 1, 3),
    }
    for DH in (64, 128):
        for dtype in (torch.bfloat16, torch.float32):
            for name, (fn, n_warm, n_reps) in impls.items():
                for mode in ("fw", "fwbw"):
                    row = dict(kernel="slstm", impl=name, mode=mode, B=B, S=S, NH=NH, DH=DH,
                               dtype=str(dtype).replace("torch.", ""))
                    if rec.over_budget():
                        _skipped(rec, row)
                        continue
                    g = torch.Generator(device="cuda").manual_seed(0)
                    x = torch.randn(B, S, 4, NH, DH, device="cuda", generator=g).to(dtype)
                    R = (torch.randn(NH, DH, 4, DH, device="cuda", generator=g) / math.sqrt(DH)).to(dtype)
                    b = torch.randn(4, NH, DH, device="cuda", generator=g).to(dtype)
                    if mode == "fw":
                        def run(fn=fn, x=x, R=R, b=b):
                            with torch.no_grad():
                                fn(x, R, b)
                    else:
                        for t in (x, R, b):
                            t.requires_grad_()
                        dh = torch.randn(B, S, NH, DH, device="cuda").to(dtype)

                        def run(fn=fn, x=x, R=R, b=b, dh=dh):
                            fn(x, R, b)[0].backward(dh)
                            x.grad = R.grad = b.grad = None
                    ms, peak, note = measure(run, n_warm, n_reps)
                    row.update(ms=ms, peak_GB=peak, note=note)
                    rec.add(row)
                    print(f"slstm {name:36s} {mode:5s} DH={DH:3d} {str(dtype):15s}: "
                          f"{'-' if ms is None else f'{ms:9.3f} ms'} {note}", flush=True)


def fmt(r):
    if r is None:
        return "n/a"
    if r["ms"] is None:
        return r["note"] or "n/a"
    return f"{r['ms']:.2f}"


def markdown(results, meta, dims=MLSTM_DIMS):
    lines = [f"# xlstm-ts kernel benchmark: {meta['device']}",
             "",
             f"torch {meta['torch']}, triton {meta['triton']}, {meta['date']}; median ms "
             f"(CUDA events, {meta['reps']} reps after {meta['warmup']} warm-up).",
             ""]
    ml = [r for r in results if r["kernel"] in ("mlstm", "attention")]
    seqlens = sorted({r["S"] for r in ml})
    for Dqk, Dv in dims:
        lines += [f"## mLSTM, bf16, {TOKENS} tokens/batch, {HEADS} heads, Dqk={Dqk}, Dv={Dv}", ""]
        lines.append("| impl | mode | " + " | ".join(f"S={S} (B={max(1, TOKENS // S)})" for S in seqlens) + " |")
        lines.append("|---|---|" + "---|" * len(seqlens))
        impls = list(dict.fromkeys(r["impl"] for r in ml if r["Dqk"] == Dqk and r["Dv"] == Dv))
        for impl in impls:
            for mode in ("fw", "fwbw"):
                cells = []
                for S in seqlens:
                    hit = [r for r in ml if r["impl"] == impl and r["mode"] == mode and r["S"] == S
                           and r["Dqk"] == Dqk and r["Dv"] == Dv]
                    cells.append(fmt(hit[0] if hit else None))
                lines.append(f"| {impl} | {mode} | " + " | ".join(cells) + " |")
        lines.append("")
    sl = [r for r in results if r["kernel"] == "slstm"]
    if sl:
        r0 = sl[0]
        lines += [f"## sLSTM, B={r0['B']}, S={r0['S']}, NH={r0['NH']}", "",
                  "| impl | dtype | DH | fw ms | fwbw ms |", "|---|---|---|---|---|"]
        keys = list(dict.fromkeys((r["impl"], r["dtype"], r["DH"]) for r in sl))
        for impl, dt, DH in keys:
            fw = [r for r in sl if (r["impl"], r["dtype"], r["DH"], r["mode"]) == (impl, dt, DH, "fw")]
            bw = [r for r in sl if (r["impl"], r["dtype"], r["DH"], r["mode"]) == (impl, dt, DH, "fwbw")]
            lines.append(f"| {impl} | {dt} | {DH} | {fmt(fw[0] if fw else None)} | {fmt(bw[0] if bw else None)} |")
        lines.append("")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seqlens", type=int, nargs="+", default=SEQLENS)
    ap.add_argument("--dims", default="256x512,64x64", help="comma-separated DqkxDv pairs")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--quick", action="store_true", help="S = 512 and 4096 only, 2 warm-up / 5 reps")
    ap.add_argument("--skip-mlstm", action="store_true")
    ap.add_argument("--skip-slstm", action="store_true")
    ap.add_argument("--candidates", default=None,
                    help="JSON from scripts/check_kernel_candidates.py: tune only over the candidates that passed")
    ap.add_argument("--skip-torch-mlstm", action="store_true", help="leave out the (slow) torch chunkwise path")
    ap.add_argument("--profile-s", type=int, default=None,
                    help="also profile one fwbw per kernel at this S (per-kernel GPU times)")
    ap.add_argument("--budget-s", type=float, default=None,
                    help="stop measuring after this many seconds (later cells are marked skipped)")
    ap.add_argument("--out", default="bench_kernels_gpu.json", help="JSON output path (rewritten after each row)")
    ap.add_argument("--md", default=None, help="also write the Markdown tables to this path")
    args = ap.parse_args(argv)
    if not torch.cuda.is_available():
        sys.exit("bench_kernels_gpu.py needs a CUDA device")
    if args.quick:
        args.seqlens, args.warmup, args.reps = [512, 4096], 2, 5
    dims = [tuple(int(x) for x in d.split("x")) for d in args.dims.split(",")]
    import triton

    if args.candidates:
        from xlstm_ts_kernels import _tuning

        for name, keep in json.load(open(args.candidates))["passed"].items():
            _tuning.CANDIDATES[name] = [tuple(c) for c in keep] or _tuning.CANDIDATES[name][:1]
        print("# candidates:", _tuning.CANDIDATES, flush=True)

    meta = dict(device=torch.cuda.get_device_name(), torch=torch.__version__, triton=triton.__version__,
                cuda=torch.version.cuda, python=platform.python_version(),
                date=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                warmup=args.warmup, reps=args.reps, tokens_per_batch=TOKENS, heads=HEADS,
                command=" ".join(sys.argv))
    rec = Recorder(args.out, meta, args.budget_s)
    # sLSTM first: it is short, and a budget cut then only shortens the mLSTM grid.
    if not args.skip_slstm:
        bench_slstm(args.warmup, args.reps, rec)
    prof_lines = profile_mlstm(dims, args.profile_s, rec) if args.profile_s else []
    if not args.skip_mlstm:
        bench_mlstm(args.seqlens, dims, args.warmup, args.reps, rec, with_torch=not args.skip_torch_mlstm)
    from xlstm_ts_kernels import _tuning

    meta["autotune"] = "on" if _tuning.autotune_enabled() else "off (defaults)"
    meta["tuned_configs"] = _tuning.chosen()
    rec.add(dict(kernel="tuning", chosen=meta["tuned_configs"]))
    md = markdown(rec.rows, meta, dims)
    md += "\n## Launch configurations chosen by the autotuner (key: config)\n\n" + "\n".join(
        f"- {name}: " + "; ".join(v) for name, v in meta["tuned_configs"].items()) + "\n" + "\n".join(prof_lines)
    print(md)
    if args.md:
        with open(args.md, "w") as fh:
            fh.write(md + "\n")
    print(f"# wrote {args.out}")


if __name__ == "__main__":
    main()

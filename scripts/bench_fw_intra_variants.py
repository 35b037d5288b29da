#!/usr/bin/env python
"""One-off GPU experiment: what does NaN-causality cost in ``_fw_intra_kernel``?

Session 14 made the chunkwise forward causal for non-finite k/v inside a chunk (60ff9e4); the
profile of that version showed ``_fw_intra_kernel`` at 3.43 ms (256/512) and 0.36 ms (64/64)
against 2.50 / 0.22 ms in session 11. This script builds variants of that kernel's tail (the
rest of the package unchanged) in temporary copies of ``kernels/``, checks each on the GPU
(fp32 against the fp64 parallel form; a NaN key/value at step 30 must leave outputs 0-29 bit for
bit unchanged, where the variant claims it) and times the forward alone (bf16, B=16, S=4096,
8 heads; CUDA events, median of 30 after 5 warm-up), one subprocess per variant.

    python scripts/bench_fw_intra_variants.py [--variants none k_only always ...] [--cpu]

Variants: ``none`` (before 60ff9e4), ``k_only`` (masked weights selected to 0), ``always``
(60ff9e4: zero-and-poison for values unconditionally), ``reload`` (bad values zeroed in the input
dtype; the poison mask recomputed from a reload after the matmul, so nothing extra is live across
it), ``branch`` (a tile-wide count of bad values, and the zero-and-poison path only where it is
non-zero: what ``kernels/`` has since session 14).

Results (NVIDIA H200, session 14, ``docs/gpu_runs/h200_2026-11-27_s14_run2_fw_intra_variants.json``;
there ``branch`` was a variant and ``always`` was named ``current``): forward ms at 256/512 and
64/64: none 5.52 / 0.72, k_only 5.79 / 0.62, always 6.54 / 0.89, reload 6.78 / 0.87, branch
5.82 / 0.68.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The kernel's tail as kernels/ has it: from this comment up to the store of h.
TAIL_START, TAIL_END = "    # Causal also for non-finite inputs", "    tl.store(h_ptr"

ALWAYS = """    # Causal also for non-finite inputs: select the masked weights to 0 rather than multiply
    # (exp(-inf) * NaN = NaN would carry a bad key at step s to the chunk's earlier rows).
    P = tl.where(r[None, :] <= r[:, None], W * qk, 0.0)
    den = tl.sum(P, axis=1) + e * qn
    vt = tl.load(v_ptr + (bh * S + t[:, None]) * DV + dv[None, :], mask=mt[:, None] & mv[None, :],
                 other=0.0).to(tl.float32)
    # The same for values: a non-finite v[s, d] is zeroed for the matmul (0 * NaN in P @ v would
    # reach rows t < s) and h[t, d] is set to NaN for t >= s, as the recurrence gives.
    v_bad = (vt != vt) | (tl.abs(vt) == float("inf"))
    num = mm(P, tl.where(v_bad, 0.0, vt), HALF, DT) + e[:, None] * num_inter
    N = tl.maximum(tl.abs(den), tl.exp(-m_row)) + eps
    h = num / N[:, None]
    h = tl.where(tl.cumsum(v_bad.to(tl.int32), axis=0) > 0, float("nan"), h)
"""

VOFF = "v_ptr + (bh * S + t[:, None]) * DV + dv[None, :], mask=mt[:, None] & mv[None, :], other=0.0"

TAILS = {
    "none": f"""    P = W * qk
    den = tl.sum(P, axis=1) + e * qn
    vt = tl.load({VOFF}).to(tl.float32)
    num = mm(P, vt, HALF, DT) + e[:, None] * num_inter
    N = tl.maximum(tl.abs(den), tl.exp(-m_row)) + eps
    h = num / N[:, None]
""",
    "k_only": f"""    P = tl.where(r[None, :] <= r[:, None], W * qk, 0.0)
    den = tl.sum(P, axis=1) + e * qn
    vt = tl.load({VOFF}).to(tl.float32)
    num = mm(P, vt, HALF, DT) + e[:, None] * num_inter
    N = tl.maximum(tl.abs(den), tl.exp(-m_row)) + eps
    h = num / N[:, None]
""",
    "always": ALWAYS,
    "reload": f"""    P = tl.where(r[None, :] <= r[:, None], W * qk, 0.0)
    den = tl.sum(P, axis=1) + e * qn
    vraw = tl.load({VOFF})
    vraw = tl.where((vraw != vraw) | (tl.abs(vraw) == float("inf")), tl.zeros_like(vraw), vraw)
    num = mm(P, vraw.to(tl.float32), HALF, DT) + e[:, None] * num_inter
    N = tl.maximum(tl.abs(den), tl.exp(-m_row)) + eps
    h = num / N[:, None]
    vre = tl.load({VOFF}).to(tl.float32)
    reached = tl.cumsum(((vre != vre) | (tl.abs(vre) == float("inf"))).to(tl.int32), axis=0) > 0
    h = tl.where(reached, float("nan"), h)
""",
    "branch": None,  # what kernels/ has now (the tail left as it is)
}
CAUSAL_V = {"none": False, "k_only": False}  # the others claim causality for values too
CAUSAL_K = {"none": False}

CHILD = r"""
import json, sys, torch
from xlstm_ts_kernels import mlstm_chunkwise
from xlstm_ts.nn.functional import mlstm_parallel
name, causal_k, causal_v, dev = sys.argv[1], sys.argv[2] == "1", sys.argv[3] == "1", sys.argv[4]
half = torch.bfloat16 if dev == "cuda" else torch.float16  # the interpreter gets bf16 wrong
sizes = ((16, 8, 4096, 256, 512), (16, 8, 4096, 64, 64)) if dev == "cuda" else ((1, 1, 64, 32, 32),)
res = {"variant": name}
g = torch.Generator(device=dev).manual_seed(0)
def inputs(B, H, S, Dqk, Dv, dtype):
    r = lambda *s: torch.randn(*s, generator=g, device=dev)
    return [x.to(dtype) for x in (r(B, H, S, Dqk), r(B, H, S, Dqk), r(B, H, S, Dv), r(B, H, S), r(B, H, S) + 3)]
xs = inputs(2, 2, 200, 64, 64, torch.float32)
h, _ = mlstm_chunkwise(*xs, chunk_size=64)
ref, _ = mlstm_parallel(*[x.double() for x in xs])
res["rel_err_fp32"] = float((h.double() - ref).abs().max() / ref.abs().max())
ok = res["rel_err_fp32"] < 2e-4
for which, claim in (("k", causal_k), ("v", causal_v)):
    for dtype in (torch.float32, half):
        ys = [x.to(dtype) for x in xs]
        hc, _ = mlstm_chunkwise(*ys, chunk_size=64)
        j = {"k": 1, "v": 2}[which]
        ys[j] = ys[j].clone(); ys[j][0, 1, 30, 3] = float("nan")
        hb, _ = mlstm_chunkwise(*ys, chunk_size=64)
        causal = bool(torch.equal(hb[:, :, :30], hc[:, :, :30]))
        reach = hb[0, 1, 30:] if which == "k" else hb[0, 1, 30:, 3]
        res[f"causal_{which}_{str(dtype)[6:]}"] = causal and not bool(torch.isfinite(reach).any())
        if claim:
            ok = ok and res[f"causal_{which}_{str(dtype)[6:]}"]
res["ok"] = ok
for B, H, S, dqk, dv in sizes:
    xs = inputs(B, H, S, dqk, dv, half)
    with torch.no_grad():
        for _ in range(5 if dev == "cuda" else 0):
            mlstm_chunkwise(*xs)
        ts = []
        for _ in range(30):
            if dev != "cuda":  # the interpreter: a smoke run, no timing
                mlstm_chunkwise(*xs); ts.append(float("nan")); break
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record(); mlstm_chunkwise(*xs); b.record(); torch.cuda.synchronize()
            ts.append(a.elapsed_time(b))
    ts.sort()
    res[f"fw_ms_{dqk}x{dv}"] = ts[len(ts) // 2]
print("RESULT " + json.dumps(res), flush=True)
"""


def build(name: str, tmp: str) -> str:
    pkg = os.path.join(tmp, name, "xlstm_ts_kernels")
    shutil.copytree(os.path.join(ROOT, "kernels"), pkg, ignore=shutil.ignore_patterns("__pycache__"))
    path = os.path.join(pkg, "mlstm_chunkwise_fw.py")
    src = open(path).read()
    if TAIL_START not in src or TAIL_END not in src:
        raise SystemExit("kernels/mlstm_chunkwise_fw.py: the tail markers moved; update TAIL_START / TAIL_END")
    i, j = src.index(TAIL_START), src.index(TAIL_END)
    with open(path, "w") as fh:
        fh.write(src if TAILS[name] is None else src[:i] + TAILS[name] + src[j:])
    return os.path.dirname(pkg)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--variants", nargs="+", default=list(TAILS), choices=list(TAILS))
    ap.add_argument("--out", default=None, help="JSON file for the results")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds per variant")
    ap.add_argument("--cpu", action="store_true", help="check the variants under TRITON_INTERPRET=1 (no timing)")
    a = ap.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in a.variants:
            env = dict(os.environ, PYTHONPATH=os.pathsep.join([build(name, tmp), ROOT]))
            env.pop("TRITON_INTERPRET", None)
            if a.cpu:
                env["TRITON_INTERPRET"] = "1"
            try:
                p = subprocess.run([sys.executable, "-c", CHILD, name, "0" if not CAUSAL_K.get(name, True) else "1",
                                    "0" if not CAUSAL_V.get(name, True) else "1", "cpu" if a.cpu else "cuda"],
                                   env=env, capture_output=True, text=True, timeout=a.timeout)
                line = [ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")]
                r = json.loads(line[0][7:]) if line else {"variant": name, "error": p.stderr[-2000:]}
            except subprocess.TimeoutExpired:
                r = {"variant": name, "error": f"timeout after {a.timeout} s"}
            print(json.dumps(r), flush=True)
            results.append(r)
    print("\n| variant | ok | fw ms 256/512 | fw ms 64/64 | rel err fp32 |\n|---|---|---|---|---|")
    for r in results:
        print(f"| {r['variant']} | {r.get('ok', 'error')} | {r.get('fw_ms_256x512', float('nan')):.3f} | "
              f"{r.get('fw_ms_64x64', float('nan')):.3f} | {r.get('rel_err_fp32', float('nan')):.1e} |")
    if a.out:
        with open(a.out, "w") as fh:
            json.dump(results, fh, indent=1)


if __name__ == "__main__":
    main()

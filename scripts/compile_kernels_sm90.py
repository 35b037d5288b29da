#!/usr/bin/env python
"""Compile the Triton kernels for an H100/H200 (sm_90) on a machine without a GPU.

``triton.compile`` with an explicit ``GPUTarget`` runs the whole pipeline (Triton IR, LLVM,
ptxas) on the CPU, so compile errors and the shared memory each kernel needs show up before any
GPU time is spent; ``ptxas -v`` (shipped with triton) on the PTX then reports the registers per
thread and the bytes spilled to local memory. Prints one line per kernel variant: the launch
candidates of the chunkwise mLSTM kernels at the benchmark's head dims (bf16) and the fused
sLSTM in its three modes. Anything above the H100/H200 limit (227 KB) is flagged.

    TRITON_INTERPRET= python scripts/compile_kernels_sm90.py [--defaults-only] [--mlstm-only]

Run from the repository root with the package installed (``xlstm_ts_kernels`` importable).
Timing needs a real GPU; registers and spills are static facts of the compiled code.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import tempfile
import time

os.environ.pop("TRITON_INTERPRET", None)  # must be off before the kernels are imported

import torch  # noqa: E402
import triton  # noqa: E402
from triton.backends.compiler import GPUTarget  # noqa: E402
from triton.compiler import ASTSource  # noqa: E402

TARGET = GPUTarget("cuda", 90, 32)
SMEM_LIMIT = 232448  # bytes per block on H100/H200


def ptxas_usage(ptx: str) -> dict:
    """Registers per thread and spill bytes of ``ptx`` for sm_90a (``ptxas -v``); {} if unavailable."""
    ptxas = os.path.join(os.path.dirname(triton.__file__), "backends", "nvidia", "bin", "ptxas")
    if not os.path.exists(ptxas):
        return {}
    with tempfile.TemporaryDirectory() as d:
        src = os.path.join(d, "k.ptx")
        with open(src, "w") as f:
            f.write(ptx)
        res = subprocess.run([ptxas, "-v", "--gpu-name", "sm_90a", src, "-o", os.path.join(d, "k.cubin")],
                             capture_output=True, text=True)
    log = res.stdout + res.stderr
    regs = re.search(r"Used (\d+) registers", log)
    spill = re.search(r"(\d+) bytes spill stores, (\d+) bytes spill loads", log)
    if not regs or not spill:
        return {}
    return dict(registers=int(regs.group(1)), spill_stores=int(spill.group(1)), spill_loads=int(spill.group(2)))


def compile_kernel(fn, ptr_types: dict[str, str], scalars: dict[str, str], constexprs: dict, num_warps: int,
                   num_stages: int, usage: bool = False) -> dict:
    """Compile ``fn`` for sm_90; returns shared memory (bytes), compile seconds and, with
    ``usage``, registers per thread and spill bytes (:func:`ptxas_usage`)."""
    sig = {}
    for name in fn.arg_names:
        if name in constexprs:
            sig[name] = "constexpr"
        elif name in ptr_types:
            sig[name] = "*" + ptr_types[name]
        else:
            sig[name] = scalars[name]
    src = ASTSource(fn=fn, signature=sig,
                    constexprs={(fn.arg_names.index(k),): v for k, v in constexprs.items()})
    t0 = time.time()
    k = triton.compile(src, target=TARGET, options=dict(num_warps=num_warps, num_stages=num_stages))
    out = dict(shared=k.metadata.shared, seconds=round(time.time() - t0, 1))
    if usage:
        out.update(ptxas_usage(k.asm["ptx"]))
    return out


def report(label: str, thunk) -> None:
    try:
        r = thunk()
        flag = "  <-- over the 227 KB limit" if r["shared"] > SMEM_LIMIT else ""
        regs = (f", {r['registers']} registers, spill {r['spill_stores']}/{r['spill_loads']} B st/ld"
                if "registers" in r else "")
        print(f"{label}: shared {r['shared']:7d} B{regs}, compiled in {r['seconds']} s{flag}", flush=True)
    except Exception as e:  # a compile error is the finding
        print(f"{label}: FAILED {type(e).__name__}: {str(e)[:300]}", flush=True)


def mlstm(dims=((256, 512), (64, 64)), defaults_only: bool = False) -> None:
    from xlstm_ts_kernels import _tuning
    from xlstm_ts_kernels import mlstm_chunkwise_bw as bw
    from xlstm_ts_kernels import mlstm_chunkwise_fw as fw
    from xlstm_ts_kernels._utils import head_block, next_pow2
    from xlstm_ts_kernels.mlstm_chunkwise import ROWS_BS

    kernels = {"fw_states": fw._fw_states_kernel, "fw_intra": fw._fw_intra_kernel,
               "bw_dstates": bw._bw_dstates_kernel, "bw_dqdk": bw._bw_dqdk_kernel, "bw_dv": bw._bw_dv_kernel,
               "bw_dlogw": bw._bw_dlogw_kernel}
    half = {"q_ptr", "k_ptr", "v_ptr", "h_ptr", "dh_ptr", "dq_ptr", "dk_ptr", "dv_ptr", "Cs_ptr", "dCs_ptr"}
    for dqk, dv in dims:
        for name, fn in kernels.items():
            ptrs = {a: ("bf16" if a in half else "fp32") for a in fn.arg_names if a.endswith("_ptr")}
            scalars = {a: ("fp32" if a in ("scale", "eps") else "i32") for a in ("S", "NC", "scale", "eps")}
            if name in _tuning.CANDIDATES:
                cands = _tuning.fitted(name, dqk, dv)
            else:  # fixed launch (mlstm_chunkwise.py): head-dim tiles, 8 warps
                cands = [(head_block(dqk), head_block(dv), 8, 1)]
            for bk, bv, w, s in cands[:1] if defaults_only else cands:
                cx = {a: v for a, v in dict(DQK=dqk, DV=dv, L=64, BK=bk, BV=bv, HALF=True, HAS_INIT=False,
                                            HAS_DSTATE=False).items() if a in fn.arg_names}
                report(f"mlstm {dqk}x{dv} {name:10s} {(bk, bv, w, s)}",
                       lambda fn=fn, ptrs=ptrs, scalars=scalars, cx=cx, w=w, s=s:
                       compile_kernel(fn, ptrs, scalars, cx, w, s, usage=True))
        # the per-row backward scalars, launched as in mlstm_chunkwise.py (dh and h in bf16)
        rows = bw._bw_rows_kernel
        ptrs = {a: ("bf16" if a in half else "fp32") for a in rows.arg_names if a.endswith("_ptr")}
        cx = dict(BS=ROWS_BS, BD=min(next_pow2(dv), 64))
        report(f"mlstm {dqk}x{dv} bw_rows    {(cx['BS'], cx['BD'], 4, 1)}",
               lambda rows=rows, ptrs=ptrs, cx=cx: compile_kernel(rows, ptrs, dict(S="i32", Sp="i32", DV="i32", eps="fp32"),
                                                       cx, 4, 1, usage=True))


def slstm() -> None:
    from xlstm_ts_kernels import slstm_fused as sf

    cases = [("fp32", 64, True), ("bf16", 128, False), ("fp32", 128, False)]
    for fn, io in ((sf._slstm_fw_kernel, ("x_ptr", "R_ptr", "y_ptr")), (sf._slstm_bw_kernel, ("x_ptr", "R_ptr", "dy_ptr"))):
        for dt, dh, resident in cases:
            ptrs = {a: (dt if a in io else "fp32") for a in fn.arg_names if a.endswith("_ptr")}
            kc = sf._k_chunk(resident, torch.float32 if dt == "fp32" else torch.bfloat16)
            cx = dict(NH=4, DH=dh, DHP=dh, BB=sf.BB, HAS_INIT=True, SAVE=True, HAS_DSTATE=True, RESIDENT=resident,
                      HALF=dt != "fp32", KC=kc)
            cx = {a: v for a, v in cx.items() if a in fn.arg_names}
            report(f"slstm {fn.__name__} {dt} DH={dh} KC={kc}",
                   lambda fn=fn, ptrs=ptrs, cx=cx, dh=dh: compile_kernel(fn, ptrs, {"B": "i32", "S": "i32"}, cx,
                                                                  sf._num_warps(dh), sf.NUM_STAGES, usage=True))


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--defaults-only", action="store_true", help="only the default launch of each mLSTM kernel")
    ap.add_argument("--mlstm-only", action="store_true", help="skip the sLSTM kernels")
    args = ap.parse_args()
    if not args.mlstm_only:
        slstm()
    mlstm(defaults_only=args.defaults_only)

#!/usr/bin/env python
"""Compile the Triton kernels for an H100/H200 (sm_90) on a machine without a GPU.

``triton.compile`` with an explicit ``GPUTarget`` runs the whole pipeline (Triton IR, LLVM,
ptxas) on the CPU, so compile errors and the shared memory each kernel needs show up before any
GPU time is spent. Prints one line per kernel variant: the launch candidates of the chunkwise
mLSTM kernels at the benchmark's head dims (bf16) and the fused sLSTM in its three modes.
Anything above the H100/H200 limit (227 KB) is flagged.

    TRITON_INTERPRET= python scripts/compile_kernels_sm90.py

Run from the repository root with the package installed (``xlstm_ts_kernels`` importable).
Register spills and timing need a real GPU.
"""

from __future__ import annotations

import os
import time

os.environ.pop("TRITON_INTERPRET", None)  # must be off before the kernels are imported

import torch  # noqa: E402
import triton  # noqa: E402
from triton.backends.compiler import GPUTarget  # noqa: E402
from triton.compiler import ASTSource  # noqa: E402

TARGET = GPUTarget("cuda", 90, 32)
SMEM_LIMIT = 232448  # bytes per block on H100/H200


def compile_kernel(fn, ptr_types: dict[str, str], scalars: dict[str, str], constexprs: dict, num_warps: int,
                   num_stages: int) -> dict:
    """Compile ``fn`` for sm_90; returns shared memory (bytes) and compile seconds."""
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
    return dict(shared=k.metadata.shared, seconds=round(time.time() - t0, 1))


def report(label: str, thunk) -> None:
    try:
        r = thunk()
        flag = "  <-- over the 227 KB limit" if r["shared"] > SMEM_LIMIT else ""
        print(f"{label}: shared {r['shared']:7d} B, compiled in {r['seconds']} s{flag}", flush=True)
    except Exception as e:  # a compile error is the finding
        print(f"{label}: FAILED {type(e).__name__}: {str(e)[:300]}", flush=True)


def mlstm(dims=((256, 512), (64, 64))) -> None:
    from xlstm_ts_kernels import _tuning
    from xlstm_ts_kernels import mlstm_chunkwise_bw as bw
    from xlstm_ts_kernels import mlstm_chunkwise_fw as fw

    kernels = {"fw_states": fw._fw_states_kernel, "fw_intra": fw._fw_intra_kernel,
               "bw_dstates": bw._bw_dstates_kernel, "bw_dqdk": bw._bw_dqdk_kernel, "bw_dv": bw._bw_dv_kernel}
    half = {"q_ptr", "k_ptr", "v_ptr", "h_ptr", "dh_ptr", "dq_ptr", "dk_ptr", "dv_ptr", "Cs_ptr", "dCs_ptr"}
    for dqk, dv in dims:
        for name, fn in kernels.items():
            ptrs = {a: ("bf16" if a in half else "fp32") for a in fn.arg_names if a.endswith("_ptr")}
            scalars = {a: ("fp32" if a in ("scale", "eps") else "i32") for a in ("S", "NC", "scale", "eps")}
            for bk, bv, w, s in _tuning.fitted(name, dqk, dv):
                cx = {a: v for a, v in dict(DQK=dqk, DV=dv, L=64, BK=bk, BV=bv, HALF=True, HAS_INIT=False,
                                            HAS_DSTATE=False).items() if a in fn.arg_names}
                report(f"mlstm {dqk}x{dv} {name:10s} {(bk, bv, w, s)}",
                       lambda fn=fn, ptrs=ptrs, scalars=scalars, cx=cx, w=w, s=s:
                       compile_kernel(fn, ptrs, scalars, cx, w, s))


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
                                                                  sf._num_warps(dh), sf.NUM_STAGES))


if __name__ == "__main__":
    slstm()
    mlstm()

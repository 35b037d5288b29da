"""The fp32 sLSTM at head dim 128 must fit an H100/H200's shared memory (it needed 264 KB before
R was streamed in column blocks). Checked without a GPU: ``triton.compile`` for sm_90 in a
subprocess (the kernels must be imported with the interpreter off)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SNIPPET = """
import json, sys, torch
sys.path.insert(0, "scripts")
from compile_kernels_sm90 import SMEM_LIMIT, compile_kernel
from xlstm_ts_kernels import slstm_fused as sf
out = {}
for fn, io in ((sf._slstm_fw_kernel, ("x_ptr", "R_ptr", "y_ptr")), (sf._slstm_bw_kernel, ("x_ptr", "R_ptr", "dy_ptr"))):
    ptrs = {a: "fp32" for a in fn.arg_names if a.endswith("_ptr")}
    cx = dict(NH=2, DH=128, DHP=128, BB=sf.BB, HAS_INIT=True, SAVE=True, HAS_DSTATE=True, RESIDENT=False,
              HALF=False, KC=sf._k_chunk(False, torch.float32))
    cx = {a: v for a, v in cx.items() if a in fn.arg_names}
    out[fn.__name__] = compile_kernel(fn, ptrs, {"B": "i32", "S": "i32"}, cx, sf._num_warps(128), sf.NUM_STAGES)["shared"]
print(json.dumps(dict(limit=SMEM_LIMIT, shared=out)))
"""


def test_fp32_slstm_dh128_fits_shared_memory_on_sm90():
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    try:
        import triton.backends.nvidia  # noqa: F401  (the CUDA backend ships ptxas)
    except ImportError:
        pytest.skip("triton without the NVIDIA backend")
    res = subprocess.run([sys.executable, "-c", SNIPPET], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    report = json.loads(res.stdout.strip().splitlines()[-1])
    assert set(report["shared"]) == {"_slstm_fw_kernel", "_slstm_bw_kernel"}
    for name, shared in report["shared"].items():
        assert 0 < shared < report["limit"], (name, shared)

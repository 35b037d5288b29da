"""Kernel tests: Triton's CPU interpreter here, compiled kernels on a CUDA machine.

``TRITON_INTERPRET=1`` is read when ``@triton.jit`` decorates, so it must be set before
``xlstm_ts_kernels`` (or anything importing it) is imported: this file runs first. Without
CUDA it is switched on here; on a CUDA machine it is left as given, so that

- ``TRITON_INTERPRET=1 pytest tests/kernels`` runs the interpreter tests on CPU tensors, and
- ``pytest tests/kernels -m gpu`` (variable unset) runs the compiled kernels on the GPU.
"""

from __future__ import annotations

import os

import torch

if "TRITON_INTERPRET" not in os.environ and not torch.cuda.is_available():
    os.environ["TRITON_INTERPRET"] = "1"
# Compiled runs: the default launch configuration everywhere (tuning is opt-in anyway);
# test_gpu_tuning.py checks every candidate and the autotuner itself explicitly.
os.environ.setdefault("XLSTM_TS_KERNELS_AUTOTUNE", "0")

import pytest  # noqa: E402

INTERPRET = os.environ.get("TRITON_INTERPRET") == "1"


def pytest_collection_modifyitems(config, items):
    skip_gpu = pytest.mark.skip(reason="needs CUDA and compiled Triton (run without TRITON_INTERPRET=1)")
    skip_cpu = pytest.mark.skip(reason="interpreter test: run with TRITON_INTERPRET=1")
    here = os.path.dirname(__file__)
    for item in items:
        if not str(item.fspath).startswith(here):
            continue
        if "gpu" in item.keywords:
            if INTERPRET or not torch.cuda.is_available():
                item.add_marker(skip_gpu)
        elif not INTERPRET:
            item.add_marker(skip_cpu)

"""Backend switch: the Triton kernels (``xlstm_ts_kernels``) on CUDA, pure PyTorch elsewhere.

``"auto"`` picks Triton for CUDA tensors when the kernels import, else torch. ``"triton"``
forces the kernels and raises a clear error where they cannot run; with ``TRITON_INTERPRET=1``
set before the kernels are imported they also run on CPU tensors (how the tests run them).
``"torch"`` forces the PyTorch path.
"""

from __future__ import annotations

import importlib
import os
from typing import Literal

import torch

Backend = Literal["auto", "torch", "triton"]
BACKENDS = ("auto", "torch", "triton")


def _kernels():
    """Import the kernel package lazily (triton is heavy and optional off Linux)."""
    return importlib.import_module("xlstm_ts_kernels")


def triton_unavailable_reason(device: torch.device) -> str | None:
    """Why Triton cannot run on ``device`` here, or ``None`` if it can."""
    try:
        importlib.import_module("triton")
    except Exception as e:  # ImportError, or the interpreter's missing numpy
        return f"triton is not importable ({type(e).__name__}: {e})"
    if device.type == "cuda":
        return None
    if device.type == "cpu" and os.environ.get("TRITON_INTERPRET") == "1":
        return None
    return (
        f"Triton kernels need CUDA tensors (got device {device.type!r}); on the CPU set "
        "TRITON_INTERPRET=1 before importing xlstm_ts to run them in Triton's interpreter, or use backend='torch'"
    )


def resolve_backend(backend: str, device: torch.device) -> Literal["torch", "triton"]:
    """Turn ``"auto" | "torch" | "triton"`` into the backend to run on ``device``."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}; got {backend!r}")
    if backend == "torch":
        return "torch"
    reason = triton_unavailable_reason(device)
    if backend == "auto":
        return "triton" if device.type == "cuda" and reason is None and _kernels_import_ok() else "torch"
    if reason is not None:
        raise RuntimeError(f"backend='triton' cannot run here: {reason}")
    return "triton"


def _kernels_import_ok() -> bool:
    try:
        _kernels()
    except Exception:
        return False
    return True


def kernel(name: str):
    """The kernel entry point ``xlstm_ts_kernels.<name>``."""
    mod = _kernels()
    fn = getattr(mod, name, None)
    if fn is None:
        raise RuntimeError(f"xlstm_ts_kernels has no kernel {name!r}; the installed kernels are out of date")
    return fn

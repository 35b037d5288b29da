"""Session-wide setup that must happen before anything imports triton.

Triton reads ``TRITON_INTERPRET`` when it is imported and when kernels are decorated; torch,
Lightning or the backend switch may import triton long before ``tests/kernels`` is collected.
So without CUDA the interpreter is switched on here, in the root conftest, which pytest loads
first. (On a CUDA machine the variable is left as given: see ``tests/kernels/conftest.py``.)
"""

import os

if "TRITON_INTERPRET" not in os.environ:
    import torch

    if not torch.cuda.is_available():
        os.environ["TRITON_INTERPRET"] = "1"

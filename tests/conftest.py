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


import pytest  # noqa: E402

#: Test folders whose tiny models run faster on one torch thread (far faster when other jobs
#: share the CPU); the thread count is restored after each test. Elsewhere a module opts in
#: with ``pytestmark = pytest.mark.one_thread``.
ONE_THREAD_DIRS = {"streaming", "tuning"}


@pytest.fixture(autouse=True)
def _one_torch_thread_for_tiny_models(request):
    in_dir = os.path.basename(os.path.dirname(str(request.node.fspath))) in ONE_THREAD_DIRS
    if not in_dir and request.node.get_closest_marker("one_thread") is None:
        yield
        return
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

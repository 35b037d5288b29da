"""Every launch candidate of the chunkwise mLSTM kernels on CUDA, and the autotuner itself.

The autotuner picks the fastest candidate per shape, so each candidate must give the same
result: here all of them run (pinned with ``forced_configs``, the i-th candidate of every kernel
at once) against the fp64 reference at the benchmark's head dims. The shapes match the
benchmark's (bf16, no initial state, gradient of ``h`` only, S and the chunk count multiples of
16), so the compiled variants are reused there. Marked ``gpu``.
"""

from __future__ import annotations

import pytest
import torch
from xlstm_ts_kernels import _tuning, mlstm_chunkwise

from xlstm_ts.nn.functional import mlstm_parallel

from ._helpers import mlstm_inputs, rel_err

pytestmark = pytest.mark.gpu
CUDA = "cuda"


def _run(fn, xs, dh):
    xs = [x.detach().clone().requires_grad_() for x in xs]
    h = fn(*xs)
    grads = torch.autograd.grad((h.double() * dh).sum(), xs)
    return [h.detach(), *grads]


def _case(Dqk, Dv, S=1024):
    xs = [x.to(torch.bfloat16) for x in mlstm_inputs(1, 2, S, Dqk, Dv, seed=Dqk, device=CUDA)]
    dh = torch.randn(1, 2, S, Dv, device=CUDA, dtype=torch.float64, generator=torch.Generator(CUDA).manual_seed(1))
    ref = _run(lambda q, k, v, i, f: mlstm_parallel(q, k, v, i, f)[0], [x.double() for x in xs], dh)
    return xs, dh, ref


@pytest.mark.parametrize("Dqk,Dv", [(256, 512), (64, 64)])
def test_every_candidate_matches_reference(Dqk, Dv):
    xs, dh, ref = _case(Dqk, Dv)
    fitted = {name: _tuning.fitted(name, Dqk, Dv) for name in _tuning.CANDIDATES}
    for idx in range(max(len(c) for c in fitted.values())):
        pick = {name: c[idx] for name, c in fitted.items() if idx < len(c)}
        with _tuning.forced_configs(**pick):
            out = _run(lambda q, k, v, i, f: mlstm_chunkwise(q, k, v, i, f, chunk_size=64)[0], xs, dh)
        errs = [rel_err(a, r) for a, r in zip(out, ref, strict=True)]
        assert max(errs) < 6e-2, (pick, errs)


def test_autotuned_launch_matches_reference(monkeypatch):
    """With tuning on, the first call times the candidates (reset_to_zero keeps the atomically
    accumulated gate partials clean) and the result still matches."""
    monkeypatch.setenv("XLSTM_TS_KERNELS_AUTOTUNE", "1")
    xs, dh, ref = _case(64, 64)
    for _ in range(2):  # tuning call, then the cached choice
        out = _run(lambda q, k, v, i, f: mlstm_chunkwise(q, k, v, i, f, chunk_size=64)[0], xs, dh)
        errs = [rel_err(a, r) for a, r in zip(out, ref, strict=True)]
        assert max(errs) < 6e-2, errs
    assert set(_tuning.chosen()) >= {"fw_states", "fw_intra", "bw_dstates", "bw_dqdk", "bw_dv"}

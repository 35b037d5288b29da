"""Compiled kernels on CUDA (marked ``gpu``; skipped without CUDA or under the interpreter).

Run on a GPU machine with ``pytest tests/kernels -m gpu`` (TRITON_INTERPRET unset). The fp64
references run on the GPU too. fp32 kernels use exact fp32 matmuls (``input_precision="ieee"``);
bf16 kernels use bf16 matmul operands (tensor cores) with fp32 accumulation, hence the looser
tolerances.
"""

from __future__ import annotations

import pytest
import torch
from xlstm_ts_kernels import mlstm_chunkwise, mlstm_step, slstm_sequence

from xlstm_ts.nn.functional import mlstm_parallel, slstm_recurrent_autograd
from xlstm_ts.nn.functional import mlstm_step as torch_step

from ._helpers import mlstm_inputs, outputs_and_grads, rel_err

pytestmark = pytest.mark.gpu
CUDA = "cuda"


@pytest.mark.parametrize(
    "B,H,S,Dqk,Dv,L,init,dtype,tol",
    [
        (2, 2, 200, 64, 128, 64, True, torch.float32, 2e-4),
        (1, 2, 130, 256, 512, 64, True, torch.float32, 2e-4),
        (2, 3, 333, 32, 48, 128, False, torch.float32, 2e-4),
        (2, 2, 200, 64, 128, 64, True, torch.bfloat16, 6e-2),
        (1, 2, 130, 256, 512, 64, False, torch.bfloat16, 6e-2),
    ],
)
def test_mlstm_chunkwise_cuda(B, H, S, Dqk, Dv, L, init, dtype, tol):
    xs = [x.to(dtype) for x in mlstm_inputs(B, H, S, Dqk, Dv, init=init, seed=S, device=CUDA)]
    ro, rg = outputs_and_grads(lambda q, k, v, i, f, s: mlstm_parallel(q, k, v, i, f, s), [x.double() for x in xs])
    ko, kg = outputs_and_grads(lambda q, k, v, i, f, s: mlstm_chunkwise(q, k, v, i, f, s, chunk_size=L), xs)
    errs = [rel_err(a, r) for a, r in zip(ko + kg, ro + rg, strict=False)]
    assert max(errs) < tol, errs


def test_mlstm_chunkwise_cuda_extreme_gates():
    xs = [x.float() for x in mlstm_inputs(1, 2, 150, 64, 64, i_scale=50.0, f_shift=0.0, f_scale=20.0,
                                           nonneg_qk=True, init=True, seed=1, device=CUDA)]
    ro, rg = outputs_and_grads(lambda q, k, v, i, f, s: mlstm_parallel(q, k, v, i, f, s), [x.double() for x in xs])
    ko, kg = outputs_and_grads(lambda q, k, v, i, f, s: mlstm_chunkwise(q, k, v, i, f, s), xs)
    errs = [rel_err(a, r) for a, r in zip(ko + kg, ro + rg, strict=False)]
    assert max(errs) < 2e-4, errs


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("which", ["k", "v"])
def test_mlstm_chunkwise_cuda_non_finite_input_is_causal(which, dtype):
    """A NaN key or value at step 30 of a 64-step chunk leaves outputs 0-29 bit for bit unchanged."""
    xs = [x.to(dtype) for x in mlstm_inputs(2, 2, 200, 64, 64, seed=5, device=CUDA)]
    h_clean, _ = mlstm_chunkwise(*xs, chunk_size=64)
    j = {"k": 1, "v": 2}[which]
    xs[j] = xs[j].clone()
    xs[j][0, 1, 30, 3] = float("nan")
    h, _ = mlstm_chunkwise(*xs, chunk_size=64)
    assert torch.equal(h[:, :, :30], h_clean[:, :, :30]) and torch.equal(h[1], h_clean[1])
    bad = h[0, 1, 30:] if which == "k" else h[0, 1, 30:, 3]
    assert not torch.isfinite(bad).any()


@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-5), (torch.bfloat16, 2e-2)])
def test_mlstm_step_cuda(dtype, tol):
    g = torch.Generator().manual_seed(0)
    B, H, Dqk, Dv = 3, 8, 256, 512
    q, k, v = (torch.randn(B, H, d, generator=g).to(CUDA, dtype) for d in (Dqk, Dqk, Dv))
    i, f = (torch.randn(B, H, generator=g).to(CUDA, dtype) for _ in range(2))
    st = (torch.randn(B, H, Dqk, Dv, generator=g).to(CUDA), torch.randn(B, H, Dqk, generator=g).abs().to(CUDA),
          torch.randn(B, H, generator=g).to(CUDA))
    h, s = mlstm_step(q, k, v, i, f, st)
    hr, sr = torch_step(*(x.double() for x in (q, k, v, i, f)), tuple(t.double() for t in st))
    assert rel_err(h, hr) < tol
    for a, r in zip(s, sr, strict=False):
        assert rel_err(a, r) < tol


def _slstm_inputs(B, S, NH, DH, dtype, seed):
    """x_gates, R, b and a non-empty initial state (h, c, n, m) on CUDA."""
    g = torch.Generator().manual_seed(seed)
    xs = [torch.randn(B, S, 4, NH, DH, generator=g), torch.randn(NH, DH, 4, DH, generator=g) / DH**0.5,
          torch.randn(4, NH, DH, generator=g),
          torch.randn(B, NH, DH, generator=g), torch.randn(B, NH, DH, generator=g),
          torch.rand(B, NH, DH, generator=g) + 1, torch.randn(B, NH, DH, generator=g)]
    return [x.to(CUDA, dtype) for x in xs]


def _slstm_outputs_and_grads(fn, ins):
    ins = [x.detach().clone().requires_grad_() for x in ins]
    h, st = fn(ins[0], ins[1], ins[2], tuple(ins[3:]))
    outs = [h, *st]
    gg = torch.Generator(device=CUDA).manual_seed(3)
    loss = sum((o.double() * torch.randn(o.shape, generator=gg, device=CUDA, dtype=torch.float64)).sum()
               for o in outs)
    return outs, list(torch.autograd.grad(loss, ins))


@pytest.mark.parametrize(
    "B,S,NH,DH,dtype,tol",
    [
        (20, 50, 2, 64, torch.float32, 2e-4),  # R on chip
        (5, 30, 2, 128, torch.bfloat16, 6e-2),  # R streamed as whole tiles
        # R streamed in 32-row blocks: four whole fp32 tiles would need 264 KB of shared memory
        (20, 40, 2, 128, torch.float32, 2e-4),
        (20, 50, 2, 64, torch.bfloat16, 6e-2),
    ],
)
def test_slstm_cuda(B, S, NH, DH, dtype, tol):
    xs = _slstm_inputs(B, S, NH, DH, dtype, seed=2)
    ro, rg = _slstm_outputs_and_grads(slstm_recurrent_autograd, [x.double() for x in xs])
    ko, kg = _slstm_outputs_and_grads(slstm_sequence, xs)
    errs = [rel_err(a, r) for a, r in zip(ko + kg, ro + rg, strict=False)]
    assert max(errs) < tol, errs


def test_slstm_auto_uses_the_kernel_for_fp32_large_heads():
    """fp32 with DH = 128 was refused once (shared memory); ``backend="auto"`` now runs it."""
    from xlstm_ts.nn.functional import slstm_sequence as dispatch

    x, R, b = _slstm_inputs(20, 40, 2, 128, torch.float32, seed=0)[:3]
    h, _ = dispatch(x, R, b, backend="auto")
    assert torch.equal(h, slstm_sequence(x, R, b)[0])  # the kernel's result, bit for bit (torch rounds differently)
    assert rel_err(h, slstm_recurrent_autograd(x.double(), R.double(), b.double())[0]) < 2e-4

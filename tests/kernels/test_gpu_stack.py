"""Stacks on CUDA: ``backend="auto"`` must pick the Triton kernels and agree with the torch path.

Marked ``gpu``; skipped without CUDA or under the interpreter.
"""

from __future__ import annotations

import pytest
import torch

from xlstm_ts.nn import MLSTMLayerConfig, SLSTMLayerConfig, XLSTMStack, XLSTMStackConfig
from xlstm_ts.nn.functional import mlstm_chunkwise, resolve_backend, slstm_sequence

from ._helpers import rel_err

pytestmark = pytest.mark.gpu
CUDA = "cuda"


def _stack(backend: str) -> XLSTMStack:
    torch.manual_seed(0)
    cfg = XLSTMStackConfig(embedding_dim=128, num_blocks=2, slstm_at=[1],
                           mlstm=MLSTMLayerConfig(num_heads=4, chunk_size=64),
                           slstm=SLSTMLayerConfig(num_heads=4), backend=backend)
    return XLSTMStack(cfg).to(CUDA)


def test_auto_resolves_to_triton_on_cuda():
    x = torch.zeros(1, device=CUDA)
    assert resolve_backend("auto", x.device) == "triton"


def test_stack_auto_matches_torch_backend_on_cuda():
    x = torch.randn(3, 300, 128, device=CUDA)
    outs, grads = [], []
    for backend in ("auto", "torch"):
        stack = _stack(backend)
        xi = x.clone().requires_grad_()
        y, _ = stack(xi)
        (y * torch.linspace(-1, 1, y.shape[-1], device=CUDA)).sum().backward()
        outs.append(y.detach())
        grads.append([xi.grad] + [p.grad for p in stack.parameters()])
    assert rel_err(outs[0], outs[1]) < 1e-3
    for a, b in zip(grads[0], grads[1], strict=True):
        assert rel_err(a, b) < 1e-3


def test_stack_bf16_autocast_is_finite_on_cuda():
    stack = _stack("auto")
    x = (torch.randn(2, 256, 128, device=CUDA) * 1e3).requires_grad_()
    with torch.autocast("cuda", dtype=torch.bfloat16):
        y, _ = stack(x)
    y.float().sum().backward()
    assert torch.isfinite(y).all() and torch.isfinite(x.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in stack.parameters() if p.grad is not None)


def test_extreme_gates_stay_finite_in_triton_on_cuda():
    g = torch.Generator(device=CUDA).manual_seed(0)
    B, H, S, D = 2, 2, 200, 64
    q, k, v = (torch.randn(B, H, S, D, device=CUDA, generator=g).requires_grad_() for _ in range(3))
    sign = torch.where(torch.rand(B, H, S, device=CUDA, generator=g) > 0.5, 1.0, -1.0)
    i = (1e4 * sign).requires_grad_()
    f = (-1e4 * sign).requires_grad_()
    h, st = mlstm_chunkwise(q, k, v, i, f, backend="triton")
    h.sum().backward()
    for t in (h, *st, q.grad, k.grad, v.grad, i.grad, f.grad):
        assert torch.isfinite(t).all()
    x = (1e4 * torch.randn(B, S, 4, H, D, device=CUDA, generator=g)).requires_grad_()
    R = torch.randn(H, D, 4, D, device=CUDA, generator=g).requires_grad_()
    b = torch.zeros(4, H, D, device=CUDA).requires_grad_()
    hs, sst = slstm_sequence(x, R, b, backend="triton")
    hs.sum().backward()
    for t in (hs, *[s for s in sst if s is not None], x.grad, R.grad, b.grad):
        assert torch.isfinite(t).all()

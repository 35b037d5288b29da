"""Shared test helpers: random inputs and error measures."""

from __future__ import annotations

import torch


def rel_err(a: torch.Tensor, ref: torch.Tensor, floor: float = 1e-300) -> float:
    """max |a - ref| / max |ref| (``floor`` bounds the denominator from below)."""
    a, ref = a.double(), ref.double()
    return ((a - ref).abs().max() / ref.abs().max().clamp_min(floor)).item()


def mlstm_inputs(B, H, S, Dqk, Dv, *, i_shift=0.0, i_scale=1.0, f_shift=3.0, f_scale=1.0,
                 nonneg_qk=False, init=False, m0_shift=0.0, seed=0, device="cpu"):
    """fp64 q, k, v, i, f (and optionally C0, n0, m0) as a list."""
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g, dtype=torch.float64)  # noqa: E731
    q, k = r(B, H, S, Dqk), r(B, H, S, Dqk)
    if nonneg_qk:
        q, k = q.abs(), k.abs()
    xs = [q, k, r(B, H, S, Dv), r(B, H, S) * i_scale + i_shift, r(B, H, S) * f_scale + f_shift]
    if init:
        xs += [r(B, H, Dqk, Dv), r(B, H, Dqk).abs(), r(B, H) + m0_shift]
    return [x.to(device) for x in xs]


def linear_functional(outputs, seed=123, m_weight=1.0):
    """A fixed random linear functional of all outputs (h and the final state)."""
    g = torch.Generator().manual_seed(seed)
    loss = 0.0
    for j, o in enumerate(outputs):
        w = torch.randn(o.shape, generator=g, dtype=torch.float64).to(o.device)
        if j == len(outputs) - 1:
            w = w * m_weight
        loss = loss + (o.double() * w).sum()
    return loss


def outputs_and_grads(fn, inputs, n_main=5, m_weight=1.0):
    """Run ``fn(q, k, v, i, f, state)`` on leaf copies; return outputs and d(functional)/d(inputs)."""
    xs = [x.detach().clone().requires_grad_() for x in inputs]
    state = tuple(xs[n_main:]) if len(xs) > n_main else None
    h, st = fn(*xs[:n_main], state)
    outs = [h, *st]
    grads = torch.autograd.grad(linear_functional(outs, m_weight=m_weight), xs)
    return [o.detach() for o in outs], list(grads)

"""Each trainable model fits a tiny sine batch; the naive models run through the Lightning module."""

from __future__ import annotations

import math

import pytest
import torch

from xlstm_ts.models import MODELS, ModelSpec, build_model, make_loss

NO_DROPOUT = {
    "xlstm_patch": {"dropout": 0.0, "head_dropout": 0.0, "xlstm": {"dropout": 0.0}},
    "xlstm_mixer": {"dropout": 0.0, "xlstm": {"dropout": 0.0}},
    "patchtst": {"dropout": 0.0, "head_dropout": 0.0},
    "dlinear": {},
}


def sine_batch(B=16, L=64, H=16, C=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(L + H, dtype=torch.float32)
    period = 12 + 12 * torch.rand(B, 1, C, generator=g)
    phase = 2 * math.pi * torch.rand(B, 1, C, generator=g)
    amp = 0.5 + torch.rand(B, 1, C, generator=g)
    level = torch.randn(B, 1, C, generator=g)
    s = level + amp * torch.sin(2 * math.pi * t[None, :, None] / period + phase)
    return {"x": s[:, :L], "y": s[:, L:]}


@pytest.mark.parametrize("name", sorted(n for n, c in MODELS.items() if c.trainable))
def test_overfits_tiny_sine_batch(name):
    torch.manual_seed(0)
    batch = sine_batch()
    spec = ModelSpec(lookback=64, horizon=16, n_channels=2)
    model = build_model(name, spec, **NO_DROPOUT[name])
    loss_fn = make_loss("mse")
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(100):
        opt.zero_grad()
        loss = loss_fn(model(batch), batch["y"])
        loss.backward()
        opt.step()
        losses.append(loss.item())
    first, last = losses[0], min(losses[-5:])
    assert last < 0.1 * first, f"{name}: loss {first:.4f} -> {last:.4f}"

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


def _val_mse_after_fit(loss: str, valid_loss: str | None):
    """Fit dlinear 3 epochs with ``loss``/``valid_loss``; return the report and the MSE and MAE
    of the kept weights on the validation batches, computed here independently."""
    from torch.utils.data import DataLoader

    from xlstm_ts.training import ForecastModule, fit_module

    spec = ModelSpec(lookback=64, horizon=16, n_channels=2)
    torch.manual_seed(0)
    model = build_model("dlinear", spec)
    train = sine_batch(B=64, seed=1)
    val = sine_batch(B=32, seed=2)
    rows = lambda b: [{k: v[i] for k, v in b.items()} for i in range(len(b["x"]))]  # noqa: E731
    module = ForecastModule(model, make_loss(loss), learning_rate=0.05, max_epochs=3,
                            valid_loss=None if valid_loss is None else make_loss(valid_loss))
    report = fit_module(module, DataLoader(rows(train), batch_size=16), DataLoader(rows(val), batch_size=32),
                        max_epochs=3, patience=None, seed=0, enable_progress_bar=False)
    with torch.no_grad():
        err = model.eval()(val)[..., 0] - val["y"]
    return report, float((err ** 2).mean()), float(err.abs().mean())


def test_valid_loss_is_what_early_stopping_and_the_kept_epoch_follow():
    """Train on MAE, select on MSE: the reported best validation loss is the validation MSE of
    the weights the fit keeps; without valid_loss it is their validation MAE."""
    report, mse, mae = _val_mse_after_fit("mae", "mse")
    assert report.best_val_loss == pytest.approx(mse, rel=1e-5)
    assert abs(mse - mae) > 1e-3  # the two losses differ, so the check above tells them apart
    report, mse, mae = _val_mse_after_fit("mae", None)
    assert report.best_val_loss == pytest.approx(mae, rel=1e-5)


def test_valid_loss_scores_the_median_of_a_quantile_forecast():
    from xlstm_ts.training import ForecastModule

    spec = ModelSpec(lookback=8, horizon=4, n_channels=1, n_outputs=3)
    module = ForecastModule(build_model("dlinear", spec), make_loss("quantile", quantiles=[0.1, 0.5, 0.9]),
                            valid_loss=make_loss("mse"))
    pred = torch.randn(5, 4, 1, 3)
    y = torch.randn(5, 4, 1)
    assert float(module.criterion(pred, y, "val_loss")) == pytest.approx(float(((pred[..., 1] - y) ** 2).mean()))
    assert float(module.criterion(pred, y, "train_loss")) == pytest.approx(float(module.loss(pred, y)))
    with pytest.raises(ValueError, match="point loss"):
        ForecastModule(build_model("dlinear", spec), make_loss("mse"), valid_loss=make_loss("quantile"))

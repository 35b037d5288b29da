"""Losses against hand computations, masking, shape checks and the registry of loss names."""

from __future__ import annotations

import pytest
import torch

from xlstm_ts.models import LOSSES, make_loss


def test_point_losses_match_hand_computation():
    pred = torch.tensor([1.0, 2.0, 5.0, -1.0]).reshape(1, 2, 2, 1)
    target = torch.tensor([0.0, 2.5, 2.0, -1.0]).reshape(1, 2, 2)
    err = torch.tensor([1.0, -0.5, 3.0, 0.0])
    assert make_loss("mse")(pred, target).item() == pytest.approx((err**2).mean().item())
    assert make_loss("mae")(pred, target).item() == pytest.approx(err.abs().mean().item())
    # Huber, delta 1: 0.5 e^2 inside, delta (|e| - delta / 2) outside.
    hub = [0.5, 0.125, 2.5, 0.0]
    assert make_loss("huber")(pred, target).item() == pytest.approx(sum(hub) / 4)
    hub2 = [0.5, 0.125, 2 * (3 - 1), 0.0]  # delta 2: 3 > 2 -> 2 * (3 - 1)
    assert make_loss("huber", delta=2.0)(pred, target).item() == pytest.approx(sum(hub2) / 4)


def test_pinball_loss_by_hand():
    qs = [0.1, 0.5, 0.9]
    loss = make_loss("quantile", quantiles=qs)
    assert loss.n_outputs == 3
    target = torch.tensor([[[2.0]]])  # (1, 1, 1)
    pred = torch.tensor([[[[1.0, 2.0, 4.0]]]])  # (1, 1, 1, 3)
    # q=0.1: y - p = 1 -> 0.1 * 1 = 0.1; q=0.5: 0; q=0.9: y - p = -2 -> (0.9 - 1) * -2 = 0.2
    assert loss(pred, target).item() == pytest.approx((0.1 + 0.0 + 0.2) / 3)
    # Two elements, averaged over elements and quantiles.
    target2 = torch.tensor([[[2.0], [0.0]]])
    pred2 = torch.tensor([[[[1.0, 2.0, 4.0]], [[0.0, 1.0, -1.0]]]])
    second = (0.0 + 0.5 * 1 + 0.9 * 1) / 3  # q=.5: (0.5-1)*(0-1)=0.5; q=.9: 0.9*(0-(-1))=0.9
    assert loss(pred2, target2).item() == pytest.approx(((0.3 / 3) + second) / 2)
    assert torch.equal(loss.point(pred), torch.tensor([[[2.0]]]))
    # Pinball at q=0.5 is half the absolute error.
    med = make_loss("quantile", quantiles=[0.5])
    p, t = torch.randn(2, 3, 4, 1), torch.randn(2, 3, 4)
    assert med(p, t).item() == pytest.approx(0.5 * make_loss("mae")(p, t).item(), rel=1e-6)
    assert make_loss("quantile").quantiles == [0.1, 0.5, 0.9]


def test_mask_and_nonfinite_targets():
    pred = torch.zeros(1, 2, 2, 1)
    target = torch.tensor([[[1.0, 2.0], [3.0, float("nan")]]])
    mask = torch.tensor([[[True, False], [True, True]]])
    mse = make_loss("mse")
    assert mse(pred, target, mask).item() == pytest.approx((1 + 9) / 2)  # NaN entry left out too
    assert mse(pred, target).item() == pytest.approx((1 + 4 + 9) / 3)
    weights = torch.tensor([[[0.5, 0.0], [0.0, 0.0]]])
    assert mse(pred, target, weights).item() == pytest.approx(1.0)
    none = mse(pred, target, torch.zeros_like(mask))
    assert none.item() == 0.0
    q = make_loss("quantile", quantiles=[0.2, 0.8])
    assert torch.isfinite(q(torch.zeros(1, 2, 2, 2), target, mask))
    # Gradients do not pick up NaNs from masked entries.
    p = torch.zeros(1, 2, 2, 1, requires_grad=True)
    mse(p, target).backward()
    assert torch.isfinite(p.grad).all() and p.grad[0, 1, 1, 0] == 0


def test_loss_errors():
    with pytest.raises(ValueError, match="valid losses"):
        make_loss("rmse")
    with pytest.raises(ValueError, match="quantiles"):
        make_loss("mse", quantiles=[0.5])
    with pytest.raises(ValueError, match="strictly increasing"):
        make_loss("quantile", quantiles=[0.9, 0.1])
    with pytest.raises(ValueError, match="strictly increasing"):
        make_loss("quantile", quantiles=[0.0, 0.5])
    with pytest.raises(ValueError, match="delta"):
        make_loss("huber", delta=0.0)
    with pytest.raises(ValueError, match="valid"):
        make_loss("mae", delta=1.0)
    with pytest.raises(ValueError, match="Q=1"):
        make_loss("mse")(torch.zeros(1, 2, 3, 2), torch.zeros(1, 2, 3))
    with pytest.raises(ValueError, match="Q=3"):
        make_loss("quantile")(torch.zeros(1, 2, 3, 1), torch.zeros(1, 2, 3))
    with pytest.raises(ValueError, match="target.shape"):
        make_loss("mae")(torch.zeros(1, 2, 3, 1), torch.zeros(1, 3, 3))
    assert set(LOSSES) == {"mse", "mae", "huber", "quantile"}

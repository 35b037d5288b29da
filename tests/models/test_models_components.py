"""RevIN, patching, DLinear decomposition and the exact values of the naive baselines."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from xlstm_ts.models import ModelSpec, RevIN, build_model, num_patches, patchify


def test_revin_round_trip_and_normalised_stats():
    x = 5 + 3 * torch.randn(4, 50, 3)
    for affine in (False, True):
        r = RevIN(3, affine=affine)
        if affine:
            with torch.no_grad():
                r.weight.copy_(torch.tensor([0.5, 2.0, -1.5]))
                r.bias.copy_(torch.tensor([0.1, -0.2, 0.3]))
        x_n, stats = r.normalize(x)
        if not affine:
            torch.testing.assert_close(x_n.mean(1), torch.zeros(4, 3), atol=1e-5, rtol=0)
            torch.testing.assert_close(x_n.std(1, unbiased=False), torch.ones(4, 3), atol=1e-4, rtol=0)
        torch.testing.assert_close(r.denormalize(x_n, stats), x, atol=1e-4, rtol=1e-5)
        # (B, H, C, Q) outputs de-normalise per channel, the same for every Q.
        y = x_n[:, :7, :, None].expand(-1, -1, -1, 3)
        torch.testing.assert_close(r.denormalize(y, stats), x[:, :7, :, None].expand(-1, -1, -1, 3),
                                   atol=1e-4, rtol=1e-5)


def test_revin_gradient_is_that_of_the_formula():
    """RevIN centres and scales in place: the input gradient must be that of the plain formula
    (statistics detached, as the normalisation constants of each window)."""
    x = (5 + 3 * torch.randn(3, 20, 2, dtype=torch.float64)).requires_grad_()
    w = torch.randn(3, 20, 2, dtype=torch.float64)
    (RevIN(2).normalize(x)[0] * w).sum().backward()
    xd = x.detach()
    mean, std = xd.mean(1, keepdim=True), torch.sqrt(xd.var(1, keepdim=True, unbiased=False) + 1e-5)
    torch.testing.assert_close(x.grad, w / std)
    x.grad = None
    x_n, (loc, scale) = RevIN(2).normalize(x)
    torch.testing.assert_close(x_n, (xd - mean) / std)
    assert not loc.requires_grad and not scale.requires_grad


def test_revin_constant_window_has_no_nan():
    r = RevIN(2, affine=True)
    x = torch.full((3, 20, 2), 7.5)
    x_n, stats = r.normalize(x)
    assert torch.isfinite(x_n).all() and (x_n == 0).all()
    out = r.denormalize(torch.zeros(3, 5, 2, 1), stats)
    torch.testing.assert_close(out, torch.full((3, 5, 2, 1), 7.5))


@pytest.mark.parametrize("name", ["xlstm_patch", "xlstm_mixer", "patchtst", "dlinear"])
def test_models_on_constant_input_are_finite_with_finite_grads(name):
    spec = ModelSpec(lookback=32, horizon=8, n_channels=2)
    model = build_model(name, spec)
    out = model({"x": torch.full((2, 32, 2), 3.0)})
    out.sum().backward()
    assert torch.isfinite(out).all()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


@pytest.mark.parametrize("L,P,S,pad,N", [(336, 16, 8, True, 42), (512, 16, 8, True, 64), (336, 16, 8, False, 41),
                                          (96, 16, 8, True, 12), (104, 24, 2, True, 42), (16, 16, 8, True, 2),
                                          (50, 16, 16, False, 3)])
def test_patch_counts(L, P, S, pad, N):
    assert num_patches(L, P, S, pad) == N
    assert patchify(torch.randn(2, 3, L), P, S, pad).shape == (2, 3, N, P)


def test_patchify_values_and_end_padding():
    x = torch.arange(10.0)
    p = patchify(x, 4, 2, pad_end=True)  # padded with two copies of 9: [0..9, 9, 9]
    expected = torch.tensor([[0, 1, 2, 3], [2, 3, 4, 5], [4, 5, 6, 7], [6, 7, 8, 9], [8, 9, 9, 9]], dtype=torch.float)
    assert torch.equal(p, expected)
    assert torch.equal(patchify(x, 4, 2, pad_end=False), expected[:4])
    with pytest.raises(ValueError):
        num_patches(3, 4, 2)


def test_dlinear_decomposition():
    spec = ModelSpec(lookback=40, horizon=5, n_channels=2)
    m = build_model("dlinear", spec, kernel_size=5)
    x = torch.randn(3, 40, 2)
    seas, trend = m.decompose(x)
    torch.testing.assert_close(seas + trend, x)
    # Interior: plain centred moving average; edges: the first/last value is repeated.
    torch.testing.assert_close(trend[:, 2:-2], F.avg_pool1d(x.transpose(1, 2), 5, 1).transpose(1, 2))
    torch.testing.assert_close(trend[:, 0], (3 * x[:, 0] + x[:, 1] + x[:, 2]) / 5)
    torch.testing.assert_close(trend[:, -1], (3 * x[:, -1] + x[:, -2] + x[:, -3]) / 5)
    # A linear series is its own trend away from the edges; a constant one everywhere.
    ramp = torch.arange(40.0)[None, :, None].expand(1, 40, 2)
    torch.testing.assert_close(m.decompose(ramp)[1][:, 2:-2], ramp[:, 2:-2])
    const = torch.full((1, 40, 2), 4.0)
    torch.testing.assert_close(m.decompose(const)[0], torch.zeros_like(const))
    assert m.num_parameters() == 2 * (40 * 5 + 5)  # shared: two Linear(L -> H)
    ind = build_model("dlinear", spec, individual=True)
    assert ind.num_parameters() == 2 * 2 * (40 * 5 + 5)
    assert ind({"x": x}).shape == (3, 5, 2, 1)


@pytest.mark.parametrize("individual", [False, True])
def test_dlinear_maps_per_channel_and_loads_the_legacy_layout(individual):
    """Each channel's forecast is its own (or the shared) pair of linear maps of its seasonal and
    trend parts; a state dict in the layout saved before 2026-11-29 (``seasonal.{c}.weight``)
    loads into the same function."""
    torch.manual_seed(0)
    spec = ModelSpec(lookback=30, horizon=4, n_channels=3)
    m = build_model("dlinear", spec, individual=individual, kernel_size=5).eval()
    x = torch.randn(2, 30, 3)
    seas, trend = (t.transpose(1, 2) for t in m.decompose(x))  # (B, C, L)
    sd = m.state_dict()
    w = {p: sd[f"{p}.weight"] for p in ("seasonal", "trend")}
    b = {p: sd[f"{p}.bias"] for p in ("seasonal", "trend")}
    for c in range(3):
        wc, bc = ({p: t[c] for p, t in d.items()} if individual else d for d in (w, b))
        want = F.linear(seas[:, c], wc["seasonal"], bc["seasonal"]) + F.linear(trend[:, c], wc["trend"], bc["trend"])
        torch.testing.assert_close(m({"x": x})[:, :, c, 0], want)
    legacy = {}
    for p in ("seasonal", "trend"):
        for name in ("weight", "bias"):
            t = sd[f"{p}.{name}"]
            for c in range(3 if individual else 1):
                legacy[f"{p}.{c}.{name}"] = t[c] if individual else t
    fresh = build_model("dlinear", spec, individual=individual, kernel_size=5).eval()
    fresh.load_state_dict(legacy)
    torch.testing.assert_close(fresh({"x": x}), m({"x": x}))
    if not individual:  # a per-channel legacy state does not load into the shared model
        legacy = {k.replace(".0.", f".{c}."): v for c in range(3) for k, v in legacy.items()}
        with pytest.raises(RuntimeError, match="size mismatch"):
            fresh.load_state_dict(legacy)


def test_dlinear_default_kernel_25_even_kernel_ok():
    spec = ModelSpec(lookback=60, horizon=5, n_channels=1)
    assert build_model("dlinear", spec).hparams["kernel_size"] == 25
    m = build_model("dlinear", spec, kernel_size=4)
    assert m.decompose(torch.randn(1, 60, 1))[1].shape == (1, 60, 1)


def test_naive_values_exact():
    spec = ModelSpec(lookback=6, horizon=4, n_channels=2, n_outputs=3)
    m = build_model("naive", spec)
    x = torch.arange(24.0).reshape(2, 6, 2)
    out = m({"x": x})
    assert torch.equal(out, x[:, -1][:, None, :, None].expand(2, 4, 2, 3))
    assert m.trainable is False and m.num_parameters() == 0


def test_seasonal_naive_values_exact_and_repeats_beyond_one_season():
    spec = ModelSpec(lookback=7, horizon=8, n_channels=1)
    m = build_model("seasonal_naive", spec, season_length=3)
    x = torch.tensor([0.0, 1, 2, 3, 4, 5, 6])[None, :, None]
    out = m({"x": x})[0, :, 0, 0]
    # Last season = [4, 5, 6], repeated: h=0..7 -> 4 5 6 4 5 6 4 5.
    assert out.tolist() == [4, 5, 6, 4, 5, 6, 4, 5]
    assert m.trainable is False
    assert build_model("seasonal_naive", spec, season_length=7)({"x": x})[0, :, 0, 0].tolist() == [0, 1, 2, 3, 4, 5, 6, 0]
    with pytest.raises(ValueError, match="exceeds the lookback"):
        build_model("seasonal_naive", spec, season_length=8)
    with pytest.raises(ValueError, match="positive int"):
        build_model("seasonal_naive", spec, season_length=0)


@pytest.mark.parametrize("name", ["naive", "seasonal_naive"])
def test_untrainable_models_survive_a_generic_training_step(name):
    spec = ModelSpec(lookback=24, horizon=6, n_channels=2)
    m = build_model(name, spec, **({"season_length": 12} if name == "seasonal_naive" else {}))
    opt = torch.optim.AdamW(m.parameters(), lr=1e-3)  # non-empty parameter list
    batch = {"x": torch.randn(3, 24, 2)}
    before = m({"x": batch["x"]}).detach()
    loss = m(batch).pow(2).mean()
    loss.backward()
    opt.step()
    assert torch.equal(m(batch).detach(), before)


@pytest.mark.parametrize("name, hparams", [("xlstm_patch", {}), ("xlstm_mixer", {}), ("patchtst", {}),
                                           ("dlinear", {"revin": True})])
def test_models_with_revin_forecast_equivariantly_to_each_channels_scale_and_level(name, hparams):
    """With RevIN, ``f(a x + b) = a f(x) + b`` per channel, for any weights (here random, so
    that the zero-initialised heads do not make it trivial); without it the property fails."""
    from .conftest import SMALL, make_batch

    spec = ModelSpec(lookback=48, horizon=12, n_channels=3, n_futr=2)
    batch = make_batch(spec)
    a, b = torch.tensor([3.0, 0.5, 2.0]), torch.tensor([5.0, -2.0, 0.0])
    moved = {**batch, "x": batch["x"] * a + b}
    for revin in (True, False):
        torch.manual_seed(1)
        m = build_model(name, spec, **{**SMALL[name], **hparams, "revin": revin}).eval()
        with torch.no_grad():
            for p in m.parameters():
                p.normal_(0.0, 0.2)
            y, y_moved = m(batch), m(moved)
        expected = y * a[:, None] + b[:, None]  # (B, H, C, Q): channels on dim 2
        if revin:
            torch.testing.assert_close(y_moved, expected, rtol=1e-4, atol=1e-4)
        else:
            assert not torch.allclose(y_moved, expected, rtol=1e-2, atol=1e-2)

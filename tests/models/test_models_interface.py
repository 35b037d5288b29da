"""Every model behind the common interface: shapes, covariates, determinism, scale, registry."""

from __future__ import annotations

import json

import pytest
import torch

from xlstm_ts.models import MODELS, ForecastModel, ModelSpec, build_model, model_hparams

from .conftest import SMALL, make_batch

SPECS = {
    "plain": ModelSpec(lookback=48, horizon=12, n_channels=3),
    "covariates": ModelSpec(lookback=48, horizon=12, n_channels=3, n_futr=4, n_static=2),
    "quantiles": ModelSpec(lookback=48, horizon=12, n_channels=3, n_outputs=3),
    "all": ModelSpec(lookback=40, horizon=30, n_channels=2, n_futr=2, n_static=1, n_outputs=5),
    "one_channel": ModelSpec(lookback=32, horizon=7, n_channels=1),
}


def test_registry_has_all_models():
    assert set(MODELS) == {"xlstm_patch", "xlstm_mixer", "patchtst", "dlinear", "naive", "seasonal_naive"}
    for name, cls in MODELS.items():
        assert issubclass(cls, ForecastModel) and cls.name == name


@pytest.mark.parametrize("spec_name", sorted(SPECS))
@pytest.mark.parametrize("name", sorted(MODELS))
def test_output_shape_and_finite(name, spec_name):
    spec = SPECS[spec_name]
    model = build_model(name, spec, **SMALL[name])
    out = model(make_batch(spec, B=3))
    assert out.shape == (3, spec.horizon, spec.n_channels, spec.n_outputs)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", sorted(MODELS))
def test_default_hparams_build_at_benchmark_shape(name):
    spec = ModelSpec(lookback=336, horizon=96, n_channels=7)
    model = build_model(name, spec)
    with torch.no_grad():
        out = model.eval()(make_batch(spec, B=2))
    assert out.shape == (2, 96, 7, 1)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_eval_deterministic_and_finite_at_large_scale(name):
    spec = SPECS["covariates"]
    model = build_model(name, spec, **SMALL[name]).eval()
    batch = make_batch(spec, B=3, scale=1e4)
    batch["x"] = batch["x"] + 1e4
    with torch.no_grad():
        a, b = model(batch), model(batch)
    assert torch.equal(a, b)
    assert torch.isfinite(a).all()
    # The forecast follows the level of the input (RevIN / linear maps), no saturation to 0.
    if name != "dlinear":
        assert a.abs().mean() > 1e3


@pytest.mark.parametrize("name", sorted(MODELS))
def test_output_depends_on_x_and_only_on_declared_inputs(name):
    spec = SPECS["plain"]
    model = build_model(name, spec, **SMALL[name]).eval()
    batch = make_batch(spec)
    with torch.no_grad():
        base = model(batch)
        changed = dict(batch, x=batch["x"] + torch.randn_like(batch["x"]))
        assert not torch.allclose(model(changed), base)
        # Undeclared covariates (spec n_futr=0, n_static=0) and the target are ignored.
        extra = dict(batch, x_futr=torch.randn(4, 60, 3), static=torch.randn(4, 2), y=batch["y"] * 7)
        assert torch.equal(model(extra), base)


@pytest.mark.parametrize("name", ["xlstm_patch", "xlstm_mixer", "patchtst", "dlinear"])
def test_covariates_reach_the_output_after_training_step(name):
    spec = SPECS["covariates"]
    model = build_model(name, spec, **SMALL[name])
    batch = make_batch(spec)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(3):
        opt.zero_grad()
        loss = (model(batch)[..., 0] - batch["y"]).pow(2).mean()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        base = model(batch)
        f = dict(batch, x_futr=batch["x_futr"] + 1.0)
        s = dict(batch, static=batch["static"] + 1.0)
        assert not torch.allclose(model(f), base)
        assert not torch.allclose(model(s), base)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_batch_shape_errors(name):
    spec = SPECS["covariates"]
    model = build_model(name, spec, **SMALL[name])
    batch = make_batch(spec)
    with pytest.raises(ValueError, match="batch\\['x'\\]"):
        model(dict(batch, x=batch["x"][:, 1:]))
    with pytest.raises(ValueError, match="x_futr"):
        model({k: v for k, v in batch.items() if k != "x_futr"})
    with pytest.raises(ValueError, match="static"):
        model(dict(batch, static=batch["static"][:, :1]))


def test_unknown_model_and_hparams_raise_listing_valid_ones():
    spec = SPECS["plain"]
    with pytest.raises(ValueError, match="valid models: .*xlstm_patch"):
        build_model("lstm", spec)
    with pytest.raises(ValueError, match="valid models"):
        model_hparams("nope")
    with pytest.raises(ValueError, match="valid hparams: .*patch_len"):
        build_model("xlstm_patch", spec, patch_size=16)
    with pytest.raises(ValueError, match="valid keys"):  # nested stack config is checked too
        build_model("xlstm_patch", spec, xlstm={"embed_dim": 32})
    with pytest.raises(ValueError, match="must be a dict"):
        build_model("xlstm_mixer", spec, xlstm=64)
    with pytest.raises(ValueError, match="valid hparams"):
        build_model("naive", spec, season_length=3)
    with pytest.raises(ValueError, match="n_channels"):
        ModelSpec(lookback=10, horizon=2, n_channels=0)
    with pytest.raises(ValueError, match="shorter than patch_len"):
        build_model("patchtst", ModelSpec(lookback=8, horizon=2, n_channels=1))
    with pytest.raises(ValueError, match="views"):
        build_model("xlstm_mixer", spec, views=3)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_hparams_are_json_and_config_rebuilds_the_model(name):
    defaults = model_hparams(name)
    assert json.loads(json.dumps(defaults)) == defaults
    model_hparams(name).clear()  # a copy: mutating it must not touch the class defaults
    assert model_hparams(name) == defaults
    model = build_model(name, SPECS["covariates"], **SMALL[name])
    cfg = json.loads(json.dumps(model.config()))
    clone = build_model(cfg["model"], cfg["spec"], **cfg["hparams"])
    clone.load_state_dict(model.state_dict())
    batch = make_batch(SPECS["covariates"])
    with torch.no_grad():
        assert torch.equal(clone.eval()(batch), model.eval()(batch))


def test_nested_xlstm_hparams_merge_with_defaults():
    spec = SPECS["plain"]
    m = build_model("xlstm_patch", spec, xlstm={"mlstm": {"num_heads": 2}})
    assert m.hparams["xlstm"]["mlstm"]["num_heads"] == 2
    assert m.hparams["xlstm"]["mlstm"]["qkv_proj_blocksize"] == model_hparams("xlstm_patch")["xlstm"]["mlstm"]["qkv_proj_blocksize"]
    assert m.stack.config.embedding_dim == model_hparams("xlstm_patch")["xlstm"]["embedding_dim"]
    m = build_model("xlstm_patch", spec, xlstm={"slstm_at": "all", "num_blocks": 1})
    assert m.stack.config.slstm_positions() == [0]


def test_xlstm_patch_token_count_and_mixer_views():
    spec = ModelSpec(lookback=336, horizon=96, n_channels=7)
    m = build_model("xlstm_patch", spec)
    assert m.n_patches == 42
    assert m.head.in_features == 42 * m.stack.config.embedding_dim
    mixer1 = build_model("xlstm_mixer", SPECS["plain"], views=1, **{k: v for k, v in SMALL["xlstm_mixer"].items()})
    assert mixer1.head.in_features == mixer1.stack.config.embedding_dim
    assert mixer1(make_batch(SPECS["plain"])).shape == (4, 12, 3, 1)


def test_mixer_starts_from_its_linear_forecast():
    spec = SPECS["plain"]
    m = build_model("xlstm_mixer", spec, **SMALL["xlstm_mixer"]).eval()
    batch = make_batch(spec)
    with torch.no_grad():
        x_n, stats = m.revin.normalize(batch["x"])
        lin = m.linear(x_n.transpose(1, 2)).transpose(1, 2)
        expected = m.revin.denormalize(lin, stats)
        torch.testing.assert_close(m(batch)[..., 0], expected)


def test_mixer_linear_init_last_starts_as_the_naive_forecast():
    spec = SPECS["plain"]
    m = build_model("xlstm_mixer", spec, linear_init="last", **SMALL["xlstm_mixer"]).eval()
    batch = make_batch(spec)
    with torch.no_grad():
        out = m(batch)[..., 0]
    torch.testing.assert_close(out, batch["x"][:, -1:, :].expand_as(out), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="linear_init"):
        build_model("xlstm_mixer", spec, linear_init="zeros", **SMALL["xlstm_mixer"])


@pytest.mark.parametrize("base", ["individual", "decomposed"])
def test_mixer_linear_bases_start_as_the_naive_forecast_with_linear_init_last(base):
    spec = SPECS["plain"]
    m = build_model("xlstm_mixer", spec, linear_base=base, linear_init="last", **SMALL["xlstm_mixer"]).eval()
    batch = make_batch(spec)
    with torch.no_grad():
        out = m(batch)[..., 0]
    torch.testing.assert_close(out, batch["x"][:, -1:, :].expand_as(out), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="linear_base"):
        build_model("xlstm_mixer", spec, linear_base="per_channel", **SMALL["xlstm_mixer"])


def test_mixer_individual_linear_base_is_one_map_per_channel():
    spec = SPECS["plain"]
    m = build_model("xlstm_mixer", spec, linear_base="individual", **SMALL["xlstm_mixer"]).eval()
    assert m.linear.weight.shape == (spec.n_channels, spec.horizon, spec.lookback)
    batch = make_batch(spec)
    with torch.no_grad():
        before = m(batch)
        m.linear.weight[1] += 0.1  # channel 1's map only: the head is still zero, so no mixing
        after = m(batch)
    changed = (after - before).abs().amax(dim=(0, 1, 3))
    assert changed[1] > 0 and changed[0] == 0 and changed[2] == 0


def test_mixer_decomposed_linear_base_maps_trend_and_remainder_separately():
    from xlstm_ts.models.layers import moving_average
    from xlstm_ts.models.xlstm_mixer import TREND_KERNEL

    spec = SPECS["plain"]
    m = build_model("xlstm_mixer", spec, linear_base="decomposed", **SMALL["xlstm_mixer"]).eval()
    batch = make_batch(spec)
    with torch.no_grad():
        x_n, stats = m.revin.normalize(batch["x"])
        trend = moving_average(x_n, TREND_KERNEL)
        lin = m.linear((x_n - trend).transpose(1, 2)) + m.trend_linear(trend.transpose(1, 2))
        expected = m.revin.denormalize(lin.transpose(1, 2), stats)
        torch.testing.assert_close(m(batch)[..., 0], expected)


def test_mixer_channel_order_matters_with_one_view():
    spec = SPECS["plain"]
    torch.manual_seed(1)
    m = build_model("xlstm_mixer", spec, views=1, **SMALL["xlstm_mixer"])
    torch.nn.init.normal_(m.head.weight, std=0.1)  # leave the zero-initialised start
    m.eval()
    batch = make_batch(spec)
    perm = torch.tensor([2, 0, 1])
    with torch.no_grad():
        a = m(batch)[:, :, perm]
        b = m(dict(batch, x=batch["x"][:, :, perm]))
    assert not torch.allclose(a, b)

"""YAML presets load, validate and build; the Lightning module trains any model incl. naive ones."""

from __future__ import annotations

import importlib.resources

import pytest
import torch

from xlstm_ts.models import (
    MODELS,
    ModelSpec,
    build_from_preset,
    build_model,
    list_presets,
    load_preset,
    make_loss,
    model_hparams,
)

from .conftest import make_batch

EXPECTED = {"xlstm_patch", "xlstm_patch_slstm", "xlstm_patch_large", "xlstm_mixer", "dlinear", "patchtst", "naive", "seasonal_naive"}


def test_bundled_presets_are_package_data():
    root = importlib.resources.files("xlstm_ts._configs") / "models"
    assert (root / "xlstm_patch.yaml").is_file()
    assert EXPECTED <= set(list_presets())


@pytest.mark.parametrize("preset", sorted(EXPECTED))
def test_preset_loads_and_builds(preset):
    p = load_preset(preset)
    assert set(p) == {"model", "hparams"} and p["model"] in MODELS
    spec = ModelSpec(lookback=96, horizon=24, n_channels=3)
    model = build_model(p["model"], spec, **p["hparams"])
    with torch.no_grad():
        assert model.eval()(make_batch(spec)).shape == (4, 24, 3, 1)
    assert build_from_preset(preset, spec).hparams == model.hparams


def test_main_presets_equal_the_model_defaults():
    # The presets document the defaults; if one changes, the other must too.
    for preset in ("xlstm_patch", "xlstm_mixer", "dlinear", "patchtst"):
        p = load_preset(preset)
        spec = ModelSpec(lookback=64, horizon=8, n_channels=2)
        assert build_model(p["model"], spec, **p["hparams"]).hparams == model_hparams(p["model"]), preset


def test_slstm_preset_uses_slstm_blocks():
    spec = ModelSpec(lookback=64, horizon=8, n_channels=2)
    m = build_from_preset("xlstm_patch_slstm", spec, xlstm={"num_blocks": 2})
    assert m.stack.config.slstm_positions() == [0, 1]


def test_load_preset_from_path_and_errors(tmp_path):
    f = tmp_path / "mine.yaml"
    f.write_text("model: dlinear\nhparams: {kernel_size: 13}\n")
    assert load_preset(f) == {"model": "dlinear", "hparams": {"kernel_size": 13}}
    assert load_preset(str(f))["hparams"]["kernel_size"] == 13
    with pytest.raises(ValueError, match="bundled presets: .*xlstm_patch"):
        load_preset("no_such_preset")
    with pytest.raises(ValueError, match="does not exist"):
        load_preset(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: dlinear\nhparams: {kernel: 13}\n")
    with pytest.raises(ValueError, match="valid hparams"):
        load_preset(bad)
    bad.write_text("model: prophet\n")
    with pytest.raises(ValueError, match="valid models"):
        load_preset(bad)
    bad.write_text("model: dlinear\nextra: 1\n")
    with pytest.raises(ValueError, match="unknown keys"):
        load_preset(bad)


@pytest.mark.parametrize("name", ["naive", "dlinear", "xlstm_mixer"])
def test_lightning_module_trains_any_model(name):
    pytest.importorskip("lightning")
    from torch.utils.data import DataLoader

    from xlstm_ts.training import ForecastModule, fit_module

    spec = ModelSpec(lookback=32, horizon=8, n_channels=2)
    model = build_model(name, spec)
    data = [{k: v[i] for k, v in make_batch(spec, B=16).items()} for i in range(16)]
    loader = DataLoader(data, batch_size=8)
    module = ForecastModule(model, make_loss("mse"), max_epochs=1)
    report = fit_module(module, loader, loader, max_epochs=1, enable_progress_bar=False,
                        trainer_kwargs={"enable_model_summary": False})
    assert report.epochs >= 1

"""Regression tests for the model audit: patches anchored at the window end, shared hparam
validation, seasonal_naive's ``season_length="auto"``, baselines refusing covariates and
non-crossing quantile forecasts."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from xlstm_ts import XLSTMForecaster
from xlstm_ts.models import ModelSpec, build_model, num_patches, patchify, season_length_for
from xlstm_ts.models import layers as layers_module

TINY_STACK = {"embedding_dim": 8, "mlstm": {"num_heads": 2, "qkv_proj_blocksize": 4}, "slstm": {"num_heads": 2}}
TINY_HP = {
    "xlstm_patch": {"xlstm": TINY_STACK},
    "patchtst": {"d_model": 8, "n_heads": 2, "n_layers": 1, "d_ff": 8},
}
FIT = dict(max_epochs=1, batch_size=8, trainer_kwargs={"limit_train_batches": 2, "logger": False,
                                                       "enable_checkpointing": False})


def _patch_model(name: str, L: int, P: int, S: int, pad: bool, **extra) -> nn.Module:
    return build_model(name, ModelSpec(L, 4, 1, **extra), patch_len=P, stride=S, pad_end=pad, **TINY_HP[name])


def _old_patchify(x: torch.Tensor, patch_len: int, stride: int, pad_end: bool = True) -> torch.Tensor:
    """``patchify`` before the fix: patches anchored at the start of the window."""
    if pad_end:
        x = torch.cat([x, x[..., -1:].expand(*x.shape[:-1], stride)], dim=-1)
    return x.unfold(-1, patch_len, stride)


def _long_df(n: int = 80, freq: str = "h", int_ds: bool = False, extra: tuple[str, ...] = ()) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    parts = []
    for i in range(2):
        ds = np.arange(n) if int_ds else pd.date_range("2024-01-01", periods=n, freq=freq)
        y = np.sin(np.arange(n) * 2 * np.pi / 24) + 0.1 * rng.standard_normal(n) + i
        d = pd.DataFrame({"unique_id": f"s{i}", "ds": ds, "y": y})
        for c in extra:
            d[c] = rng.standard_normal(n)
        parts.append(d)
    return pd.concat(parts, ignore_index=True)


# ---------------------------------------------------------------- 1. patches end at the window end


@pytest.mark.parametrize("name", ["xlstm_patch", "patchtst"])
@pytest.mark.parametrize("L,P,S,pad", [(30, 8, 4, False), (20, 16, 8, False), (50, 16, 16, False),
                                       (20, 16, 8, True), (17, 16, 1, False)])
def test_every_input_step_reaches_the_forecast(name, L, P, S, pad):
    model = build_model(name, ModelSpec(L, 4, 1), patch_len=P, stride=S, pad_end=pad, revin=False,
                        **TINY_HP[name]).eval()
    x = torch.randn(1, L, 1, requires_grad=True)
    model({"x": x}).sum().backward()
    unused = (x.grad[0, :, 0] == 0).nonzero().flatten().tolist()
    dropped = (L - P) % S if not pad else 0
    assert unused == list(range(dropped))  # only the oldest leftover steps, never the newest


def test_unaligned_patches_drop_the_oldest_steps():
    x = torch.arange(10.0)
    assert patchify(x, 4, 4, pad_end=False).tolist() == [[2, 3, 4, 5], [6, 7, 8, 9]]
    assert num_patches(10, 4, 4, pad_end=False) == 2


@pytest.mark.parametrize("name", ["xlstm_patch", "patchtst"])
def test_stride_larger_than_patch_len_is_refused(name):
    msg = "patch stride 8 is larger than patch_len 4, so the 4 steps between patches would be ignored"
    for pad in (True, False):
        with pytest.raises(ValueError, match=msg):
            _patch_model(name, 16, 4, 8, pad)
    with pytest.raises(ValueError, match=msg):
        patchify(torch.randn(16), 4, 8)


@pytest.mark.parametrize("name", ["xlstm_patch", "patchtst"])
@pytest.mark.parametrize("L,P,S,pad", [(336, 16, 8, True), (336, 16, 16, True), (104, 24, 2, True),
                                       (36, 24, 4, True), (20, 16, 8, True), (336, 16, 8, False),
                                       (96, 16, 8, False), (17, 16, 1, False)])
def test_aligned_patching_gives_bit_identical_outputs(name, L, P, S, pad, monkeypatch):
    """Configs whose patches already reached the last step ((L - P) % S == 0, or end padding with
    S <= P: every shipped config) forecast exactly as before the fix."""
    torch.manual_seed(0)
    model = _patch_model(name, L, P, S, pad, n_futr=2, n_static=1).eval()
    g = torch.Generator().manual_seed(1)
    batch = {"x": torch.randn(3, L, 1, generator=g), "x_futr": torch.randn(3, L + 4, 2, generator=g),
             "static": torch.randn(3, 1, generator=g)}
    with torch.no_grad():
        new = model(batch)
        monkeypatch.setattr(layers_module, "patchify", _old_patchify)
        old = model(batch)
    assert torch.equal(new, old)


# ---------------------------------------------------------------- 2. hparam validation


@pytest.mark.parametrize("name,hp,msg", [
    ("xlstm_patch", {"revin": "false"}, "xlstm_patch: hparam 'revin' must be a bool (True or False); got 'false'"),
    ("xlstm_patch", {"pad_end": "no"}, "xlstm_patch: hparam 'pad_end' must be a bool (True or False); got 'no'"),
    ("xlstm_patch", {"dropout": 1.0}, "xlstm_patch: hparam 'dropout' must be a number in [0, 1); got 1.0"),
    ("xlstm_patch", {"head_dropout": 1.0}, "xlstm_patch: hparam 'head_dropout' must be a number in [0, 1); got 1.0"),
    ("xlstm_patch", {"dropout": True}, "xlstm_patch: hparam 'dropout' must be a number in [0, 1); got True"),
    ("xlstm_patch", {"patch_len": 16.0}, "xlstm_patch: hparam 'patch_len' must be a positive int; got 16.0"),
    ("xlstm_patch", {"stride": "8"}, "xlstm_patch: hparam 'stride' must be a positive int; got '8'"),
    ("patchtst", {"n_layers": -3}, "patchtst: hparam 'n_layers' must be a positive int; got -3"),
    ("patchtst", {"d_ff": 0}, "patchtst: hparam 'd_ff' must be a positive int; got 0"),
    ("patchtst", {"n_heads": 0}, "patchtst: hparam 'n_heads' must be a positive int; got 0"),
    ("patchtst", {"n_heads": -4}, "patchtst: hparam 'n_heads' must be a positive int; got -4"),
    ("patchtst", {"attn_dropout": 1.5}, "patchtst: hparam 'attn_dropout' must be a number in [0, 1); got 1.5"),
    ("patchtst", {"norm": 1}, "patchtst: hparam 'norm' must be a string; got 1"),
    ("dlinear", {"individual": "no"}, "dlinear: hparam 'individual' must be a bool (True or False); got 'no'"),
    ("dlinear", {"kernel_size": 0}, "dlinear: hparam 'kernel_size' must be a positive int; got 0"),
    ("xlstm_mixer", {"views": True}, "xlstm_mixer: hparam 'views' must be an int; got True"),
    ("xlstm_mixer", {"embed_lookback": "no"}, "xlstm_mixer: hparam 'embed_lookback' must be a bool (True or False)"),
    ("xlstm_mixer", {"num_mem_tokens": -1}, "xlstm_mixer: hparam 'num_mem_tokens' must be an int >= 0; got -1"),
    ("xlstm_stream", {"last_value_skip": "no"}, "xlstm_stream: hparam 'last_value_skip' must be a bool"),
    ("xlstm_stream", {"dropout": 1.0}, "xlstm_stream: hparam 'dropout' must be a number in [0, 1); got 1.0"),
    ("seasonal_naive", {"season_length": 0}, "seasonal_naive: hparam 'season_length' must be a positive int"),
])
def test_bad_scalar_hparams_are_refused_naming_model_hparam_and_value(name, hp, msg):
    if name.startswith("xlstm"):
        hp = {"xlstm": TINY_STACK, **hp}
    with pytest.raises(ValueError) as err:
        build_model(name, ModelSpec(32, 4, 2), **hp)
    assert msg in str(err.value)


def test_numpy_scalars_are_accepted_and_stored_as_python_numbers():
    model = build_model("patchtst", ModelSpec(32, 4, 1), patch_len=np.int64(8), stride=np.int32(4),
                        dropout=np.float32(0.25), head_dropout=0, pad_end=np.bool_(False), **TINY_HP["patchtst"])
    hp = model.hparams
    assert (hp["patch_len"], hp["stride"], hp["head_dropout"], hp["pad_end"]) == (8, 4, 0, False)
    assert type(hp["patch_len"]) is int and type(hp["dropout"]) is float and type(hp["pad_end"]) is bool
    json.dumps(hp)  # still JSON-able


# ---------------------------------------------------------------- 3. seasonal_naive season_length="auto"


def test_season_rule_lives_in_models_and_bench_imports_it():
    from xlstm_ts.bench import protocol

    assert protocol.season_length_for is season_length_for


@pytest.mark.parametrize("freq,params,expected", [("D", None, 7), ("D", {"season_length": "auto"}, 7),
                                                  ("h", None, 24), ("D", {"season_length": 3}, 3)])
def test_seasonal_naive_season_length_auto_follows_the_data_frequency(freq, params, expected):
    est = XLSTMForecaster(model="seasonal_naive", model_params=params, horizon=7, lookback=30, **FIT)
    est.fit(_long_df(n=120, freq=freq))
    assert est.model_.hparams["season_length"] == expected
    assert len(est.predict()) == 2 * 7


def test_seasonal_naive_auto_needs_timestamps_or_a_long_enough_lookback():
    est = XLSTMForecaster(model="seasonal_naive", horizon=4, lookback=16, **FIT)
    with pytest.raises(ValueError, match=r"integer time steps: pass model_params=\{'season_length': m\}"):
        est.fit(_long_df(int_ds=True))
    with pytest.raises(ValueError, match=r"season_length='auto' \(the default\) is 24 for data of frequency 'h', "
                                         r"more than lookback=16"):
        est.fit(_long_df())
    with pytest.raises(ValueError, match="season_length='auto' is resolved from the data's time index"):
        build_model("seasonal_naive", ModelSpec(32, 4, 1), season_length="auto")


# ---------------------------------------------------------------- 4. baselines refuse covariates


@pytest.mark.parametrize("model,params", [("naive", None), ("seasonal_naive", {"season_length": 4})])
def test_baselines_refuse_covariates_at_fit(model, params):
    df = _long_df(extra=("temp",))
    static = pd.DataFrame({"unique_id": ["s0", "s1"], "size": [1.0, 2.0]})
    est = XLSTMForecaster(model=model, model_params=params, horizon=4, lookback=16, futr_cols=["temp"], **FIT)
    with pytest.raises(ValueError, match=rf"model='{model}' has nothing to learn, so it cannot use covariates "
                                         r"and would ignore futr_cols \['temp'\]: fit it without them"):
        est.fit(df)
    est.set_params(futr_cols=None)
    with pytest.raises(ValueError, match=r"would ignore static_df columns \['size'\]"):
        est.fit(df.drop(columns="temp"), static_df=static)
    est.fit(df.drop(columns="temp"))  # calendar features (no futr_df needed) are fine
    assert len(est.predict()) == 2 * 4


# ---------------------------------------------------------------- 5. quantiles never cross


class _CrossingNet(nn.Module):
    """Stands in for a fitted network whose quantile heads cross: outputs for the levels
    (0.1, 0.5, 0.9) are last value + (1, 0, -1), the reverse of their order."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, batch):
        x = batch["x"]
        H = self.inner.spec.horizon
        offsets = torch.tensor([1.0, 0.0, -1.0], dtype=x.dtype)
        return x[:, -1:, :, None].expand(-1, H, -1, 3) + offsets


def test_quantile_forecasts_are_sorted_in_predict_and_cross_validation():
    df = _long_df()
    est = XLSTMForecaster(model="dlinear", model_params={"kernel_size": 5}, horizon=4, lookback=16,
                          loss="quantile", quantiles=[0.1, 0.9], **FIT).fit(df)
    est.model_ = _CrossingNet(est.model_)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # in-sample backtest windows
        frames = [est.predict(), est.cross_validation(df, n_windows=2)]
    last = df.groupby("unique_id")["y"].last()
    for frame in frames:
        lo, mid, hi = frame["y_hat_q0.1"], frame["y_hat"], frame["y_hat_q0.9"]
        assert (lo < mid).all() and (mid < hi).all()
    p = frames[0]
    # The median keeps its own output (the last value); the band is the rearranged pair.
    np.testing.assert_allclose(p.groupby("unique_id")["y_hat"].first(), last, rtol=1e-6)
    np.testing.assert_allclose((p["y_hat_q0.9"] - p["y_hat"]).to_numpy(), (p["y_hat"] - p["y_hat_q0.1"]).to_numpy(),
                               rtol=1e-6)

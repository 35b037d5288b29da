"""Per-channel scalers (scikit-learn API) and the per-series scaler."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from safetensors import safe_open
from safetensors.numpy import load_file, save_file
from sklearn.base import clone
from sklearn.preprocessing import MinMaxScaler, RobustScaler, StandardScaler

from xlstm_ts.data import SCALER_METHODS, ChannelScaler, PerSeriesScaler, make_scaler

RNG = np.random.default_rng(0)
DATA = (RNG.normal(size=(200, 3)) * [1.0, 10.0, 0.1] + [0.0, 50.0, -3.0]).astype(np.float32)


@pytest.mark.parametrize(
    ("method", "reference"),
    [("standard", StandardScaler()), ("robust", RobustScaler()), ("minmax", MinMaxScaler())],
)
def test_matches_scikit_learn(method, reference):
    ours = make_scaler(method).fit_transform(DATA)
    np.testing.assert_allclose(ours, reference.fit_transform(DATA), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("method", SCALER_METHODS)
def test_round_trip_keeps_float32(method):
    scaler = make_scaler(method).fit(DATA)
    z = scaler.transform(DATA)
    assert z.dtype == np.float32
    np.testing.assert_allclose(scaler.inverse_transform(z), DATA, rtol=1e-5, atol=1e-4)


def test_none_is_identity():
    np.testing.assert_array_equal(make_scaler("none").fit_transform(DATA), DATA)


@pytest.mark.parametrize("method", SCALER_METHODS)
@pytest.mark.parametrize("value", [0.0, 7.25, 1.0e6])
def test_constant_channel_has_scale_one(method, value):
    x = np.column_stack([np.full(100, value), np.arange(100.0)]).astype(np.float32)
    scaler = make_scaler(method).fit(x)
    assert scaler.scale_[0] == 1.0
    z = scaler.transform(x)
    assert np.isfinite(z).all()
    np.testing.assert_allclose(scaler.inverse_transform(z)[:, 0], value, rtol=1e-6)


@pytest.mark.parametrize("method", SCALER_METHODS)
def test_spread_below_the_data_resolution_counts_as_constant(method):
    """Found by the round-trip property: the IQR of [0, 1, -2.2e-309 x 3] is 2.2e-309, which
    is above 0 (and above eps * |median|) but turns 1.0 into inf when divided by."""
    x = np.array([[0.0], [1.0], [-2.22507386e-309], [-2.22507386e-309], [-2.22507386e-309]])
    scaler = make_scaler(method).fit(x)
    z = scaler.transform(x)
    assert np.isfinite(z).all()
    np.testing.assert_allclose(scaler.inverse_transform(z), x, rtol=1e-9, atol=1e-6)


@settings(max_examples=30, deadline=None)
@given(
    arrays(
        np.float64, st.tuples(st.integers(2, 30), st.integers(1, 3)), elements=st.floats(-1e4, 1e4)
    )
)
def test_round_trip_property(x):
    for method in SCALER_METHODS:
        scaler = make_scaler(method).fit(x)
        z = scaler.transform(x)
        assert np.isfinite(z).all()
        np.testing.assert_allclose(scaler.inverse_transform(z), x, rtol=1e-9, atol=1e-6)


def test_sklearn_conventions():
    scaler = ChannelScaler(method="robust")
    assert scaler.get_params() == {"method": "robust"}
    fitted = scaler.fit(DATA)
    copy = clone(fitted)
    assert copy.get_params() == {"method": "robust"} and not hasattr(copy, "center_")
    assert fitted.n_features_in_ == 3


def test_errors():
    with pytest.raises(ValueError, match="unknown scaler 'zscore'"):
        make_scaler("zscore")
    with pytest.raises(ValueError, match="unknown scaler"):
        ChannelScaler("zscore").fit(DATA)  # constructor stores params unchanged, fit checks
    with pytest.raises(ValueError, match="NaN"):
        make_scaler().fit(np.array([[1.0], [np.nan]]))
    with pytest.raises(ValueError, match="expecting 3 features"):
        make_scaler().fit(DATA).transform(DATA[:, :2])


# ---------------------------------------------------------------------------- per series


def two_series():
    a = np.concatenate([np.zeros((50, 2)), np.full((50, 2), 1000.0)]).astype(np.float32)
    a[:50] += RNG.normal(size=(50, 2)).astype(np.float32)
    b = (RNG.normal(size=(80, 2)) * 5 + 3).astype(np.float32)
    return [a, b]


def test_per_series_fits_on_the_training_span_only():
    series = two_series()
    scaler = PerSeriesScaler("standard").fit(series, spans=[(0, 50), (0, 60)], ids=["a", "b"])
    np.testing.assert_allclose(scaler.center_[0], series[0][:50].mean(axis=0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(scaler.center_[1], series[1][:60].mean(axis=0), rtol=1e-5)
    # Changing the values after the training span changes nothing.
    changed = [s.copy() for s in series]
    changed[0][50:] = -5.0e6
    other = PerSeriesScaler("standard").fit(changed, spans=[(0, 50), (0, 60)])
    np.testing.assert_array_equal(other.center_, scaler.center_)
    # Whole-series fitting does see the jump (so the test above can fail).
    whole = PerSeriesScaler("standard").fit(series)
    assert whole.center_[0, 0] > 400


def test_per_series_transform_by_index_or_id_and_batches():
    series = two_series()
    scaler = PerSeriesScaler("robust").fit(series, ids=["a", "b"])
    z_b = scaler.transform(series[1], "b")
    np.testing.assert_array_equal(z_b, scaler.transform(series[1], 1))
    np.testing.assert_allclose(scaler.inverse_transform(z_b, "b"), series[1], rtol=1e-5, atol=1e-4)
    batch = np.stack([series[0][:10], series[1][:10], series[0][5:15]])  # (B=3, T=10, C=2)
    idx = np.array([0, 1, 0])
    z = scaler.transform_batch(batch, idx)
    np.testing.assert_allclose(z[1], scaler.transform(series[1][:10], 1), rtol=1e-6)
    np.testing.assert_allclose(scaler.inverse_transform_batch(z, idx), batch, rtol=1e-5, atol=1e-3)
    with pytest.raises(KeyError, match="no scaler fitted for series 'c'"):
        scaler.transform(series[0], "c")


def test_state_dict_round_trip_through_safetensors(tmp_path):
    series = two_series()
    scaler = PerSeriesScaler("minmax").fit(series, spans=[(0, 40), (10, 80)], ids=["a", "b"])
    arrays, meta = scaler.state_dict()
    path = tmp_path / "scaler.safetensors"
    save_file(arrays, str(path), metadata={"scaler": json.dumps(meta)})
    with safe_open(str(path), framework="np") as handle:
        saved_meta = json.loads(handle.metadata()["scaler"])
    restored = PerSeriesScaler("minmax").load_state_dict(load_file(str(path)), saved_meta)
    np.testing.assert_array_equal(restored.center_, scaler.center_)
    np.testing.assert_array_equal(restored.scale_, scaler.scale_)
    assert restored.ids_ == ["a", "b"]
    np.testing.assert_array_equal(
        restored.transform(series[0], "a"), scaler.transform(series[0], "a")
    )
    with pytest.raises(ValueError, match="saved by a 'minmax' scaler"):
        PerSeriesScaler("standard").load_state_dict(arrays, meta)


def test_per_series_clone_and_params():
    scaler = PerSeriesScaler("robust").fit(two_series())
    assert clone(scaler).get_params() == {"method": "robust"}


def test_per_series_errors():
    with pytest.raises(ValueError, match=r"training span \(0, 0\) of series '0' is empty"):
        PerSeriesScaler().fit(two_series(), spans=[(0, 0), (0, 10)])
    with pytest.raises(ValueError, match="same number of channels"):
        PerSeriesScaler().fit([np.zeros((5, 1)), np.zeros((5, 2))])

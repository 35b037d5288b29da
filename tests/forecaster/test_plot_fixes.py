"""Regressions of ``XLSTMForecaster.plot`` / :func:`xlstm_ts.plotting.plot_forecast`: ids of
another type or naming still find their history, unknown ids raise, series without history
are drawn and named in a warning, cross-validation output is drawn per cutoff, the estimator's
column names are used, pyplot's backend is left alone, the written path is returned and
series beyond ``max_series`` are left out with a warning.

The drawn data is read from the figure's axes (lines and quantile bands), not from pixels.
"""

from __future__ import annotations

import warnings

import matplotlib
import matplotlib.figure
import numpy as np
import pandas as pd
import pytest
import torch

from xlstm_ts import XLSTMForecaster
from xlstm_ts.plotting import plot_forecast

H, L = 4, 8
FAST = {"model": "dlinear", "horizon": H, "lookback": L, "max_epochs": 1, "batch_size": 8, "calendar": False,
        "trainer_kwargs": {"limit_train_batches": 2, "logger": False, "enable_checkpointing": False,
                           "enable_model_summary": False}}


pytestmark = pytest.mark.one_thread  # tiny models (tests/conftest.py)


@pytest.fixture
def drawn(monkeypatch) -> list[matplotlib.figure.Figure]:
    """The figures ``savefig`` is called on (however they were made), to read what was drawn."""
    figures: list[matplotlib.figure.Figure] = []
    save = matplotlib.figure.Figure.savefig

    def spy(self, *args, **kwargs):
        figures.append(self)
        return save(self, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", spy)
    return figures


def panel(n: int = 40, ids=("s0", "s1"), extra=()) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    parts = []
    for i, uid in enumerate(ids):
        d = pd.DataFrame({"unique_id": uid, "ds": pd.date_range("2024-01-01", periods=n, freq="h"),
                          "y": np.sin(np.arange(n) / 4) + i + 0.1 * rng.standard_normal(n)})
        for c in extra:
            d[c] = rng.standard_normal(n) + 10 * i
        parts.append(d)
    return pd.concat(parts, ignore_index=True)


def panels(fig: matplotlib.figure.Figure) -> dict[str, matplotlib.axes.Axes]:
    return {ax.get_title(): ax for ax in fig.axes}


def lines(ax, label: str) -> list:
    """The lines of one role (``history``, ``forecast``, ``actual``); a role drawn in several
    pieces names its later pieces ``_<label>`` so that the legend lists it once."""
    return [ln for ln in ax.lines if ln.get_label().lstrip("_") == label]


def ydata(ax, label: str) -> np.ndarray:
    parts = [np.asarray(ln.get_ydata(), dtype=float) for ln in lines(ax, label)]
    return np.concatenate(parts) if parts else np.empty(0)


def plot_warnings(call) -> tuple[object, list[str]]:
    """``call()``'s result and the messages of the UserWarnings that plotting gave."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = call()
    return out, [str(w.message) for w in caught
                 if issubclass(w.category, UserWarning) and str(w.message).startswith("plot")]


# ---------------------------------------------------------------- 1. ids of another type or naming

def test_integer_ids_draw_their_history(tmp_path, drawn):
    df = panel().assign(unique_id=lambda d: d.unique_id.str[1:].astype("int64"))
    est = XLSTMForecaster(**FAST).fit(df)
    fc = est.predict()
    assert fc.unique_id.dtype == np.int64
    est.plot(fc, tmp_path / "f.png")
    axes = panels(drawn[-1])
    assert sorted(axes) == ["0", "1"]
    for uid, ax in axes.items():
        expected = df.loc[df.unique_id == int(uid), "y"].to_numpy()[-L:]
        np.testing.assert_allclose(ydata(ax, "history"), expected, rtol=1e-6)


def test_multi_target_model_finds_history_in_a_long_frame(tmp_path, drawn):
    df = panel(extra=["y2"])
    est = XLSTMForecaster(target_col=["y", "y2"], **FAST).fit(df)
    fc = est.predict()
    assert sorted(fc.unique_id.unique()) == ["s0/y", "s0/y2", "s1/y", "s1/y2"]
    est.plot(fc, tmp_path / "f.png", history=df, n_history=5)
    axes = panels(drawn[-1])
    assert sorted(axes) == ["s0/y", "s0/y2", "s1/y", "s1/y2"]
    for uid, ax in axes.items():
        sid, col = uid.split("/")
        np.testing.assert_allclose(ydata(ax, "history"), df.loc[df.unique_id == sid, col].to_numpy()[-5:])


def test_wide_history_frame_is_matched_by_column(tmp_path, drawn):
    ds = pd.date_range("2024-01-01", periods=40, freq="h")
    wide = pd.DataFrame({"a": np.sin(np.arange(40) / 4), "b": np.cos(np.arange(40) / 4)}, index=ds)
    est = XLSTMForecaster(**FAST).fit(wide)
    est.plot(est.predict(), tmp_path / "f.png", history=wide)
    axes = panels(drawn[-1])
    for col in ("a", "b"):
        np.testing.assert_allclose(ydata(axes[col], "history"), wide[col].to_numpy()[-L:])


@pytest.fixture(scope="module")
def fitted() -> XLSTMForecaster:
    torch.set_num_threads(1)
    return XLSTMForecaster(loss="quantile", quantiles=[0.1, 0.9], **FAST).fit(panel())


def test_unknown_unique_id_raises_naming_it_and_the_available_ones(tmp_path, fitted):
    with pytest.raises(ValueError, match=r"'nope'.*'s0'"):
        fitted.plot(fitted.predict(), tmp_path / "f.png", unique_ids=["nope"])
    assert not (tmp_path / "f.png").exists()


def test_series_without_history_are_drawn_and_named_in_one_warning(tmp_path, drawn, fitted):
    new = panel(ids=("s0", "new1", "new2"))
    fc = fitted.predict(new)
    _, msgs = plot_warnings(lambda: fitted.plot(fc, tmp_path / "f.png"))
    assert len(msgs) == 1 and "'new1'" in msgs[0] and "'new2'" in msgs[0] and "'s0'" not in msgs[0]
    axes = panels(drawn[-1])
    assert len(ydata(axes["new1"], "history")) == 0 and len(ydata(axes["new1"], "forecast")) == H
    assert len(ydata(axes["s0"], "history")) == L
    # With the history passed, nothing is missing: no warning.
    _, msgs = plot_warnings(lambda: fitted.plot(fc, tmp_path / "g.png", history=new))
    assert msgs == []


def test_no_history_at_all_draws_the_forecast_without_a_warning(fitted):
    fig, msgs = plot_warnings(lambda: plot_forecast(None, fitted.predict()))
    assert msgs == []
    for ax in fig.axes:
        assert len(ydata(ax, "forecast")) == H and len(ydata(ax, "history")) == 0


# ---------------------------------------------------------------- 2. cross-validation output

def test_cross_validation_frame_is_drawn_per_cutoff(tmp_path, drawn):
    df = panel()
    est = XLSTMForecaster(loss="quantile", quantiles=[0.1, 0.9], **FAST)
    cv = est.cross_validation(df, n_windows=3, step=2)
    est.plot(cv, tmp_path / "cv.png", history=df)
    axes = panels(drawn[-1])
    for uid, ax in axes.items():
        rows = cv[cv.unique_id == uid]
        cutoffs = sorted(rows.cutoff.unique())
        segments = lines(ax, "forecast")
        assert len(segments) == 3 and all(len(s.get_xdata()) == H for s in segments)
        assert len(ax.collections) == 3  # one 0.1-0.9 band per cutoff
        for seg, cut in zip(segments, cutoffs, strict=True):
            np.testing.assert_allclose(seg.get_ydata(), rows.loc[rows.cutoff == cut, "y_hat"].to_numpy())
        # History ends at the first cutoff; the actuals after it come from the frame's y column.
        hist_x = pd.to_datetime(np.concatenate([ln.get_xdata() for ln in lines(ax, "history")]))
        assert len(hist_x) == L and hist_x.max() == cutoffs[0]
        actual = rows.drop_duplicates("ds").sort_values("ds")
        np.testing.assert_allclose(np.sort(ydata(ax, "actual")[~np.isnan(ydata(ax, "actual"))]),
                                   np.sort(actual.y.to_numpy()))


# ---------------------------------------------------------------- 3. the estimator's column names

def test_estimator_column_names_are_used(tmp_path, drawn):
    df = panel().rename(columns={"unique_id": "id", "ds": "time", "y": "load"})
    est = XLSTMForecaster(target_col="load", id_col="id", time_col="time", **FAST).fit(df)
    fc = est.predict()
    est.plot(fc, tmp_path / "f.png", history=df)
    for uid, ax in panels(drawn[-1]).items():
        np.testing.assert_allclose(ydata(ax, "history"), df.loc[df.id == uid, "load"].to_numpy()[-L:])


# ---------------------------------------------------------------- 4. side effects, path, max_series

def test_backend_is_left_alone_and_a_figure_is_returned_without_a_path(tmp_path, monkeypatch, fitted):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    calls = []
    monkeypatch.setattr(matplotlib, "use", lambda *a, **k: calls.append(a))
    png = fitted.plot(fitted.predict(), tmp_path / "f.png")
    assert calls == [] and png.read_bytes()[:4] == b"\x89PNG"
    fig = fitted.plot(fitted.predict())
    assert isinstance(fig, matplotlib.figure.Figure) and isinstance(fig.canvas, FigureCanvasAgg)
    assert calls == []


def test_path_without_extension_returns_the_file_written(tmp_path, fitted):
    out = fitted.plot(fitted.predict(), tmp_path / "sub" / "noext")
    assert out == tmp_path / "sub" / "noext.png" and out.is_file()


def many(n: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    ds = pd.date_range("2024-01-01", periods=6, freq="h")
    ids = [f"s{i}" for i in range(n)]
    hist = pd.DataFrame({"unique_id": np.repeat(ids, 4), "ds": np.tile(ds[:4], n), "y": 0.0})
    fc = pd.DataFrame({"unique_id": np.repeat(ids, 2), "ds": np.tile(ds[4:], n), "y_hat": 1.0})
    return hist, fc


def test_series_beyond_max_series_are_left_out_with_a_warning(tmp_path, fitted):
    hist, fc = many(12)
    fig, msgs = plot_warnings(lambda: plot_forecast(hist, fc))
    assert len(fig.axes) == 8 and len(msgs) == 1 and "8 of 12" in msgs[0] and "max_series" in msgs[0]
    # The same rule for ids the caller lists.
    fig, msgs = plot_warnings(lambda: plot_forecast(hist, fc, unique_ids=list(fc.unique_id.unique()), max_series=3))
    assert [ax.get_title() for ax in fig.axes] == ["s0", "s1", "s2"] and len(msgs) == 1 and "3 of 12" in msgs[0]
    fig, msgs = plot_warnings(lambda: plot_forecast(hist, fc, unique_ids=["s5", "s7"], max_series=3))
    assert [ax.get_title() for ax in fig.axes] == ["s5", "s7"] and msgs == []
    # Exposed on the estimator.
    fig, msgs = plot_warnings(lambda: fitted.plot(fitted.predict(), max_series=1))
    assert len(fig.axes) == 1 and len(msgs) == 1 and "1 of 2" in msgs[0]

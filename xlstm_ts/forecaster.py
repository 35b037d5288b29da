"""``XLSTMForecaster``: the scikit-learn-like estimator users fit and predict with.

Data flow: DataFrame (long ``unique_id, ds, y`` + covariates, or wide with a DatetimeIndex)
-> validated :class:`~xlstm_ts.data.TimeSeries` -> calendar features appended to the future-known
covariates -> per-series scaler fitted on the training span only -> lazy windows -> Lightning
training with early stopping on the last part of each series -> forecasts -> inverse scaling
-> ``unique_id, ds, y_hat`` (+ ``y_hat_q<level>`` columns).

Streaming models (``model="xlstm_stream"``, see :mod:`xlstm_ts.streaming`) are trained with
truncated BPTT over whole series instead of windows; the fitted estimator then keeps each
series' recurrent state (``stream_``), :meth:`XLSTMForecaster.update` advances it in O(1) per
new observation and :meth:`XLSTMForecaster.predict` forecasts from it.

Public methods validate and delegate to private ``_fit_series`` / ``_forecast`` that work on
``TimeSeries`` lists (sktime's pattern), so ``fit``, ``predict`` and ``cross_validation`` share
one path.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import os
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator, clone
from sklearn.exceptions import NotFittedError

from . import __version__
from ._atomic import atomic_write_json
from ._scalars import is_int, is_number
from .data import (
    ChannelScaler,
    PerSeriesScaler,
    TimeSeries,
    WindowDataset,
    calendar_feature_names,
    calendar_features,
    from_long,
    from_wide,
    future_covariates,
    future_index,
    predictions_frame,
    read_series_file,
    window_loader,
)
from .data.frames import column_list, quantile_columns
from .data.validation import check_like_fit, check_scaled_range, date_grid
from .models import ModelSpec, build_model, get_model_class, season_length_for
from .models.losses import POINT_LOSSES, make_loss
from .persist import ModelFileError, load_directory, save_directory
from .streaming.state import StreamState, state_select
from .streaming.training import fit_stream, read_series
from .training import ForecastModule, fit_module

_DEFAULT_VAL_FRACTION = 0.1

#: What to do when a series to forecast has values far beyond the scale of its fitted scaler.
_FORECAST_SCALE_HINT = ("the series' scaler was fitted on data of a very different scale: refit on data "
                        "that includes these values, or pass the series under a new unique_id so that "
                        "it is scaled by its own history")

#: The same at fit: the covariate scaler is fitted on the training span only.
_FIT_FUTR_HINT = ("remove or clip the outlier, or pass val_size=0 if it lies in the validation span at the "
                  "end of the series (the scaler is fitted on the training span)")

#: The same for future covariates (``futr_cols``, in ``df`` or ``futr_df``).
_FUTR_SCALE_HINT = ("the covariate scaler was fitted on values of a very different scale: refit on data that "
                    "includes values of this scale, or clip the covariate")


class XLSTMForecaster(BaseEstimator):
    """Forecast many time series with an xLSTM (or baseline) network trained by Lightning.

    Parameters are stored unchanged (scikit-learn's contract: ``get_params``, ``set_params`` and
    ``clone`` work); they are validated in :meth:`fit`. Fitted state ends in ``_``.

    Args:
        horizon: forecast length H.
        lookback: input window length L.
        model: a name from :data:`xlstm_ts.models.MODELS` (``"xlstm_patch"``, ``"xlstm_mixer"``,
            ``"dlinear"``, ``"patchtst"``, ``"naive"``, ``"seasonal_naive"``) or the streaming
            model ``"xlstm_stream"`` (trained with truncated BPTT; ``lookback`` is its default
            TBPTT segment length and ``batch_size`` the number of parallel lanes; ``stride``
            is not used).
        model_params: hyper-parameters of the network (JSON-able dict; see
            :func:`xlstm_ts.models.model_hparams`). ``seasonal_naive``'s ``season_length`` is
            ``"auto"`` by default here, as in the benchmark: one day of sub-daily data, a week (7)
            of daily data, 52 for weekly data, else 1 (:func:`xlstm_ts.models.season_length_for`);
            series with integer time steps need an int.
        loss: ``"mse"``, ``"mae"``, ``"huber"`` or ``"quantile"``.
        valid_loss: loss on the validation split that early stopping and the kept best epoch
            follow: ``"mse"``, ``"mae"`` or ``"huber"`` of the point forecast (the median for
            ``loss="quantile"``); None: ``loss`` itself (neuralforecast's ``valid_loss``). E.g.
            train on ``"mae"`` and keep the epoch with the lowest validation ``"mse"``.
        quantiles: quantile levels in (0, 1), each a column ``y_hat_q{level:g}`` (so levels equal
            in their first 6 significant digits, 0.1 and 0.1000001, are refused). With
            ``loss="quantile"`` the network forecasts them and ``y_hat`` is the median; with a
            point loss and ``conformal_windows`` they are conformal interval bounds.
        conformal_windows: k >= 1 gives split-conformal intervals around the point forecast
            (neuralforecast's ``PredictionIntervals``, ``"conformal_error"``): ``fit`` first trains
            the same model on each series without its last ``k * horizon`` steps, forecasts those
            k windows, and keeps their absolute errors in units of the spread of each forecast's
            look-back window (its mean absolute step-to-step change, in the series' scaled units),
            per forecast step and channel, pooled over series and windows (``conformal_scores_``);
            then it trains on all the data as usual. The level ``q`` is the forecast minus
            (``q < 0.5``) or plus the conformal quantile of these scores at coverage ``|2q - 1|``,
            times the spread of the window forecast from, so ``[0.1, 0.9]`` is a central 80%
            interval that is wider for series that move more. That needs at least ``c / (1 - c)`` errors
            per step for coverage ``c`` (``k * n_series >= 9`` for 90%). Costs a second training.
            Works with every model, the baselines included.
        scaler: per-series scaler fitted on the training span: ``"standard"``, ``"robust"``,
            ``"minmax"`` or ``"none"``.
        calendar: add calendar features derived from ``ds`` as future-known covariates.
        futr_cols: user columns known in advance (need ``futr_df`` at predict time). ``naive``
            and ``seasonal_naive`` learn nothing and refuse them (and ``static_df``).
        hist_cols: past-only covariates: user columns observed with the targets but unknown
            ahead (neuralforecast's ``hist_exog_list``, darts' ``past_covariates``). The model
            reads them over the look-back window only, so ``predict`` needs no future values for
            them (and refuses ``h > horizon``: they are unknown over the blocks a recursive
            forecast would feed back). Read by ``xlstm_patch``, ``xlstm_mixer`` and
            ``xlstm_stream``; the models that use only future covariate values (``dlinear``,
            ``patchtst``) refuse them rather than ignore them.
        id_col, time_col, target_col: column names of long input (``target_col`` may be a
            list); wide input (DatetimeIndex, one column per variable) is detected by the
            absence of ``id_col`` and forms one multivariate series of every variable that is
            not in ``futr_cols`` or ``hist_cols``, or of the ``target_col`` variables when it is
            not ``"y"``.
        freq: frequency of the series (inferred when None).
        fill: ``"ffill"``, ``"interpolate"`` or ``"zero"`` to fill NaN/inf; None raises on them.
        fill_missing: insert missing timestamps (filled with ``fill``); False raises on gaps.
        val_size: steps at the end of each series held out for early stopping; None picks
            ``max(horizon, 10% of the series)`` where the series is long enough; 0 disables
            validation (then all ``max_epochs`` are trained).
        stride: step between training windows.
        batch_size, max_epochs, patience, learning_rate, weight_decay, lr_schedule: training.
        random_state: int seed of the run (seeded CPU runs reproduce exactly), or None for an
            unseeded one. A ``numpy.random.RandomState`` is refused with a ``TypeError``: the seed
            goes to torch, the batch order and Lightning, and is saved with the model, so it must
            be a number.
        checkpoint_dir: directory for a Lightning checkpoint written at the end of every epoch
            (``last.ckpt``, atomic). With it, ``fit(df, resume=True)`` continues a killed run.
        trainer_kwargs: passed to :class:`lightning.Trainer` (``accelerator``, ``devices``,
            ``precision``, ``strategy``, ``callbacks``, ``limit_train_batches``, ...). A
            ``"-true"`` precision (``"64-true"``, ``"bf16-true"``) trains in that dtype; the
            fitted network is then cast to float32, in which it forecasts and is saved.
        verbose: show Lightning's progress bar.
    """

    def __init__(
        self,
        horizon: int = 24,
        lookback: int = 96,
        model: str = "xlstm_patch",
        model_params: dict | None = None,
        loss: str = "mse",
        valid_loss: str | None = None,
        quantiles: Sequence[float] | None = None,
        conformal_windows: int | None = None,
        scaler: str = "standard",
        calendar: bool = True,
        futr_cols: Sequence[str] | None = None,
        hist_cols: Sequence[str] | None = None,
        id_col: str = "unique_id",
        time_col: str = "ds",
        target_col: str | Sequence[str] = "y",
        freq: str | None = None,
        fill: str | None = None,
        fill_missing: bool = False,
        val_size: int | None = None,
        stride: int = 1,
        batch_size: int = 32,
        max_epochs: int = 10,
        patience: int | None = 3,
        learning_rate: float = 1e-3,
        weight_decay: float = 0.0,
        lr_schedule: str = "cosine",
        random_state: int | None = 0,
        checkpoint_dir: str | None = None,
        trainer_kwargs: dict | None = None,
        verbose: bool = False,
    ):
        self.horizon = horizon
        self.lookback = lookback
        self.model = model
        self.model_params = model_params
        self.loss = loss
        self.valid_loss = valid_loss
        self.quantiles = quantiles
        self.conformal_windows = conformal_windows
        self.scaler = scaler
        self.calendar = calendar
        self.futr_cols = futr_cols
        self.hist_cols = hist_cols
        self.id_col = id_col
        self.time_col = time_col
        self.target_col = target_col
        self.freq = freq
        self.fill = fill
        self.fill_missing = fill_missing
        self.val_size = val_size
        self.stride = stride
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.lr_schedule = lr_schedule
        self.random_state = random_state
        self.checkpoint_dir = checkpoint_dir
        self.trainer_kwargs = trainer_kwargs
        self.verbose = verbose

    # ------------------------------------------------------------------ public API

    def fit(
        self,
        df: pd.DataFrame | str | os.PathLike,
        static_df: pd.DataFrame | None = None,
        resume: bool = False,
    ) -> XLSTMForecaster:
        """Validate ``df`` (frame or CSV/Parquet path), train, and keep each series' last window.

        Args:
            resume: continue from ``checkpoint_dir/last.ckpt`` if a previous fit with the same
                parameters and data left one (it was killed, say): at most the epoch in progress
                is lost, and on the CPU the result equals an uninterrupted fit with the same seed.
                Without a checkpoint the fit starts afresh. Needs ``checkpoint_dir``.

        Returns:
            ``self``.
        """
        self._check_params()
        if resume and self.checkpoint_dir is None:
            raise ValueError("fit(resume=True) needs checkpoint_dir=... (where the checkpoints are written)")
        df = self._as_frame(df)
        series = self._parse(df, static_df, min_length=int(self.lookback) + int(self.horizon),
                             length_rule="lookback + horizon", for_fitted_model=False)
        self._fit_series(series, resume=resume)
        self.id_dtype_ = self._id_dtype(df)
        return self

    def predict(
        self,
        df: pd.DataFrame | str | os.PathLike | None = None,
        futr_df: pd.DataFrame | None = None,
        static_df: pd.DataFrame | None = None,
        h: int | None = None,
    ) -> pd.DataFrame:
        """Forecast the ``horizon`` steps (or ``h`` steps) after the end of each series.

        Args:
            df: history to forecast from (any series, also ones not seen in ``fit``: they are
                scaled by their own history). None forecasts from the end of the fitted data
                (after any :meth:`update`). A streaming model reads ``df`` whole, from the zero
                state, so pass the full history of each series (any length >= 1). The target
                columns of a wide frame are matched to the fitted ones by name (any order).
            futr_df: long frame (``id_col``, ``time_col``, ``futr_cols``; or a CSV/Parquet path)
                with the future covariate values for the next ``horizon`` steps; required when
                ``futr_cols`` were used. A model fitted on one wide series also takes a wide
                frame (a ``DatetimeIndex`` or ``time_col``, and the ``futr_cols``).
            static_df: static covariates of the series in ``df``.
            h: how many steps to forecast (default ``horizon``). Fewer keeps the first ``h``
                steps of the forecast. More forecasts recursively, as darts' ``predict(n)`` and
                neuralforecast's ``predict(h=...)`` do: each further block of ``horizon`` steps
                is forecast from the history extended by the point forecasts (``y_hat``) of the
                blocks before it, so errors compound and the quantile band of a later block does
                not include the uncertainty of the earlier ones. ``futr_df`` must then cover
                the steps of every block: ``ceil(h / horizon) * horizon`` steps.

        Returns:
            ``unique_id, ds, y_hat`` (+ ``y_hat_q<level>`` per quantile) with future timestamps
            at each series' frequency, ``h`` per channel of each series.
        """
        self._check_fitted()
        steps = self._check_steps(h)
        if steps > int(self.horizon) and self.spec_.n_hist:
            raise ValueError(
                f"h={steps} is more than horizon={self.horizon}, which would forecast recursively, but the "
                f"model reads past-only covariates {column_list(self.hist_cols)}, unknown over the "
                f"forecast steps it would feed back: forecast at most horizon steps, or fit with a "
                f"longer horizon")
        if df is None:
            series, id_dtype = self.history_, getattr(self, "id_dtype_", None)
        else:
            df = self._as_frame(df)
            # A streaming model may get series too short to infer their frequency: use the fitted one.
            min_length, why = (1, None) if self._streaming else (self.lookback, "lookback")
            series = self._parse(df, static_df, min_length=min_length, length_rule=why,
                                 freq=self._fitted_freq() if self._streaming else None)
            self._check_static(series)
            id_dtype = self._id_dtype(df)
        # The model forecasts whole blocks of `horizon` steps: covariates for all of them.
        futr = self._future_futr(series, futr_df, -(-steps // self.horizon) * self.horizon)
        point, quant = self._forecast_steps(series, futr, steps, self.stream_ if df is None and self._streaming else None)
        frame = predictions_frame(series, point, quantiles=self._output_levels() or None,
                                  y_quantiles=quant, id_col=self.id_col, time_col=self.time_col)
        return self._with_id_dtype(frame, id_dtype)

    def update(self, df: pd.DataFrame | str | os.PathLike) -> XLSTMForecaster:
        """Append new observations to the fitted series without refitting.

        ``df`` has the columns of ``fit`` (targets, ``futr_cols`` and ``hist_cols``; long or wide, a wide
        frame's columns in any order: they are matched by name) and, per series, rows that
        continue it: the first new timestamp must be exactly one step (at the series' frequency)
        after its last known one, so a gap or an overlap is a ValueError naming the series and
        the expected timestamp. Series absent from ``df`` are unchanged; series not seen in
        ``fit`` are an error (forecast them with ``predict(df)``). With ``fill``, NaN at the
        start of the new rows are filled from the series' last known values, as in
        ``predict(full_history)`` (never from later rows). Values far beyond the scale of the
        fitted scaler are refused, as in ``fit`` and ``predict``.

        A streaming model advances each series' recurrent state over its k new rows (O(k) time,
        O(1) memory: the state does not grow), so :meth:`predict` then forecasts from the new end
        exactly as ``predict(full_history)`` would. Windowed models slide their kept
        ``lookback`` window over the new rows (the same forecasts as ``predict(full_history)``
        for these series). Scalers stay those of ``fit``. Nothing changes if ``df`` is invalid.
        (``fill="interpolate"`` is the exception to the equality when the new rows *end* in NaN:
        those are extended from the last value now, while a later full history would
        interpolate them towards the values that follow.)

        Returns:
            ``self``.
        """
        self._check_fitted()
        # NaN at the start of the new rows are filled from the series' last known values (as
        # predict(full_history) fills them), not from the later new rows.
        new = self._parse(df, None, min_length=1, freq=self._fitted_freq(), fill_from=_LastRows(self.history_))
        where = {s.unique_id: i for i, s in enumerate(self.history_)}
        unknown = [s.unique_id for s in new if s.unique_id not in where]
        if unknown:
            raise ValueError(
                f"update got series {unknown[:5]} that were not seen in fit (known: {list(where)[:5]}"
                f"{'...' if len(where) > 5 else ''}); forecast new series with predict(df)")
        for s in new:
            _check_continues(self.history_[where[s.unique_id]], s)
        # Checked here, before anything changes: a streaming state that read a value beyond
        # MAX_SCALED would stay NaN for good, and a windowed model would fail every predict().
        scaled = [self.scaler_.transform(s.values, s.unique_id) for s in new]
        check_scaled_range(scaled, [s.values for s in new], [s.unique_id for s in new], [s.ds for s in new],
                           "update changed nothing: remove or clip the outlier, or refit on data that "
                           "includes values of this scale")
        self._check_futr_range([s.futr for s in new], [s.unique_id for s in new],
                               [s.ds for s in new], "update changed nothing: remove or clip the outlier, or "
                               "refit on data that includes values of this scale")
        L = self.lookback
        history = list(self.history_)
        for s in new:
            i = where[s.unique_id]
            history[i] = _append(history[i], s, L)
        stream = (self._advance_stream([where[s.unique_id] for s in new], new, scaled)
                  if self._streaming else None)
        self.history_ = history
        if stream is not None:
            self.stream_ = stream
        return self

    def cross_validation(
        self,
        df: pd.DataFrame | str | os.PathLike,
        n_windows: int = 1,
        step: int | None = None,
        static_df: pd.DataFrame | None = None,
        refit: bool | int = False,
    ) -> pd.DataFrame:
        """Rolling-origin backtest over the last ``n_windows`` cutoffs of each series.

        The forecast origins are ``step`` (default ``horizon``) apart and the last window ends
        at the end of each series. Future covariates are taken from ``df``. Every training here
        starts from scratch (new weights, seeded by ``random_state``; scalers refitted) on the
        rows before the cutoff it precedes, so no forecast sees its own future.

        ``refit`` follows neuralforecast's ``cross_validation`` (and darts' ``retrain``):

        * ``False`` (default): a fitted estimator forecasts every window with its fitted weights
          and scalers; an unfitted one is trained once, before the first cutoff. Backtesting a
          fitted model is honest only where the cutoffs lie at or after the end of the data it
          was fitted on (fit on the first part, backtest the rest); windows with earlier cutoffs
          forecast values the model was trained on, and a ``UserWarning`` says how many.
        * ``True``: retrain before every window (``n_windows`` trainings).
        * an int ``k >= 1``: retrain before windows ``0, k, 2k, ...``; the windows in between
          use the latest training. ``refit=n_windows`` retrains a fitted estimator once, before
          the first cutoff.

        After a training here, :meth:`predict` forecasts from the end of ``df`` with the weights
        and scalers of the last one (as after :meth:`update`); ``fit_report_`` is its report.

        Args:
            n_windows: cutoffs per series.
            step: rows between consecutive cutoffs (default ``horizon``).
            refit: ``False``, ``True`` or a positive int, as above.

        Returns:
            ``unique_id, cutoff, ds, y_hat, (quantiles), y`` (``y``: the actual values).
        """
        self._check_params()
        for name, value in (("n_windows", n_windows), ("step", self.horizon if step is None else step)):
            if not is_int(value) or value < 1:
                raise ValueError(f"{name} must be a positive int; got {value!r}")
        # every: train before windows 0, every, 2 * every, ...; None: forecast with the fitted model
        if isinstance(refit, (bool, np.bool_)):
            every = 1 if refit else None
        elif is_int(refit) and refit >= 1:
            every = int(refit)
        else:
            raise TypeError(f"refit must be True, False or a positive int (retrain every k windows); "
                            f"got {refit!r}")
        if every is None and not hasattr(self, "model_"):
            every = int(n_windows)  # unfitted: train once, before the first cutoff
        if every is None:
            self._check_fitted()
        clash = {self.id_col, self.time_col} & {"cutoff", "y_hat", "y"}
        if clash:
            raise ValueError(f"cross_validation writes the columns cutoff, y_hat and y: rename the "
                             f"input column(s) {sorted(clash)} (id_col / time_col)")
        n_windows = int(n_windows)
        df = self._as_frame(df)
        step = int(self.horizon if step is None else step)
        H, L = int(self.horizon), int(self.lookback)
        span = H + (n_windows - 1) * step
        series = self._parse(df, static_df, min_length=L + span,
                             length_rule="lookback + horizon + (n_windows - 1) * step",
                             for_fitted_model=every is None)
        if every is None:
            self._check_static(series)
            self._warn_in_sample(series, [span - w * step for w in range(n_windows)])
        else:
            too_short = [s.unique_id for s in series if len(s) - span < L + H]
            if too_short:  # the first training is the shortest
                raise ValueError(
                    f"series {too_short[:5]} are too short to train before the first cutoff: each "
                    f"needs lookback + horizon = {L + H} rows before the last {span} rows"
                )
        frames = []
        for w in range(n_windows):
            end_offset = span - w * step  # rows after the cutoff until the series' end
            hist = [_slice(s, 0, len(s) - end_offset) for s in series]
            if every is not None and w % every == 0:
                self._fit_series(hist)
            futr = None
            if series[0].futr is not None:
                futr = [s.futr[len(s) - end_offset: len(s) - end_offset + H] for s in series]
            point, quant = self._forecast(hist, futr)
            frame = predictions_frame(hist, point, quantiles=self._output_levels() or None,
                                      y_quantiles=quant, cutoffs=[h.ds[-1] for h in hist],
                                      id_col=self.id_col, time_col=self.time_col)
            actual = [s.values[len(s) - end_offset: len(s) - end_offset + H] for s in series]
            frame["y"] = np.concatenate([a.T.reshape(-1) for a in actual]).astype(np.float64)
            frames.append(frame)
        if every is not None:
            self._keep_end(series)
            self.id_dtype_ = self._id_dtype(df)
        return self._with_id_dtype(pd.concat(frames, ignore_index=True), self._id_dtype(df))

    def _warn_in_sample(self, series: list[TimeSeries], end_offsets: list[int]) -> None:
        """Warn (at the caller of :meth:`cross_validation`) when windows ``end_offsets`` rows
        before the end of ``series`` have cutoffs before the end of the data the model was fitted
        on: the weights, early stopping and scalers saw the values those windows forecast."""
        fit_end = getattr(self, "fit_end_", None) or {}  # None: a model saved before fit_end_ existed
        n_in = 0
        for s in series:
            end = fit_end.get(s.unique_id)
            if end is None:
                continue  # a series the model was not fitted on
            cutoffs = s.ds[[len(s) - k - 1 for k in end_offsets]]
            with contextlib.suppress(TypeError):  # tz-aware vs naive: not comparable, nothing to tell
                n_in += int((cutoffs < end).sum())
        if n_in:
            warnings.warn(
                f"cross_validation: {n_in} of {len(series) * len(end_offsets)} windows (series x cutoff) "
                "have their cutoff before the end of the data this model was fitted on, so it was trained "
                "on the values they forecast: their scores are in-sample, not a backtest. For an honest "
                "backtest call cross_validation on an unfitted estimator (e.g. sklearn.base.clone(est)) "
                "or pass refit=True (retrain before every window) or refit=n_windows (once, before the first cutoff)",
                UserWarning, stacklevel=3)

    def tune(self, df: pd.DataFrame | str | os.PathLike, space, **kwargs):
        """Optuna search over ``space`` with this estimator's settings as the fixed parameters.

        Thin over :func:`xlstm_ts.tuning.tune_estimator` (see there for ``n_trials``, ``storage``,
        ``pruner``, ``n_workers``, ...); returns its ``TuneResult``.

        The parameters set here (those not at their constructor defaults) are fixed in every
        trial, except those the ``space`` tunes: the space is what is searched, so its sampled
        values replace them (without a message). ``base_params=`` may add fixed parameters this
        estimator leaves at their defaults; one it sets to another value than the estimator's
        raises ``ValueError``: set the value on the estimator, or drop it from ``base_params``.
        The config's ``base`` section fills in only what neither sets.
        """
        from .tuning import tune_estimator

        return tune_estimator(self, df, space, **kwargs)

    def save(self, path: str | os.PathLike) -> Path:
        """Save to a directory: ``config.json`` + safetensors (weights, scaler, last windows).

        The write is atomic (a complete new directory replaces the old one), version-stamped and
        pickle-free; :meth:`load` reproduces the predictions exactly, on any device. Every model
        hyper-parameter is recorded, defaults included, so a later release that changes a default
        does not change the saved model. An existing ``path`` is replaced only if it is a saved model or an empty directory; anything
        else raises :class:`FileExistsError` and nothing is written. Returns the absolute path.
        """
        from .models.registry import resolved_hparams

        self._check_fitted()
        params = self.get_params()
        params["trainer_kwargs"] = None  # may hold callbacks/loggers; not part of the model
        scaler_arrays, scaler_meta = self.scaler_.state_dict()
        history = {}
        for i, s in enumerate(self.history_):
            history[f"values_{i}"] = torch.from_numpy(np.array(s.values, dtype=np.float32))
            if s.futr is not None:
                history[f"futr_{i}"] = torch.from_numpy(np.array(s.futr, dtype=np.float32))
            if s.static is not None:
                history[f"static_{i}"] = torch.from_numpy(np.array(s.static, dtype=np.float32))
        arrays = {"scaler": scaler_arrays}
        for name in ("futr_scaler_", "static_scaler_"):
            sc = getattr(self, name)
            if sc is not None:
                arrays[name.rstrip("_")] = {"center": sc.center_, "scale": sc.scale_}
        if getattr(self, "conformal_scores_", None) is not None:
            arrays["conformal"] = {"scores": self.conformal_scores_}
        config = {
            "xlstm_ts_version": __version__,
            "estimator": type(self).__name__,
            "params": _jsonable(params),
            "spec": dataclasses.asdict(self.spec_),
            # Every hparam the network was built with, defaults and the xLSTM stack's included: load
            # rebuilds from these, so a default changed by a later release leaves old models alone.
            "model_hparams": resolved_hparams(self.model, self.model_.hparams),
            "scaler": scaler_meta,
            "calendar_names": list(self.calendar_names_),
            "id_dtype": getattr(self, "id_dtype_", None),
            "series": [_series_meta(s, (getattr(self, "fit_end_", None) or {}).get(s.unique_id))
                       for s in self.history_],
        }
        tensors = {"model": self.model_.state_dict(), "history": history}
        if getattr(self, "stream_", None) is not None:
            tensors["stream"], config["stream"] = self.stream_.to_tensors()
        return save_directory(path, config, tensors, arrays)

    @classmethod
    def load(cls, path: str | os.PathLike) -> XLSTMForecaster:
        """Load a directory written by :meth:`save` (no pickle; tensors land on the CPU).

        The network is rebuilt from the hyper-parameters recorded at save. A directory saved by an
        xlstm-ts version that did not record them is rebuilt with the installed defaults, and
        warns (``UserWarning``) when it comes from another version. A ``config.json`` whose parts
        disagree (edited by hand) raises :class:`ModelFileError` naming the field.
        """
        config, groups = load_directory(path)
        if config.get("estimator") != cls.__name__:
            raise ModelFileError(f"{path} holds a {config.get('estimator')!r}, not a {cls.__name__}")
        try:
            est = cls(**config["params"])
            est._check_params()  # an edited value of the wrong type fails here, not in predict
            est.spec_ = ModelSpec(**config["spec"])
            _check_params_match_spec(est, path)
            hparams = config.get("model_hparams")
            if hparams is None:  # saved before the resolved hparams were recorded
                hparams = est.model_params or {}
                saved = config.get("xlstm_ts_version")
                if saved != __version__:
                    warnings.warn(
                        f"{path} was saved by xlstm-ts {saved} without its full model hyper-parameters: it "
                        f"is rebuilt with the defaults of xlstm-ts {__version__}, and forecasts differ if "
                        f"a default of model {est.model!r} changed in between. Saving it again records "
                        f"the hyper-parameters it now has", UserWarning, stacklevel=2)
            est.model_ = build_model(est.model, est.spec_, **hparams)
            est.model_.load_state_dict(groups["model"])
            est.model_.eval()
            est.scaler_ = PerSeriesScaler(config["scaler"]["method"]).load_state_dict(
                groups["scaler"], config["scaler"])
            est.futr_scaler_ = _channel_scaler(groups.get("futr_scaler"))
            est.static_scaler_ = _channel_scaler(groups.get("static_scaler"))
            est.conformal_scores_ = groups["conformal"]["scores"] if "conformal" in groups else None
            if est.conformal_windows is not None and est.conformal_scores_ is None:
                raise ValueError("the conformity scores of conformal_windows are missing")
            est.calendar_names_ = tuple(config["calendar_names"])
            est.id_dtype_ = config.get("id_dtype")
            hist = groups["history"]
            n_stored = sum(k.startswith("values_") for k in hist)
            if len(config["series"]) != n_stored:
                raise ModelFileError(f"{path}: config.json is inconsistent: 'series' lists "
                                     f"{len(config['series'])} series but history.safetensors holds {n_stored}")
            est.history_ = [_series_from_meta(m, hist, i) for i, m in enumerate(config["series"])]
            est.fit_end_ = {m["unique_id"]: _stamp_from_meta(m["fit_end"], m["tz"])
                            for m in config["series"] if "fit_end" in m} or None
            est.stream_ = (StreamState.from_tensors(groups["stream"], config["stream"])
                           if "stream" in config else None)
            if est._streaming and est.stream_ is None:
                raise ValueError("the streaming state is missing")
        except (KeyError, TypeError, RuntimeError, ValueError) as e:
            if isinstance(e, ModelFileError):
                raise
            raise ModelFileError(f"{path} is not a consistent {cls.__name__} directory: {e}") from e
        est.fit_report_ = None
        est.fitted_params_ = est._shaping_params()
        return est

    # ------------------------------------------------------------------ validation

    def _check_params(self) -> None:
        for name in ("horizon", "lookback", "stride", "batch_size", "max_epochs"):
            value = getattr(self, name)
            if not is_int(value) or value < 1:
                raise ValueError(f"{name} must be a positive int; got {value!r}")
        if self.val_size is not None and (not is_int(self.val_size) or self.val_size < 0):
            raise ValueError(f"val_size must be None or an int >= 0; got {self.val_size!r}")
        for name, low in (("learning_rate", 0.0), ("weight_decay", None)):
            value = getattr(self, name)
            if not is_number(value) or not np.isfinite(value) or value < 0 or (low is not None and value <= low):
                rule = "a positive number" if low is not None else "a number >= 0"
                raise ValueError(f"{name} must be {rule}; got {value!r}")
        if self.quantiles is not None:
            if isinstance(self.quantiles, (str, bytes)) or not isinstance(self.quantiles, (Sequence, np.ndarray)):
                raise ValueError(f"quantiles must be a list of levels in (0, 1), e.g. [0.1, 0.9]; "
                                 f"got {self.quantiles!r}")
            qs = list(self.quantiles)
            if not qs or any(not is_number(q) or not 0 < float(q) < 1 for q in qs):
                raise ValueError(f"quantiles must be levels in (0, 1); got {self.quantiles!r}")
            if self.loss != "quantile" and self.conformal_windows is None:
                raise ValueError(f"quantiles need loss='quantile' (a network that forecasts them) or "
                                 f"conformal_windows=k (conformal intervals from k backtest windows); got "
                                 f"loss={self.loss!r}")
            quantile_columns(self._output_levels())  # levels whose columns would overwrite each other
        elif self.loss == "quantile":
            raise ValueError("loss='quantile' needs quantiles=[...] (e.g. [0.1, 0.5, 0.9])")
        if self.conformal_windows is not None:
            if not is_int(self.conformal_windows) or self.conformal_windows < 1:
                raise ValueError(f"conformal_windows must be None or a positive int; got {self.conformal_windows!r}")
            if self.loss == "quantile":
                raise ValueError("conformal_windows gives intervals around a point forecast: use a point loss "
                                 "('mse', 'mae', 'huber') with it, or loss='quantile' without it")
            if not self.quantiles:
                raise ValueError("conformal_windows needs quantiles=[...], the interval bounds to give "
                                 "(e.g. [0.1, 0.9] for a central 80% interval)")
        if self.valid_loss is not None and self.valid_loss not in POINT_LOSSES:
            raise ValueError(f"valid_loss must be None or one of {list(POINT_LOSSES)}; got {self.valid_loss!r}")
        for name in ("futr_cols", "hist_cols"):
            cols = getattr(self, name)
            if cols is not None and not isinstance(cols, (str, Sequence, np.ndarray)):
                raise TypeError(f"{name} must be a column name or a list of column names; got {cols!r}")
        if self.model_params is not None and not isinstance(self.model_params, dict):
            raise TypeError(f"model_params must be a dict; got {type(self.model_params).__name__}")
        if self.random_state is not None and not is_int(self.random_state):
            raise TypeError(
                f"random_state must be an int or None (a RandomState is not supported: the seed goes to "
                f"torch, the batch order and Lightning and is saved with the model); got {self.random_state!r}")

    def _valid_loss(self):
        return None if self.valid_loss is None else make_loss(self.valid_loss)

    def _check_fitted(self) -> None:
        """Fitted, and with the parameters of that fit: ``set_params`` after ``fit`` changes the
        next fit only, so forecasting with a changed horizon, quantiles, ... would mislabel or
        misshape the output of the fitted network."""
        if not hasattr(self, "model_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit(df) first")
        fitted = getattr(self, "fitted_params_", None)
        if fitted is None:
            return
        now = self._shaping_params()
        changed = [k for k in fitted if fitted[k] != now[k]]
        if changed:
            k = changed[0]
            raise ValueError(
                f"{k} was changed after fit (fitted with {fitted[k]!r}, now {now[k]!r}): call fit(df) "
                f"again, or set_params({k}=...) back to the fitted value")

    def _shaping_params(self) -> dict[str, Any]:
        """The parameters the fitted network and its inputs/outputs depend on, comparable with ``==``."""
        def as_list(x):
            return None if x is None else [x] if isinstance(x, str) else [v.item() if isinstance(v, np.generic) else v
                                                                            for v in x]
        return {
            "horizon": int(self.horizon) if is_int(self.horizon) else self.horizon,
            "lookback": int(self.lookback) if is_int(self.lookback) else self.lookback,
            "model": self.model,
            "model_params": json.dumps(self.model_params, sort_keys=True, default=str),
            "loss": self.loss,
            "quantiles": None if self.quantiles is None else sorted(float(q) for q in self.quantiles),
            "conformal_windows": self.conformal_windows,
            "scaler": self.scaler,
            "calendar": bool(self.calendar),
            "futr_cols": as_list(self.futr_cols),
            "hist_cols": as_list(self.hist_cols),
            "target_col": as_list(self.target_col),
        }

    def _fitted_freq(self) -> str | None:
        """``freq`` as given, else the frequency of the fitted series (None for integer steps)."""
        if self.freq is not None:
            return self.freq
        first = self.history_[0]
        return first.freq.freqstr if isinstance(first.ds, pd.DatetimeIndex) else None

    def _check_static(self, series: list[TimeSeries]) -> None:
        """Series to forecast must carry the static covariates the model was fitted with."""
        fitted, got = tuple(self.history_[0].static_names), tuple(series[0].static_names)
        if got == fitted:
            return
        if not got:
            raise ValueError(f"the model was fitted with static covariates {list(fitted)}: pass "
                             f"static_df with {self.id_col!r} and these columns")
        if not fitted:
            raise ValueError(f"the model was fitted without static covariates; static_df has {list(got)}")
        raise ValueError(f"static_df has columns {list(got)}; the model was fitted with {list(fitted)}")

    @property
    def _streaming(self) -> bool:
        return bool(getattr(getattr(self, "model_", None), "streaming", False))

    def _as_frame(self, df) -> pd.DataFrame:
        """A frame, or a CSV/Parquet path read into one."""
        if isinstance(df, (str, os.PathLike)):
            df = read_series_file(df, self.time_col, self.id_col)
        if not isinstance(df, pd.DataFrame):
            raise TypeError(f"df must be a pandas DataFrame or a CSV/Parquet path; got {type(df).__name__}")
        return df

    def _id_dtype(self, df: pd.DataFrame) -> str | None:
        """The dtype of integer series ids (forecasts give them back as such), else None."""
        ids = df[self.id_col] if self.id_col in df.columns else None
        if isinstance(ids, pd.Series) and pd.api.types.is_integer_dtype(ids.dtype):
            return str(ids.dtype)
        return None

    def _with_id_dtype(self, frame: pd.DataFrame, id_dtype: str | None) -> pd.DataFrame:
        """Integer ids back as integers, so forecasts merge with the input on ``id_col``
        (series ids are text inside; with several target columns they are ``id/column``)."""
        if id_dtype is not None and self.spec_.n_channels == 1:
            frame[self.id_col] = frame[self.id_col].astype(id_dtype)
        return frame

    def _parse(self, df, static_df, min_length: int, freq=None, for_fitted_model: bool = True,
               length_rule: str | None = None,
               fill_from: Mapping[str, Mapping[str, float]] | None = None) -> list[TimeSeries]:
        """DataFrame or path -> validated series with calendar features in ``futr``.

        ``fill_from``: for rows that continue known series, their last known values (see
        :func:`~xlstm_ts.data.from_long`).
        """
        df = self._as_frame(df)
        common = dict(futr_cols=self.futr_cols, hist_cols=self.hist_cols, freq=self.freq if freq is None else freq, fill=self.fill,
                      fill_missing=self.fill_missing, min_length=min_length, length_rule=length_rule,
                      fill_from=fill_from)
        if self.id_col in df.columns:
            series = from_long(df, id_col=self.id_col, time_col=self.time_col, target_col=self.target_col,
                               static_df=static_df, **common)
        else:
            if static_df is not None:
                raise ValueError("static_df needs long input with an id column; wide input is one series")
            time_col = self.time_col if self.time_col in df.columns else None
            # The default target_col ("y") means every variable of a wide frame; a named one selects.
            targets = None if self.target_col == "y" else [self.target_col] if isinstance(self.target_col, str) \
                else list(self.target_col)
            series = from_wide(df, time_col=time_col, target_cols=targets, **common)
        if for_fitted_model and hasattr(self, "spec_"):  # fit() starts over: any channel count
            series = self._match_channels(series)
            C = {s.n_channels for s in series}
            if C != {self.spec_.n_channels}:
                raise ValueError(
                    f"the model was fitted on series with {self.spec_.n_channels} channel(s); got {sorted(C)}")
        return [self._with_calendar(s) for s in series] if self.calendar else series

    def _match_channels(self, series: list[TimeSeries]) -> list[TimeSeries]:
        """Match the target columns of a fitted model's input to its channels by name.

        Long input names its targets (``target_col``); a wide frame's targets are its columns in
        the frame's order. As pandas (and scikit-learn's ``feature_names_in_`` check) align by
        name, reordered columns are put back in the fitted order: taken by position they would
        give wrong forecasts and, after :meth:`update`, a corrupted history. Other names are an
        error rather than taken for the fitted ones.
        """
        fitted = tuple(self.history_[0].channel_names)
        given = tuple(series[0].channel_names)  # the same for every series of one frame
        if given == fitted:
            return series
        if sorted(given) != sorted(fitted):  # names are unique: check_frame refuses duplicates
            diff = {"missing": [c for c in fitted if c not in given], "unknown": [c for c in given if c not in fitted]}
            raise ValueError(
                f"the model was fitted on series with {len(fitted)} channel(s), the target column(s) "
                f"{list(fitted)}; df has {list(given)} "
                f"({', '.join(f'{k} {v}' for k, v in diff.items() if v)}): target columns are matched "
                f"to the fitted channels by name, so pass the fitted columns (in any order)")
        order = [given.index(c) for c in fitted]
        return [dataclasses.replace(s, values=np.ascontiguousarray(s.values[:, order]), channel_names=fitted,
                                    channel_ids=tuple(s.channel_ids[k] for k in order)) for s in series]

    def _with_calendar(self, s: TimeSeries) -> TimeSeries:
        if not isinstance(s.ds, pd.DatetimeIndex):
            return s  # integer steps have no calendar
        names = tuple(f"cal_{n}" for n in calendar_feature_names(s.freq))
        if not names:
            return s  # yearly data: no calendar cycle shorter than a step
        cal = calendar_features(s.ds, s.freq)
        futr = cal if s.futr is None else np.concatenate([cal, s.futr], axis=1)
        return dataclasses.replace(s, futr=futr.astype(np.float32), futr_names=names + tuple(s.futr_names))

    # ------------------------------------------------------------------ fitting

    def _val_sizes(self, series: list[TimeSeries]) -> list[int]:
        L, H = self.lookback, self.horizon
        if self.val_size is not None:
            short = [s.unique_id for s in series if len(s) - self.val_size < L + H]
            if self.val_size and short:
                raise ValueError(
                    f"series {short[:5]} are too short for val_size={self.val_size}: each needs "
                    f"lookback + horizon + val_size = {L + H + self.val_size} rows (or pass val_size=0)")
            return [int(self.val_size)] * len(series)
        sizes = []
        for s in series:
            v = max(H, int(round(_DEFAULT_VAL_FRACTION * len(s))))
            sizes.append(v if len(s) - v >= L + H else 0)
        return sizes

    def _fit_series(self, series: list[TimeSeries], resume: bool = False) -> XLSTMForecaster:
        L, H = int(self.lookback), int(self.horizon)
        if self._model_levels() and not getattr(get_model_class(self.model), "trainable", True):
            raise ValueError(f"model={self.model!r} has nothing to learn, so its quantiles would all equal "
                             "its point forecast: use loss='mse' (no quantiles) for this baseline")
        self._check_covariates_usable(series)
        if len({s.n_channels for s in series}) != 1:
            raise ValueError("all series must have the same number of target channels")
        scores = self._conformity_scores(series) if self.conformal_windows is not None else None
        val = self._val_sizes(series)
        train_end = [len(s) - v for s, v in zip(series, val, strict=True)]
        ids = [s.unique_id for s in series]
        self.scaler_ = PerSeriesScaler(self.scaler).fit([s.values for s in series],
                                                        spans=[(0, e) for e in train_end], ids=ids)
        values = self.scaler_.transform_series([s.values for s in series])
        check_scaled_range(values, [s.values for s in series], ids, [s.ds for s in series],
                           "remove or clip the outlier, use scaler='standard', or pass val_size=0 if "
                           "it lies in the validation span at the end of the series")
        futr_names = series[0].futr_names
        if series[0].futr is not None:
            self.futr_scaler_ = ChannelScaler("standard").fit(
                np.concatenate([s.futr[:e] for s, e in zip(series, train_end, strict=True)]))
        else:
            self.futr_scaler_ = None
        if series[0].static is not None:
            self.static_scaler_ = ChannelScaler("standard").fit(np.stack([s.static for s in series]))
        else:
            self.static_scaler_ = None
        futr = self._scaled_futr(series)
        static = self._scaled_static(series)
        streaming = bool(getattr(get_model_class(self.model), "streaming", False))
        if not streaming:
            train = WindowDataset(values, L, H, stride=int(self.stride), spans=[(0, e) for e in train_end],
                                  futr=futr, static=static)
            has_val = any(v > 0 for v in val)
            valid = None
            if has_val:
                spans = [(len(s) - v - L, len(s)) if v else (len(s), len(s)) for s, v in zip(series, val, strict=True)]
                valid = WindowDataset(values, L, H, spans=spans, futr=futr, static=static)
        quantiles = self._model_levels()
        self.spec_ = ModelSpec(lookback=L, horizon=H, n_channels=series[0].n_channels,
                               n_futr=len(futr_names), n_static=len(series[0].static_names),
                               n_outputs=max(len(quantiles), 1), n_hist=series[0].n_hist)
        if self.random_state is not None:
            torch.manual_seed(self.random_state)
        net = build_model(self.model, self.spec_, **self._resolved_model_params(series))
        self.fit_report_ = None
        self.stream_ = None
        self.conformal_scores_ = scores
        self.fitted_params_ = self._shaping_params()
        # What the model saw ends here (update() extends history_, not this): cross_validation
        # warns about cutoffs before it.
        self.fit_end_ = {s.unique_id: s.ds[-1] for s in series}
        if streaming:
            if self.checkpoint_dir is not None:
                raise ValueError("checkpoint_dir / resume are not supported for the streaming model yet")
            return self._fit_stream(net, series, values, futr, static, train_end, quantiles)
        if self.checkpoint_dir is not None and getattr(net, "trainable", True):
            self._claim_checkpoint_dir(series, resume)
        if getattr(net, "trainable", True):
            batch_size, max_epochs = int(self.batch_size), int(self.max_epochs)
            module = ForecastModule(net, make_loss(self.loss, quantiles=quantiles or None),
                                    learning_rate=float(self.learning_rate), weight_decay=float(self.weight_decay),
                                    lr_schedule=self.lr_schedule, max_epochs=max_epochs,
                                    valid_loss=self._valid_loss())
            self.fit_report_ = fit_module(
                module,
                window_loader(train, batch_size, shuffle=True, seed=self.random_state or 0),
                window_loader(valid, batch_size * 4) if valid is not None else None,
                max_epochs=max_epochs, patience=self.patience, seed=self.random_state,
                trainer_kwargs=self.trainer_kwargs, enable_progress_bar=self.verbose,
                checkpoint_dir=self.checkpoint_dir, resume=resume,
            )
        self.model_ = _for_inference(net)
        self.calendar_names_ = tuple(n for n in futr_names if n.startswith("cal_"))
        self._keep_end(series)
        return self

    def _conformity_scores(self, series: list[TimeSeries]) -> np.ndarray:
        """``(k * n_series, H, C)`` absolute errors of the k windows of ``horizon`` steps at the
        end of ``series``, forecast by the same model trained on the rows before them (split
        conformal: the scores never saw their windows), in units of :func:`_window_spread`."""
        k, H, L = int(self.conformal_windows), int(self.horizon), int(self.lookback)
        n = k * len(series)
        for q in self._output_levels():
            cover = abs(2 * q - 1)
            if _conformal_rank(n, cover) > n:
                need = next(m for m in range(1, 10**7) if _conformal_rank(m, cover) <= m)
                raise ValueError(
                    f"conformal_windows={k} with {len(series)} series gives {n} errors per forecast step, too few "
                    f"for the quantile {q:g} (a central interval of {cover:.0%} needs at least {need}): pass "
                    f"more windows")
        span = k * H
        short = [s.unique_id for s in series if len(s) - span < L + H]
        if short:
            raise ValueError(
                f"series {short[:5]} are too short for conformal_windows={k}: each needs lookback + horizon + "
                f"conformal_windows * horizon = {L + H + span} rows (pass fewer windows)")
        calib = clone(self).set_params(conformal_windows=None, quantiles=None, checkpoint_dir=None)
        calib._fit_series([_slice(s, 0, len(s) - span) for s in series])
        scores = []
        for w in range(k):
            ends = [len(s) - span + w * H for s in series]
            history = [_slice(s, 0, e) for s, e in zip(series, ends, strict=True)]
            futr = None if series[0].futr is None else [s.futr[e:e + H] for s, e in zip(series, ends, strict=True)]
            point, _ = calib._forecast(history, futr)
            scaler_for = calib._scaler_lookup(history)
            for s, h, e, p in zip(series, history, ends, point, strict=True):
                sc = scaler_for(s.unique_id)
                actual = s.values[e:e + H].astype(np.float64)
                error = np.abs(sc.transform(actual, s.unique_id) - sc.transform(p, s.unique_id))
                scores.append(error / _window_spread(sc, h, L))
        return np.stack(scores).astype(np.float64)

    def _conformal_offsets(self) -> np.ndarray:
        """``(H, C, n_levels)`` signed offsets of the conformal levels from the point forecast, in
        units of :func:`_window_spread` (the finite-sample conformal quantile ``ceil((n + 1) c) / n``
        of the scores)."""
        scores = np.sort(self.conformal_scores_, axis=0)
        n = scores.shape[0]
        out = []
        for q in self._output_levels():
            rank = _conformal_rank(n, abs(2 * q - 1))
            width = scores[rank - 1] if rank >= 1 else np.zeros_like(scores[0])
            out.append(np.sign(q - 0.5) * width)
        return np.stack(out, axis=-1)

    def _check_covariates_usable(self, series: list[TimeSeries]) -> None:
        """A model with nothing to learn (``naive``, ``seasonal_naive``) cannot use covariates:
        refuse them at fit rather than ignore them silently (and then demand ``futr_df`` at predict)."""
        cls = get_model_class(self.model)
        if self.hist_cols and getattr(cls, "trainable", True) and not cls.past_covariates:
            from .models.base import past_covariate_models

            raise ValueError(f"model={self.model!r} uses only the future values of covariates, so it would ignore "
                             f"hist_cols {column_list(self.hist_cols)} (past-only covariates): use a model "
                             f"that reads them ({past_covariate_models()}), or fit without them")
        if getattr(cls, "trainable", True):
            return
        given = []
        if self.futr_cols:
            given.append(f"futr_cols {column_list(self.futr_cols)}")
        if self.hist_cols:
            given.append(f"hist_cols {column_list(self.hist_cols)}")
        if series[0].static_names:
            given.append(f"static_df columns {list(series[0].static_names)}")
        if given:
            raise ValueError(f"model={self.model!r} has nothing to learn, so it cannot use covariates and would "
                             f"ignore {' and '.join(given)}: fit it without them, or use a model that learns "
                             "from covariates (e.g. 'dlinear')")

    def _resolved_model_params(self, series: list[TimeSeries]) -> dict[str, Any]:
        """``model_params`` with ``seasonal_naive``'s ``season_length="auto"`` (its default here, as in the
        benchmark) resolved from the series' time index by :func:`~xlstm_ts.models.season_length_for`."""
        params = dict(self.model_params or {})
        if self.model != "seasonal_naive" or params.get("season_length", "auto") != "auto":
            return params
        ds = series[0].ds  # all series share the frequency (check_like_fit)
        if not isinstance(ds, pd.DatetimeIndex):
            raise ValueError("seasonal_naive: season_length='auto' (the default) infers the season from the "
                             "timestamps, but the series have integer time steps: pass "
                             "model_params={'season_length': m}")
        m, L = season_length_for(ds), int(self.lookback)
        if m > L:
            raise ValueError(f"seasonal_naive: season_length='auto' (the default) is {m} for data of frequency "
                             f"{series[0].freq.freqstr!r}, more than lookback={L}: use lookback >= {m} or pass "
                             f"model_params={{'season_length': m}} with m <= {L}")
        params["season_length"] = m
        return params

    def _keep_end(self, series: list[TimeSeries]) -> None:
        """Keep what forecasting from the end of ``series`` needs: the last ``lookback`` rows of
        each (and, for a streaming model, its state after reading the whole series)."""
        L = int(self.lookback)
        self.history_ = [_slice(s, max(len(s) - L, 0), len(s)) for s in series]
        if self._streaming:
            values = self.scaler_.transform_series([s.values for s in series])
            self.stream_ = read_series(self.model_, values, self._scaled_futr(series), self._scaled_static(series))

    def _claim_checkpoint_dir(self, series: list[TimeSeries], resume: bool) -> None:
        """Tie ``checkpoint_dir`` to this fit's parameters and data: resuming from a checkpoint of
        another configuration would silently mix two runs (or fail deep inside Lightning)."""
        params = self.get_params()
        for name in ("trainer_kwargs", "verbose", "checkpoint_dir"):
            params.pop(name)
        digest = hashlib.sha256()
        for s in series:
            digest.update(str(s.unique_id).encode())
            digest.update(np.ascontiguousarray(s.values, dtype=np.float64).tobytes())
        fingerprint = {"params": _jsonable(params), "data_sha256": digest.hexdigest()}
        d = Path(self.checkpoint_dir)
        d.mkdir(parents=True, exist_ok=True)
        path = d / "fit_fingerprint.json"
        if resume and path.exists() and (d / "last.ckpt").exists():
            old = json.loads(path.read_text())
            if old != json.loads(json.dumps(fingerprint)):
                raise ValueError(
                    f"the checkpoint in {d} was written by a fit with other parameters or data; "
                    "resume with the same settings, or use another checkpoint_dir")
        elif (d / "last.ckpt").exists() and not resume:
            (d / "last.ckpt").unlink()  # a fresh fit must not leave a stale checkpoint behind
        atomic_write_json(path, fingerprint, indent=1, sort_keys=True)

    def _fit_stream(self, net, series, values, futr, static, train_end, quantiles) -> XLSTMForecaster:
        """TBPTT training of a streaming model, then one read of every whole series into its state."""
        self.fit_report_ = fit_stream(
            net, make_loss(self.loss, quantiles=quantiles or None), values, futr, static, train_end,
            horizon=int(self.horizon), segment_len=net.hparams["segment_len"] or int(self.lookback),
            lane_len=net.hparams["lane_len"], batch_size=int(self.batch_size),
            learning_rate=float(self.learning_rate), weight_decay=float(self.weight_decay),
            lr_schedule=self.lr_schedule, max_epochs=int(self.max_epochs),
            patience=self.patience, seed=self.random_state, trainer_kwargs=self.trainer_kwargs,
            verbose=self.verbose, valid_loss=self._valid_loss(),
        )
        self.model_ = _for_inference(net)
        self.calendar_names_ = tuple(n for n in series[0].futr_names if n.startswith("cal_"))
        self._keep_end(series)
        return self

    def _advance_stream(self, rows: list[int], new: list[TimeSeries], scaled: list[np.ndarray],
                        stream: StreamState | None = None, owners: list[TimeSeries] | None = None) -> StreamState:
        """The state ``stream`` (default ``stream_``) after reading the rows of ``new`` (series
        ``rows`` of ``owners``, default ``history_``, which give the statics; ``scaled``: their
        values scaled)."""
        model, stream = self.model_, (self.stream_ if stream is None else stream).copy()
        owners = self.history_ if owners is None else owners
        by_len: dict[int, list[int]] = {}
        for k, s in enumerate(new):
            by_len.setdefault(len(s), []).append(k)
        for ks in by_len.values():
            idx = torch.tensor([rows[k] for k in ks], dtype=torch.long)
            x = np.stack([scaled[k] for k in ks]).astype(np.float32)
            f = None
            if self.futr_scaler_ is not None:
                f = torch.from_numpy(np.stack([self.futr_scaler_.transform(new[k].futr) for k in ks]).astype(np.float32))
            static = None
            if self.static_scaler_ is not None:
                static = torch.from_numpy(self._scaled_static([owners[rows[k]] for k in ks]))
            x = torch.from_numpy(x)
            last, state = model.read(x, f, static, state_select(stream.state, idx))
            stream.set_rows(idx, state, last, x)
        return stream

    def _model_levels(self) -> list[float]:
        """Quantile levels the network outputs: the requested ones plus the median (none for
        conformal intervals, which come from a point forecast)."""
        if self.quantiles is None or len(self.quantiles) == 0 or self.conformal_windows is not None:
            return []
        return sorted({float(q) for q in self.quantiles} | {0.5})

    def _output_levels(self) -> list[float]:
        if self.quantiles is None or len(self.quantiles) == 0:
            return []
        return sorted({float(q) for q in self.quantiles})

    def _scaled_futr(self, series: list[TimeSeries], hint: str = _FIT_FUTR_HINT) -> list[np.ndarray] | None:
        """The future covariates of ``series`` scaled (float32), range-checked like the targets
        (``hint``: what the user can do about a value out of range). None without covariates."""
        scaled = self._check_futr_range([s.futr for s in series], [s.unique_id for s in series],
                                        [s.ds for s in series], hint)
        return None if scaled is None else [z.astype(np.float32) for z in scaled]

    def _check_futr_range(self, raw: Sequence[np.ndarray], uids: Sequence[str], times: Sequence[pd.Index],
                          hint: str) -> list[np.ndarray] | None:
        """``raw`` future covariates ((T, F) per series) scaled, after the same float32 guard as
        for the targets (a recurrent state that read a value far beyond the fit's scale would
        stay NaN). None without covariates."""
        if self.futr_scaler_ is None:
            return None
        scaled = [self.futr_scaler_.transform(np.asarray(r, dtype=np.float64)) for r in raw]
        check_scaled_range(scaled, raw, uids, times, f"(a future covariate value) {hint}")
        return scaled

    def _scaled_static(self, series: list[TimeSeries]) -> np.ndarray | None:
        if self.static_scaler_ is None:
            return None
        return self.static_scaler_.transform(np.stack([s.static for s in series])).astype(np.float32)

    # ------------------------------------------------------------------ forecasting

    def _future_futr(self, series: list[TimeSeries], futr_df: pd.DataFrame | None,
                     steps: int | None = None) -> list[np.ndarray] | None:
        """Future-known covariates for the next ``steps`` (default ``horizon``) steps of each series."""
        if series[0].futr is None:
            return None
        H = int(self.horizon if steps is None else steps)
        user = None
        if self.futr_cols:
            if futr_df is None:
                raise ValueError(
                    f"the model uses future covariates {column_list(self.futr_cols)}: pass futr_df with "
                    f"{self.id_col!r}, {self.time_col!r} and their values for the next {H} steps")
            if isinstance(futr_df, (str, os.PathLike)):
                futr_df = read_series_file(futr_df, self.time_col, self.id_col)
            if isinstance(futr_df, pd.DataFrame) and self.id_col not in futr_df.columns and len(series) == 1:
                # One (wide) series: its future covariates may come wide too, without an id column.
                if self.time_col not in futr_df.columns:
                    futr_df = futr_df.rename_axis(self.time_col).reset_index()
                futr_df = futr_df.assign(**{self.id_col: series[0].unique_id})
            n_user = len(column_list(self.futr_cols))  # after the calendar, before the past-only
            first = len(series[0].futr_names) - series[0].n_hist - n_user
            user_series = [dataclasses.replace(s, futr=s.futr[:, first:first + n_user],
                                               futr_names=s.futr_names[first:first + n_user], n_hist=0)
                           for s in series]
            user = future_covariates(futr_df, user_series, H, id_col=self.id_col, time_col=self.time_col)
        out = []
        for i, s in enumerate(series):
            parts = []
            if self.calendar and isinstance(s.ds, pd.DatetimeIndex):
                parts.append(calendar_features(future_index(s.ds, H, s.freq, s.unique_id), s.freq))
            if user is not None:
                parts.append(user[i])
            if s.n_hist:
                # Unknown ahead, and never read there (the model zeroes these rows); the scaler's
                # centre scales to that 0 and passes the range check of any covariate scale.
                parts.append(np.broadcast_to(self.futr_scaler_.center_[-s.n_hist:], (H, s.n_hist)))
            out.append(np.concatenate(parts, axis=1).astype(np.float32))
        return out

    def _forecast(self, series: list[TimeSeries], futr_future: list[np.ndarray] | None, scaler_for=None):
        """Point and quantile forecasts ``(H, C)`` / ``(H, C, Q)`` per series, original scale
        (``scaler_for``: ``uid -> scaler``, default :meth:`_scaler_lookup` of ``series``)."""
        check_like_fit(series, self.history_[0].futr_names, self.history_[0].freq)
        if self._streaming:
            return self._forecast_stream(series, futr_future, None, scaler_for)
        L = self.lookback
        short = [s.unique_id for s in series if len(s) < L]
        if short:
            raise ValueError(f"series {short[:5]} have fewer than lookback={L} rows to forecast from")
        scaler_for = scaler_for or self._scaler_lookup(series)
        x = np.stack([scaler_for(s.unique_id).transform(s.values[-L:], s.unique_id) for s in series])
        check_scaled_range(x, [s.values[-L:] for s in series], [s.unique_id for s in series],
                           [s.ds[-L:] for s in series], _FORECAST_SCALE_HINT)
        batch = {"x": torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))}
        if self.futr_scaler_ is not None:
            if futr_future is None:
                raise ValueError("future covariates are required for this model")
            futr = np.stack([np.concatenate([s.futr[-L:], f]) for s, f in zip(series, futr_future, strict=True)])
            scaled = self._check_futr_range(list(futr), [s.unique_id for s in series],
                                            [_with_future_steps(s.ds[-L:], len(f))
                                             for s, f in zip(series, futr_future, strict=True)], _FUTR_SCALE_HINT)
            batch["x_futr"] = torch.from_numpy(np.stack(scaled).astype(np.float32))
        if self.static_scaler_ is not None:
            batch["static"] = torch.from_numpy(self._scaled_static(series))
        preds = []
        with torch.no_grad():
            for start in range(0, len(series), 1024):
                chunk = {k: v[start:start + 1024] for k, v in batch.items()}
                preds.append(self.model_(chunk))
        pred = torch.cat(preds).numpy().astype(np.float64)  # (N, H, C, Q)
        return self._finish(series, pred, scaler_for)

    def _read_stream(self, series: list[TimeSeries], scaler_for) -> StreamState:
        """The stream state of each series after reading it whole from the zero state."""
        values = [scaler_for(s.unique_id).transform(s.values, s.unique_id) for s in series]
        # The whole series is read (not a window): any of its values could make the state NaN.
        check_scaled_range(values, [s.values for s in series], [s.unique_id for s in series],
                           [s.ds for s in series], _FORECAST_SCALE_HINT)
        return read_series(self.model_, values, self._scaled_futr(series, _FUTR_SCALE_HINT),
                           self._scaled_static(series))

    def _check_steps(self, h) -> int:
        """``predict``'s ``h`` as a positive int (default: ``horizon``)."""
        if h is None:
            return int(self.horizon)
        if not is_int(h) or h < 1:
            raise ValueError(f"h must be a positive int (steps to forecast); got {h!r}")
        return int(h)

    def _forecast_steps(self, series: list[TimeSeries], futr: list[np.ndarray] | None, steps: int,
                        stream: StreamState | None):
        """Point and quantile forecasts of ``steps`` steps per series: one model forecast when
        ``steps <= horizon`` (cut to ``steps``), else recursive blocks of ``horizon`` steps, each
        from the history extended by the point forecasts before it (``futr``: the raw future
        covariates of every block's steps; ``stream``: a streaming model's end states, None to read
        ``series`` from the zero state)."""
        H, L = int(self.horizon), int(self.lookback)
        check_like_fit(series, self.history_[0].futr_names, self.history_[0].freq)
        scaler_for = self._scaler_lookup(series)  # the given history's: forecasts do not refit it
        if self._streaming and stream is None:
            stream = self._read_stream(series, scaler_for)
        points: list[list[np.ndarray]] = [[] for _ in series]
        quants: list[list[np.ndarray]] | None = [[] for _ in series] if self._output_levels() else None
        for start in range(0, steps, H):
            block_futr = None if futr is None else [f[start:start + H] for f in futr]
            if self._streaming:
                point, quant = self._forecast_stream(series, block_futr, stream, scaler_for)
            else:
                point, quant = self._forecast(series, block_futr, scaler_for)
            for i in range(len(series)):
                points[i].append(point[i])
                if quants is not None:
                    quants[i].append(quant[i])
            if start + H >= steps:
                break
            # Feed the point forecasts back as if they had been observed.
            new = [dataclasses.replace(s, ds=future_index(s.ds, H, s.freq, s.unique_id),
                                       values=p.reshape(H, -1).astype(np.float32),
                                       futr=None if block_futr is None else block_futr[i])
                   for i, (s, p) in enumerate(zip(series, point, strict=True))]
            if self._streaming:
                scaled = [scaler_for(b.unique_id).transform(b.values, b.unique_id) for b in new]
                stream = self._advance_stream(list(range(len(series))), new, scaled, stream, series)
            series = [_append(s, b, max(L, len(s))) for s, b in zip(series, new, strict=True)]
        point_out = [np.concatenate(p)[:steps] for p in points]
        quant_out = None if quants is None else [np.concatenate(q)[:steps] for q in quants]
        return point_out, quant_out

    def _scaler_lookup(self, series: list[TimeSeries]):
        """``uid -> scaler``: the fitted one for known series, one fitted on the given history otherwise."""
        known = set(self.scaler_.ids_)
        unseen = [s for s in series if s.unique_id not in known]
        own = PerSeriesScaler(self.scaler).fit([s.values for s in unseen], ids=[s.unique_id for s in unseen]) if unseen else None

        def scaler_for(uid):
            return self.scaler_ if uid in known else own

        return scaler_for

    def _forecast_stream(self, series: list[TimeSeries], futr_future: list[np.ndarray] | None,
                         stream: StreamState | None, scaler_for=None):
        """Streaming forecasts from the end states ``stream`` of ``series`` (None: read each whole
        series from the zero state first)."""
        scaler_for = scaler_for or self._scaler_lookup(series)
        static = self._scaled_static(series)
        if stream is None:
            stream = self._read_stream(series, scaler_for)
        fut = None
        if self.futr_scaler_ is not None:
            if futr_future is None:
                raise ValueError("future covariates are required for this model")
            scaled = self._check_futr_range(futr_future, [s.unique_id for s in series],
                                            [_with_future_steps(s.ds[:0], len(f))
                                             for s, f in zip(series, futr_future, strict=True)], _FUTR_SCALE_HINT)
            fut = torch.from_numpy(np.stack(scaled).astype(np.float32))
        st = None if static is None else torch.from_numpy(static)
        with torch.no_grad():
            pred = self.model_.head(stream.last_out, stream.recent, fut, st)
        return self._finish(series, pred.numpy().astype(np.float64), scaler_for)

    def _finish(self, series: list[TimeSeries], pred: np.ndarray, scaler_for):
        """``(N, H, C, Q)`` scaled forecasts -> per-series point (and quantile) forecasts, original scale."""
        levels = self._model_levels()
        conformal = self._conformal_offsets() if getattr(self, "conformal_scores_", None) is not None else None
        point, quant = [], [] if levels or conformal is not None else None
        for s, p in zip(series, pred, strict=True):
            sc = scaler_for(s.unique_id)
            inv = np.stack([sc.inverse_transform(p[..., q], s.unique_id) for q in range(p.shape[-1])], -1)
            if conformal is not None:  # bounds = point forecast +- conformal widths, in scaled units
                bands = p[..., :1] + conformal[:p.shape[0]] * _window_spread(sc, s, int(self.lookback))[:, None]
                inv_bands = np.stack([sc.inverse_transform(bands[..., j], s.unique_id)
                                      for j in range(bands.shape[-1])], -1)
                if not np.isfinite(inv_bands).all():
                    raise FloatingPointError(f"non-finite interval for series {s.unique_id!r}; please report this")
                quant.append(inv_bands)
            if not np.isfinite(inv).all():
                raise FloatingPointError(f"non-finite forecast for series {s.unique_id!r}; please report this")
            if levels:
                # Quantile heads are fitted independently and can cross (q0.1 above q0.9). Sorting
                # the outputs per step (the levels are ascending) is the monotone rearrangement of
                # Chernozhukov et al. (2010): it never increases the pinball loss, and y_hat (the
                # 0.5 level, always among them) stays inside the band.
                inv = np.sort(inv, axis=-1)
                point.append(inv[..., levels.index(0.5)])
                quant.append(inv[..., [levels.index(q) for q in self._output_levels()]])
            else:
                point.append(inv[..., 0])
        return point, quant

    # ------------------------------------------------------------------ plotting

    def plot(self, forecast: pd.DataFrame, path: str | os.PathLike | None = None,
             history: pd.DataFrame | None = None, unique_ids: Sequence[str | int] | None = None,
             n_history: int | None = None, max_series: int | None = 8) -> Path | Any:
        """Plot forecasts after their history: a panel per series with the point forecast and
        the quantile bands (matplotlib, without pyplot: the session's backend is left alone).

        Args:
            forecast: output of :meth:`predict`, or of :meth:`cross_validation`: its windows are
                drawn per cutoff (each window's forecast and bands as a segment of their own, a
                dotted line at each cutoff), its actuals ``y`` as one dashed line, and the
                history only up to the first cutoff.
            path: file to write (the format follows the extension; ``.png`` is added when there
                is none); None returns the :class:`matplotlib.figure.Figure` instead (Jupyter
                shows it).
            history: the series' past in the input format of :meth:`fit` (long with this
                estimator's ``id_col``, ``time_col`` and ``target_col``, or wide); None draws the
                fitted history (``history_``: the last ``lookback`` rows of each series, after
                any :meth:`update`). Series it lacks (new series given to ``predict(df)``, say)
                are drawn without history and named in a ``UserWarning``.
            unique_ids: series to draw, as the forecast names them (ids of several targets are
                ``"<id>/<target>"``); ids are matched as text, and one without forecast rows is
                a ``ValueError``. None: the forecast's series in their order.
            n_history: observations drawn before each forecast (None: ``lookback``).
            max_series: most panels (None: no limit); more series, whether the forecast's or
                the ``unique_ids`` given, are cut to the first ``max_series`` with a
                ``UserWarning``.

        Returns:
            The path written, or the ``Figure`` when ``path`` is None.
        """
        from .plotting import plot_forecast

        target_col = self.target_col
        if history is None:
            self._check_fitted()
            from .data import to_long_frame

            # One "y" column under the forecast ids (channel ids), whatever the targets are named.
            history = to_long_frame(self.history_, id_col=self.id_col, time_col=self.time_col)
            target_col = "y"
        return plot_forecast(history, forecast, path, unique_ids=unique_ids,
                             n_history=self.lookback if n_history is None else n_history,
                             max_series=max_series, id_col=self.id_col, time_col=self.time_col,
                             target_col=target_col)


# ---------------------------------------------------------------------- helpers

def _conformal_rank(n: int, cover: float) -> int:
    """Rank (1-based) of the split-conformal quantile of ``n`` scores at coverage ``cover``:
    ``ceil((n + 1) * cover)``, with a tolerance for levels like 0.8 that floats miss by an ulp."""
    return math.ceil((n + 1) * cover - 1e-9)


def _window_spread(scaler, s: TimeSeries, lookback: int) -> np.ndarray:
    """``(C,)`` mean absolute step-to-step change of the last ``lookback`` rows of ``s`` in its
    scaled units, at least 1e-3: the unit of the conformity scores, so that a series that moves
    more gets a wider interval (a window of one row or a flat one gets the floor)."""
    window = scaler.transform(np.asarray(s.values[-lookback:], dtype=np.float64), s.unique_id)
    spread = np.abs(np.diff(window, axis=0)).mean(axis=0) if len(window) > 1 else np.zeros(window.shape[1])
    return np.maximum(spread, 1e-3)


def _with_future_steps(ds: pd.Index, n: int) -> pd.Index:
    """``ds`` followed by labels of the ``n`` forecast steps, for error messages."""
    return pd.Index([*ds, *(f"forecast step {i + 1}" for i in range(n))], dtype=object)


def _for_inference(net: torch.nn.Module) -> torch.nn.Module:
    """The trained network on the CPU, in eval mode and float32: a ``"64-true"`` or
    ``"bf16-true"`` Lightning ``precision`` leaves its weights in that dtype, while forecasting,
    :meth:`XLSTMForecaster.update` and saved models work in float32."""
    return net.cpu().float().eval()


def _slice(s: TimeSeries, start: int, end: int) -> TimeSeries:
    return dataclasses.replace(
        s, ds=s.ds[start:end], values=s.values[start:end],
        futr=None if s.futr is None else s.futr[start:end])


def _jsonable(params: dict[str, Any]) -> dict[str, Any]:
    """Constructor parameters as JSON: tuples/arrays as lists, NumPy scalars as Python ones,
    pandas offsets (``freq=pd.offsets.Hour()``) as their frequency string."""
    def plain(v):
        if isinstance(v, (tuple, list, np.ndarray)):
            return [plain(x) for x in v]
        if isinstance(v, np.generic):
            return v.item()
        if isinstance(v, pd.offsets.BaseOffset):
            return v.freqstr
        return v
    return {k: plain(v) for k, v in params.items()}


def _check_params_match_spec(est: XLSTMForecaster, path: str | os.PathLike) -> None:
    """The saved network was built for ``spec``: parameters that disagree with it (a hand-edited
    ``config.json``) would misshape its inputs or mislabel its outputs."""
    spec = est.spec_
    n_outputs = max(len(est._model_levels()), 1)  # the quantile levels and the median, or one point
    for field, shown, needed, spec_field, built in (
            ("horizon", repr(est.horizon), est.horizon, "horizon", spec.horizon),
            ("lookback", repr(est.lookback), est.lookback, "lookback", spec.lookback),
            ("quantiles", f"{est.quantiles!r} ({n_outputs} outputs per step)", n_outputs, "n_outputs",
             spec.n_outputs)):
        if needed != built:
            raise ModelFileError(f"{path}: config.json is inconsistent: params.{field} is {shown} but the "
                                 f"network was built for spec.{spec_field} = {built!r}")


def _channel_scaler(arrays: dict | None) -> ChannelScaler | None:
    if arrays is None:
        return None
    sc = ChannelScaler("standard")
    sc.center_, sc.scale_ = arrays["center"], arrays["scale"]
    sc.n_features_in_ = len(sc.center_)
    return sc


def _series_meta(s: TimeSeries, fit_end: object = None) -> dict[str, Any]:
    """JSON metadata of a kept series (``fit_end``: the end of its fitted data, if known)."""
    is_dt = isinstance(s.ds, pd.DatetimeIndex)
    meta = {
        "unique_id": s.unique_id,
        "start": s.ds[0].isoformat() if is_dt else int(s.ds[0]),
        "length": len(s),
        "freq": s.freq.freqstr if is_dt else 1,
        "tz": str(s.ds.tz) if is_dt and s.ds.tz is not None else None,
        "channel_names": list(s.channel_names),
        "channel_ids": list(s.channel_ids),
        "futr_names": list(s.futr_names),
        "static_names": list(s.static_names),
        "n_hist": s.n_hist,
    }
    if fit_end is not None:
        meta["fit_end"] = fit_end.isoformat() if is_dt else int(fit_end)
    return meta


def _stamp_from_meta(value: str | int, tz: str | None) -> pd.Timestamp | int:
    """A timestamp of :func:`_series_meta` (ISO text, or an integer step) back in the series' zone."""
    if not isinstance(value, str):
        return int(value)
    stamp = pd.Timestamp(value)  # ISO text keeps the UTC offset only: restore the zone
    if tz is not None:
        with contextlib.suppress(ValueError, TypeError, KeyError):  # a fixed offset stays as parsed
            stamp = stamp.tz_convert(tz)
    return stamp


def _series_from_meta(m: dict[str, Any], hist: dict[str, torch.Tensor], i: int) -> TimeSeries:
    if m["tz"] is not None or isinstance(m["start"], str):
        freq = pd.tseries.frequencies.to_offset(m["freq"])
        ds = date_grid(_stamp_from_meta(m["start"], m["tz"]), freq, periods=m["length"])
    else:
        freq = 1
        ds = pd.RangeIndex(m["start"], m["start"] + m["length"])
    futr = hist.get(f"futr_{i}")
    static = hist.get(f"static_{i}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return TimeSeries(
            unique_id=m["unique_id"], ds=ds, values=hist[f"values_{i}"].numpy(),
            channel_names=tuple(m["channel_names"]), channel_ids=tuple(m["channel_ids"]), freq=freq,
            futr=None if futr is None else futr.numpy(), futr_names=tuple(m["futr_names"]),
            static=None if static is None else static.numpy(), static_names=tuple(m["static_names"]),
            n_hist=int(m.get("n_hist", 0)),  # models saved before past-only covariates have none
        )


def _append(s: TimeSeries, new: TimeSeries, keep: int) -> TimeSeries:
    """``s`` followed by the rows of ``new``, keeping the last ``keep`` rows (a regular index)."""
    n = min(len(s) + len(new), keep)
    values = np.concatenate([s.values, new.values.astype(s.values.dtype)])[-n:]
    futr = None if s.futr is None else np.concatenate([s.futr, new.futr.astype(s.futr.dtype)])[-n:]
    last = new.ds[-1]
    if isinstance(s.ds, pd.DatetimeIndex):
        ds = pd.date_range(end=last, periods=n, freq=s.freq, name=s.ds.name).as_unit(s.ds.unit)
    else:
        ds = pd.RangeIndex(int(last) - n + 1, int(last) + 1)
    return dataclasses.replace(s, ds=ds, values=values, futr=futr)


class _LastRows(Mapping[str, Mapping[str, float]]):
    """``unique_id ->`` the last known value of each target and covariate column of that series,
    by column name (the calendar features come along; they are no columns of the user's frames).

    Built on lookup: the data layer looks up only the series with values to fill, and an
    ``update`` of a few rows should not cost a dict per series of a large panel.
    """

    def __init__(self, series: Sequence[TimeSeries]):
        self._by_id = {s.unique_id: s for s in series}

    def __getitem__(self, uid: str) -> dict[str, float]:
        s = self._by_id[uid]
        row = s.values[-1] if s.futr is None else np.concatenate([s.values[-1], s.futr[-1]])
        return dict(zip(s.channel_names + s.futr_names, row.tolist(), strict=True))

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_id)

    def __len__(self) -> int:
        return len(self._by_id)


def _check_continues(s: TimeSeries, new: TimeSeries) -> None:
    """``new`` must start exactly one step after the end of ``s``: a clear error otherwise."""
    if new.futr_names != s.futr_names:
        raise ValueError(f"update: series {s.unique_id!r} has covariates {list(new.futr_names)}; "
                         f"it was fitted with {list(s.futr_names)}")
    old_tz, new_tz = getattr(s.ds, "tz", None), getattr(new.ds, "tz", None)
    if isinstance(s.ds, pd.DatetimeIndex) and isinstance(new.ds, pd.DatetimeIndex) and str(old_tz) != str(new_tz):
        # The calendar features were computed in the new rows' zone: refuse rather than mix zones.
        fix = (f"df[time_col].dt.tz_convert({str(old_tz)!r})" if old_tz is not None and new_tz is not None
               else "timestamps of the same kind (time-zone-aware or naive) as in fit")
        raise ValueError(f"update: series {s.unique_id!r} has timestamps in time zone {old_tz}; the new "
                         f"data is in {new_tz}: pass {fix}")
    expected = future_index(s.ds, 1, s.freq)[0]
    start = new.ds[0]
    if isinstance(s.ds, pd.DatetimeIndex) != isinstance(new.ds, pd.DatetimeIndex):
        raise ValueError(f"update: series {s.unique_id!r} has {'datetime' if isinstance(s.ds, pd.DatetimeIndex) else 'integer'} "
                         f"timestamps; the new data starts at {start!r}")
    try:
        if start == expected:
            return
        before = start < expected
    except TypeError:
        raise ValueError(f"update: series {s.unique_id!r} must continue at {expected} (same time zone); "
                         f"the new data starts at {start}") from None
    if before:
        raise ValueError(f"update: series {s.unique_id!r} must continue at {expected}, one step after its "
                         f"last timestamp {s.ds[-1]}; the new data starts at {start}, which overlaps the "
                         f"known history")
    missing = len(pd.date_range(expected, start, freq=s.freq)) - 1 if isinstance(s.ds, pd.DatetimeIndex) \
        else int(start) - int(expected)
    raise ValueError(f"update: series {s.unique_id!r} must continue at {expected}, one step after its last "
                     f"timestamp {s.ds[-1]}; the new data starts at {start}: a gap of {missing} missing "
                     f"step(s)")

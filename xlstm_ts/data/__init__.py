"""Data layer: loading, validation, panels of series, scaling, windows and splits.

Flow: DataFrame → :func:`from_long` / :func:`from_wide` (validated
:class:`TimeSeries`) → :class:`PerSeriesScaler` fitted on the training span →
:class:`WindowDataset` over time spans (:func:`tslib_spans`, :func:`tail_spans`) →
model → :func:`predictions_frame` (``unique_id, ds, y_hat``).
"""

from xlstm_ts.data.calendar import calendar_feature_names, calendar_features
from xlstm_ts.data.datasets import (
    list_datasets,
    load_dataset,
    load_text,
    read_frame,
    read_series_file,
)
from xlstm_ts.data.frames import (
    TimeSeries,
    from_long,
    from_wide,
    future_covariates,
    future_index,
    predictions_frame,
    to_long_frame,
)
from xlstm_ts.data.scalers import SCALER_METHODS, ChannelScaler, PerSeriesScaler, make_scaler
from xlstm_ts.data.splits import SplitSpans, protocol_for, tail_spans, tslib_borders, tslib_spans
from xlstm_ts.data.validation import FILL_METHODS, infer_frequency
from xlstm_ts.data.windows import EpochShuffleSampler, WindowDataset, count_windows, window_loader

__all__ = [
    "FILL_METHODS",
    "SCALER_METHODS",
    "ChannelScaler",
    "PerSeriesScaler",
    "SplitSpans",
    "TimeSeries",
    "WindowDataset",
    "calendar_feature_names",
    "calendar_features",
    "count_windows",
    "from_long",
    "from_wide",
    "future_covariates",
    "future_index",
    "infer_frequency",
    "list_datasets",
    "load_dataset",
    "load_text",
    "make_scaler",
    "predictions_frame",
    "protocol_for",
    "read_frame",
    "read_series_file",
    "tail_spans",
    "to_long_frame",
    "tslib_borders",
    "tslib_spans",
    "window_loader",
    "EpochShuffleSampler",
]

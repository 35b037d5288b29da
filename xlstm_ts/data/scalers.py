"""Per-channel scalers with the scikit-learn transformer API, and a per-series wrapper.

Every method is an affine map ``z = (x - center) / scale`` per channel, so all fitted
state is two arrays. That makes the state trivial to save with safetensors (no pickle,
no private scikit-learn attributes that change between versions) and to apply to
windows of any shape ``(..., C)``.

=========== ================= =====================================================
method      center            scale
=========== ================= =====================================================
standard    mean              population std (``ddof=0``, like ``StandardScaler``)
robust      median            IQR = q75 - q25 (``RobustScaler`` defaults)
minmax      min               max - min (maps the fit range to [0, 1])
none        0                 1
=========== ================= =====================================================

A scale of (nearly) zero, i.e. a constant channel, is replaced by 1, as scikit-learn
does, so constant series never divide by zero or produce NaN.

:class:`ChannelScaler` refuses NaN and inf in ``fit``, ``transform`` and
``inverse_transform`` (tag ``allow_nan=False``): the package validates (and fills) its data
before scaling it, so a non-finite value here is a bug that would otherwise spread silently.
:class:`PerSeriesScaler` is plain arithmetic on any ``(..., C)`` array and lets NaN through.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin, clone
from sklearn.utils import Tags
from sklearn.utils.validation import FLOAT_DTYPES, check_is_fitted, validate_data

from xlstm_ts._scalars import is_int

__all__ = ["SCALER_METHODS", "ChannelScaler", "PerSeriesScaler", "make_scaler"]

SCALER_METHODS: tuple[str, ...] = ("standard", "robust", "minmax", "none")
_STATE_VERSION = 1


def _check_method(method: str) -> str:
    if method not in SCALER_METHODS:
        raise ValueError(f"unknown scaler {method!r}; choose one of {SCALER_METHODS}")
    return method


class ChannelScaler(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Scale each column of a (T, C) array: ``(x - center_) / scale_``.

    A scikit-learn transformer: ``transform`` checks the channel count (and, after a fit
    on a DataFrame, the column names and order) against ``fit``; output names are the
    input names (``get_feature_names_out``), so ``set_output(transform="pandas")`` works.

    Parameters
    ----------
    method
        ``"standard"``, ``"robust"``, ``"minmax"`` or ``"none"`` (see the module docs).

    Attributes
    ----------
    center_, scale_ : numpy.ndarray of shape (C,)
        Fitted statistics (float64); ``scale_`` is 1 for constant channels.
    n_features_in_ : int
        Number of channels seen in ``fit``.
    feature_names_in_ : numpy.ndarray of shape (C,)
        Column names, only when ``fit`` got a DataFrame with string column names.
    """

    def __init__(self, method: str = "standard") -> None:
        self.method = method

    def fit(self, X: np.ndarray, y: object = None) -> ChannelScaler:
        """Compute per-channel center and scale from ``X`` (T, C); NaN/inf rejected."""
        method = _check_method(self.method)
        # Statistics in float64 whatever the input; sets n_features_in_ (feature_names_in_).
        X = validate_data(self, X, dtype=np.float64)
        if method == "standard":
            center, scale = X.mean(axis=0), X.std(axis=0)
        elif method == "robust":
            q25, median, q75 = np.percentile(X, [25.0, 50.0, 75.0], axis=0)
            center, scale = median, q75 - q25
        elif method == "minmax":
            low = X.min(axis=0)
            center, scale = low, X.max(axis=0) - low
        else:
            center, scale = np.zeros(X.shape[1]), np.ones(X.shape[1])
        self.center_ = center
        self.scale_ = _safe_scale(scale, np.abs(X).max(axis=0), X.shape[0])
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Scale ``X`` (T, C); float32 input stays float32."""
        check_is_fitted(self)
        X = self._check(X)
        return ((X - self.center_) / self.scale_).astype(X.dtype, copy=False)

    def inverse_transform(self, X: np.ndarray) -> np.ndarray:
        """Undo :meth:`transform`."""
        check_is_fitted(self)
        X = self._check(X)
        return (X * self.scale_ + self.center_).astype(X.dtype, copy=False)

    def _check(self, X: np.ndarray) -> np.ndarray:
        # scikit-learn's checks and messages (2-D, finite, channel count and names as in fit);
        # float32/float64 inputs keep their dtype, anything else becomes float64.
        return validate_data(self, X, reset=False, dtype=FLOAT_DTYPES)

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False  # see the module docs
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags


def _safe_scale(scale: np.ndarray, magnitude: np.ndarray, n_rows: int) -> np.ndarray:
    """Replace zero scales by 1.

    "Zero" allows for the rounding error of a mean over ``n_rows`` values of up to
    ``magnitude`` (the column's largest absolute value; scikit-learn's bound for constant
    features uses the mean), so a constant channel of large values is caught even when its
    computed std is a few ulps instead of 0, and a spread below the data's own resolution
    (an IQR of 1e-309 beside a 1.0: dividing by it overflows to inf) counts as none.
    """
    tiny = n_rows * np.finfo(np.float64).eps * magnitude
    return np.where(scale > tiny, scale, 1.0)


def make_scaler(name: str = "standard") -> ChannelScaler:
    """Create an unfitted :class:`ChannelScaler` by name (``SCALER_METHODS``)."""
    return ChannelScaler(method=_check_method(name))


class PerSeriesScaler(BaseEstimator):
    """One :class:`ChannelScaler` per series, fitted on each series' training span only.

    Parameters
    ----------
    method
        Scaler method for every series (``SCALER_METHODS``).

    Attributes
    ----------
    center_, scale_ : numpy.ndarray of shape (n_series, C)
        Stacked statistics; row ``i`` belongs to series ``i``.
    ids_ : list of str
        Series ids (unique), so that series can also be addressed by ``unique_id``.

    Notes
    -----
    The fitted state is ``state_dict()``: a dict of numpy arrays (safetensors-ready)
    and a JSON-able metadata dict.

    Examples
    --------
    >>> scaler = PerSeriesScaler("standard").fit([train_and_test], spans=[(0, n_train)])
    >>> z = scaler.transform(window, series=0)          # any (..., C) array
    >>> x = scaler.inverse_transform_batch(z_batch, series_idx)  # (B, ..., C)
    """

    def __init__(self, method: str = "standard") -> None:
        self.method = method

    def fit(
        self,
        series: Sequence[np.ndarray],
        spans: Sequence[tuple[int, int]] | None = None,
        ids: Sequence[str] | None = None,
    ) -> PerSeriesScaler:
        """Fit one scaler per series on ``series[i][start:end]``.

        Parameters
        ----------
        series
            One (T_i, C) array per series (same C for all).
        spans
            Training span ``(start, end)`` of each series (rows); default the whole
            series. Pass the training borders so that no validation/test value leaks.
        ids
            Unique series ids, str or int, stored as str (default ``"0"``, ``"1"``, ...).
        """
        _check_method(self.method)
        if len(series) == 0:
            raise ValueError("PerSeriesScaler.fit needs at least one series")
        spans = list(spans) if spans is not None else [(0, len(s)) for s in series]
        if len(spans) != len(series):
            raise ValueError(f"got {len(spans)} spans for {len(series)} series")
        ids = _check_ids(ids, len(series)) if ids is not None else [str(i) for i in range(len(series))]
        centers, scales = [], []
        template = make_scaler(self.method)
        for i, (arr, (start, end)) in enumerate(zip(series, spans, strict=True)):
            arr = np.asarray(arr)
            arr = arr[:, None] if arr.ndim == 1 else arr
            if not 0 <= start < end <= len(arr):
                raise ValueError(
                    f"training span ({start}, {end}) of series {ids[i]!r} is empty or outside "
                    f"its {len(arr)} rows"
                )
            fitted = clone(template).fit(arr[start:end])
            centers.append(fitted.center_)
            scales.append(fitted.scale_)
        widths = {len(c) for c in centers}
        if len(widths) != 1:
            raise ValueError(f"all series must have the same number of channels, got {widths}")
        self.center_ = np.stack(centers)
        self.scale_ = np.stack(scales)
        self.ids_ = ids
        return self

    # ------------------------------------------------------------------ one series

    def _row(self, series: int | str) -> int:
        check_is_fitted(self)
        # int() would truncate 1.5 (or take True as 1) to a valid row: refuse non-integers.
        if not (isinstance(series, str) or is_int(series)):
            raise TypeError(f"series must be a str id or an int index, got {series!r}")
        if isinstance(series, str):
            try:
                return self.ids_.index(series)
            except ValueError:
                raise KeyError(f"no scaler fitted for series {series!r}") from None
        if not -len(self.ids_) <= int(series) < len(self.ids_):
            raise IndexError(f"series index {series} out of range for {len(self.ids_)} series")
        return int(series)

    def _check_channels(self, x: np.ndarray) -> np.ndarray:
        """``x`` whose last axis holds the fitted channels; a univariate scaler also takes a
        flat (T,) array, as ``fit`` does. Otherwise numpy would broadcast: a raw error at
        best, silently wrong values when one of the sizes is 1."""
        x = np.asarray(x)
        n = self.center_.shape[1]
        if n == 1 and x.ndim <= 1:
            return x
        given = x.shape[-1] if x.ndim else 0
        if given != n:
            raise ValueError(
                f"x has {given} channels (last axis of shape {x.shape}) but the scaler was "
                f"fitted on {n}"
            )
        return x

    def transform(self, x: np.ndarray, series: int | str) -> np.ndarray:
        """Scale an array ``(..., C)`` of one series (index or ``unique_id``)."""
        i = self._row(series)
        x = self._check_channels(x)
        return ((x - self.center_[i]) / self.scale_[i]).astype(_float_dtype(x), copy=False)

    def inverse_transform(self, x: np.ndarray, series: int | str) -> np.ndarray:
        """Undo :meth:`transform` for one series."""
        i = self._row(series)
        x = self._check_channels(x)
        return (x * self.scale_[i] + self.center_[i]).astype(_float_dtype(x), copy=False)

    # ------------------------------------------------------------------ batches

    def _gather(self, x: np.ndarray, series_idx: np.ndarray) -> tuple[np.ndarray, ...]:
        check_is_fitted(self)
        idx = np.asarray(series_idx, dtype=np.int64)
        x = np.asarray(x)
        if x.ndim < 2:
            raise ValueError(f"a batch must have shape (B, ..., C), got {x.shape}")
        x = self._check_channels(x)
        if idx.shape != x.shape[:1]:
            raise ValueError(
                f"series_idx {idx.shape} must have one entry per batch row {x.shape[:1]}"
            )
        # (B, C) statistics broadcast over the middle axes of (B, ..., C).
        shape = (len(idx),) + (1,) * (x.ndim - 2) + (self.center_.shape[1],)
        return x, self.center_[idx].reshape(shape), self.scale_[idx].reshape(shape)

    def transform_batch(self, x: np.ndarray, series_idx: np.ndarray) -> np.ndarray:
        """Scale a batch ``(B, ..., C)`` whose row ``b`` belongs to ``series_idx[b]``."""
        x, center, scale = self._gather(x, series_idx)
        return ((x - center) / scale).astype(_float_dtype(x), copy=False)

    def inverse_transform_batch(self, x: np.ndarray, series_idx: np.ndarray) -> np.ndarray:
        """Undo :meth:`transform_batch` (e.g. on model outputs before building frames)."""
        x, center, scale = self._gather(x, series_idx)
        return (x * scale + center).astype(_float_dtype(x), copy=False)

    def transform_series(self, series: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Scale whole series (list aligned with ``fit``), keeping their float dtype."""
        if len(series) != len(self.ids_):
            raise ValueError(f"got {len(series)} series, the scaler has {len(self.ids_)}")
        return [self.transform(s, i) for i, s in enumerate(series)]

    # ------------------------------------------------------------------ persistence

    def state_dict(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Fitted state as (arrays, metadata) for safetensors + JSON (no pickle).

        Returns
        -------
        arrays
            ``{"center": (n_series, C), "scale": (n_series, C)}`` float64.
        metadata
            ``{"method", "ids", "version"}``, JSON-serialisable.
        """
        check_is_fitted(self)
        arrays = {"center": self.center_.copy(), "scale": self.scale_.copy()}
        meta = {"method": self.method, "ids": list(self.ids_), "version": _STATE_VERSION}
        return arrays, meta

    def load_state_dict(
        self, arrays: dict[str, np.ndarray], metadata: dict[str, Any]
    ) -> PerSeriesScaler:
        """Restore a state produced by :meth:`state_dict`; returns ``self``.

        Raises
        ------
        ValueError
            Method mismatch with this instance, unknown version, inconsistent shapes.
        """
        if metadata.get("version") != _STATE_VERSION:
            raise ValueError(
                f"unsupported scaler state version {metadata.get('version')!r}; "
                f"this version reads {_STATE_VERSION}"
            )
        if metadata.get("method") != self.method:
            raise ValueError(
                f"state was saved by a {metadata.get('method')!r} scaler, this one is "
                f"{self.method!r}; create PerSeriesScaler({metadata.get('method')!r})"
            )
        center = np.asarray(arrays["center"], dtype=np.float64)
        scale = np.asarray(arrays["scale"], dtype=np.float64)
        ids = [str(i) for i in metadata["ids"]]
        if center.shape != scale.shape or center.ndim != 2 or len(ids) != center.shape[0]:
            raise ValueError(
                f"inconsistent scaler state: center {center.shape}, scale {scale.shape}, "
                f"{len(ids)} ids"
            )
        self.center_, self.scale_, self.ids_ = center, scale, ids
        return self


def _check_ids(ids: Sequence[str | int], n_series: int) -> list[str]:
    """One unique str or int id per series, as str.

    A float would be stored as ``"1.0"`` and never match the id ``"1"`` of the data; a
    duplicate would make ``transform(x, id)`` silently use the first of its series.
    """
    ids = list(ids)
    bad = [i for i in ids if not (isinstance(i, str) or is_int(i))]
    if bad:
        raise TypeError(f"series ids must be str or int, got {bad[0]!r} ({type(bad[0]).__name__})")
    if len(ids) != n_series:
        raise ValueError(f"got {len(ids)} ids for {n_series} series")
    ids = [str(i) for i in ids]
    duplicates = sorted(i for i, count in Counter(ids).items() if count > 1)
    if duplicates:
        raise ValueError(f"duplicate series ids {duplicates}; each series needs its own id")
    return ids


def _float_dtype(x: np.ndarray) -> np.dtype:
    """Keep float32/float64 inputs as they are; integers become float64."""
    return x.dtype if np.issubdtype(x.dtype, np.floating) else np.dtype(np.float64)

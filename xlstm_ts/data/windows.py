"""Lazy sliding windows over a panel of series, as a ``torch.utils.data.Dataset``.

Only the original arrays and an ``(n_windows, 2)`` integer index of
``(series_idx, start)`` pairs are stored; windows are cut when they are requested.
Materialising windows up front is the most reported memory problem of forecasting
toolkits (``toolkits.md`` §3 row 1): ETTm1 train with L=720, H=96 would need
34k × 816 × 7 floats ≈ 0.8 GB, against 0.5 MB of index here.

Windows never cross a series boundary or the end of a series' span ``[start, end)``,
so train/validation/test are defined by time: give each split its own spans (see
:mod:`xlstm_ts.data.splits`, where validation and test spans start ``lookback`` rows
early, as in TSLib, so the first target step sits exactly on the border).

Per-item ``__getitem__`` plus the default collate costs a Python round trip per window,
which dominates on CPU; :meth:`WindowDataset.get_batch` (used automatically by
:func:`window_loader` through ``__getitems__``) gathers a whole batch with numpy fancy
indexing instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

if TYPE_CHECKING:
    from xlstm_ts.data.frames import TimeSeries

__all__ = ["WindowDataset", "count_windows", "window_loader"]


def _check_window_args(lookback: int, horizon: int, stride: int) -> None:
    """Shared by :func:`count_windows` and :class:`WindowDataset`, so both refuse the same."""
    if lookback < 1 or horizon < 1 or stride < 1:
        raise ValueError(
            f"lookback, horizon and stride must be >= 1, got {lookback}, {horizon}, {stride}"
        )


def count_windows(length: int, lookback: int, horizon: int, stride: int = 1) -> int:
    """Number of windows in a span of ``length`` rows (TSLib: ``length - L - H + 1``).

    Raises
    ------
    ValueError
        ``lookback``, ``horizon`` or ``stride`` below 1 (as :class:`WindowDataset`).
    """
    _check_window_args(lookback, horizon, stride)
    room = length - lookback - horizon
    return 0 if room < 0 else room // stride + 1


def _as_2d_float32(arr: np.ndarray, what: str, i: int) -> np.ndarray:
    """View as (T, K) float32 without copying when it already is."""
    a = np.asarray(arr, dtype=np.float32)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2:
        raise ValueError(f"{what} {i} must be a (T, K) array, got shape {a.shape}")
    return a


class WindowDataset(Dataset):
    """Sliding (lookback, horizon) windows over several series, cut on demand.

    Parameters
    ----------
    series
        One (T_i, C) array per series (already scaled); 1-D arrays are one channel.
        float32 arrays are kept by reference (no copy).
    lookback, horizon
        Input length L and forecast length H.
    stride
        Step between consecutive window starts (1 = every window, as in TSLib).
    spans
        Per series ``(start, end)`` rows that windows (input and target) must lie in;
        default the whole series.
    futr
        Optional future-known covariates, one (T_i, F) array per series.
    static
        Optional static covariates, shape (n_series, S).

    Attributes
    ----------
    index : numpy.ndarray of shape (n_windows, 2), int64
        ``(series_idx, start)`` of each window: the only per-window storage.

    Notes
    -----
    ``dataset[i]`` returns a dict of tensors: ``x`` (L, C), ``y`` (H, C),
    ``x_futr`` (L + H, F) when ``futr`` is given, ``static`` (S,) when ``static`` is
    given, ``series_idx`` and ``start`` (int64 scalars; the first target row of the
    window is ``start + L``). :meth:`get_batch` returns the same keys with a leading
    batch axis.
    """

    def __init__(
        self,
        series: Sequence[np.ndarray],
        lookback: int,
        horizon: int,
        *,
        stride: int = 1,
        spans: Sequence[tuple[int, int]] | None = None,
        futr: Sequence[np.ndarray] | None = None,
        static: np.ndarray | None = None,
    ) -> None:
        _check_window_args(lookback, horizon, stride)
        if len(series) == 0:
            raise ValueError("WindowDataset needs at least one series")
        self.series = [_as_2d_float32(a, "series", i) for i, a in enumerate(series)]
        channels = {a.shape[1] for a in self.series}
        if len(channels) != 1:
            raise ValueError(f"all series must have the same number of channels, got {channels}")
        self.lookback, self.horizon, self.stride = int(lookback), int(horizon), int(stride)
        self.futr = (
            None if futr is None else [_as_2d_float32(a, "futr", i) for i, a in enumerate(futr)]
        )
        if self.futr is not None:
            if len(self.futr) != len(self.series):
                raise ValueError(f"got {len(self.futr)} futr arrays for {len(self.series)} series")
            for i, (a, f) in enumerate(zip(self.series, self.futr, strict=True)):
                if len(f) != len(a):
                    raise ValueError(f"futr {i} has {len(f)} rows, series {i} has {len(a)}")
        self.static = None if static is None else np.asarray(static, dtype=np.float32)
        if self.static is not None and (
            self.static.ndim != 2 or self.static.shape[0] != len(self.series)
        ):
            raise ValueError(
                f"static must have shape (n_series={len(self.series)}, S), got {self.static.shape}"
            )
        self.spans = self._check_spans(spans)
        self.index = self._build_index()
        if len(self.index) == 0:
            raise ValueError(
                f"no window of lookback {lookback} + horizon {horizon} fits in any series span "
                f"(longest span: {max(e - s for s, e in self.spans)} rows)"
            )
        self._offsets_x = np.arange(self.lookback)
        self._offsets_y = np.arange(self.lookback, self.lookback + self.horizon)
        self._offsets_all = np.arange(self.lookback + self.horizon)

    @classmethod
    def from_series(
        cls,
        items: Sequence[TimeSeries],
        lookback: int,
        horizon: int,
        *,
        values: Sequence[np.ndarray] | None = None,
        stride: int = 1,
        spans: Sequence[tuple[int, int]] | None = None,
    ) -> WindowDataset:
        """Windows over :class:`~xlstm_ts.data.TimeSeries` items (their covariates too).

        ``values`` replaces the items' raw values, typically by the scaled ones.
        """
        futr = [s.futr for s in items] if items and items[0].futr is not None else None
        static = (
            np.stack([s.static for s in items]) if items and items[0].static is not None else None
        )
        return cls(
            values if values is not None else [s.values for s in items],
            lookback,
            horizon,
            stride=stride,
            spans=spans,
            futr=futr,
            static=static,
        )

    def _check_spans(self, spans: Sequence[tuple[int, int]] | None) -> list[tuple[int, int]]:
        if spans is None:
            return [(0, len(a)) for a in self.series]
        spans = [(int(s), int(e)) for s, e in spans]
        if len(spans) != len(self.series):
            raise ValueError(f"got {len(spans)} spans for {len(self.series)} series")
        for i, ((s, e), a) in enumerate(zip(spans, self.series, strict=True)):
            if not 0 <= s <= e <= len(a):
                raise ValueError(f"span ({s}, {e}) of series {i} is outside its {len(a)} rows")
        return spans

    def _build_index(self) -> np.ndarray:
        window = self.lookback + self.horizon
        parts = [np.arange(s, e - window + 1, self.stride, dtype=np.int64) for s, e in self.spans]
        sid = np.repeat(np.arange(len(parts), dtype=np.int64), [len(p) for p in parts])
        starts = np.concatenate(parts) if parts else np.empty(0, np.int64)
        return np.stack([sid, starts], axis=1)

    @property
    def n_channels(self) -> int:
        """Number of target channels C."""
        return self.series[0].shape[1]

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        sid, start = (int(v) for v in self.index[i])
        arr = self.series[sid]
        mid, end = start + self.lookback, start + self.lookback + self.horizon
        # Copies of a few rows, so that in-place ops downstream cannot touch the data.
        item = {
            "x": torch.tensor(arr[start:mid]),
            "y": torch.tensor(arr[mid:end]),
            "series_idx": torch.tensor(sid, dtype=torch.int64),
            "start": torch.tensor(start, dtype=torch.int64),
        }
        if self.futr is not None:
            item["x_futr"] = torch.tensor(self.futr[sid][start:end])
        if self.static is not None:
            item["static"] = torch.tensor(self.static[sid])
        return item

    def get_batch(self, indices: Sequence[int] | np.ndarray) -> dict[str, torch.Tensor]:
        """A whole batch gathered with numpy fancy indexing (one call per series in it).

        Same keys as ``dataset[i]`` with a leading batch axis, in the order of
        ``indices``.
        """
        rows = self.index[np.asarray(indices, dtype=np.int64)]
        sid, start = rows[:, 0], rows[:, 1]
        b = len(rows)
        x = np.empty((b, self.lookback, self.n_channels), dtype=np.float32)
        y = np.empty((b, self.horizon, self.n_channels), dtype=np.float32)
        xf = None
        if self.futr is not None:
            xf = np.empty((b, self.lookback + self.horizon, self.futr[0].shape[1]), np.float32)
        for s in np.unique(sid):
            pick = slice(None) if len(self.series) == 1 else np.flatnonzero(sid == s)
            first = start[pick][:, None]
            x[pick] = self.series[s][first + self._offsets_x]
            y[pick] = self.series[s][first + self._offsets_y]
            if xf is not None:
                xf[pick] = self.futr[s][first + self._offsets_all]
        batch = {
            "x": torch.from_numpy(x),
            "y": torch.from_numpy(y),
            "series_idx": torch.from_numpy(sid.copy()),
            "start": torch.from_numpy(start.copy()),
        }
        if xf is not None:
            batch["x_futr"] = torch.from_numpy(xf)
        if self.static is not None:
            batch["static"] = torch.from_numpy(self.static[sid])
        return batch

    # DataLoader calls this with the list of indices of a batch when it exists.
    __getitems__ = get_batch


def _keep_batch(batch: Any) -> Any:
    """collate_fn for batches that ``__getitems__`` already assembled (picklable)."""
    return batch


class EpochShuffleSampler(Sampler[int]):
    """A random permutation of ``range(n)`` that depends only on ``(seed, epoch)``.

    Lightning calls :meth:`set_epoch` before every epoch (as for a ``DistributedSampler``), so
    the order of epoch ``e`` is the same whether training ran straight through or was killed
    and resumed from a checkpoint — which a ``DataLoader`` with a stateful ``generator`` cannot
    promise (the generator's state is not in the checkpoint).
    """

    def __init__(self, n: int, seed: int = 0):
        self.n, self.seed, self.epoch = int(n), int(seed), 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __iter__(self):
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        return iter(torch.randperm(self.n, generator=g).tolist())

    def __len__(self) -> int:
        return self.n


def window_loader(
    dataset: WindowDataset,
    batch_size: int = 32,
    *,
    shuffle: bool = False,
    seed: int | None = None,
    drop_last: bool = False,
    **loader_kwargs: Any,
) -> DataLoader:
    """A ``DataLoader`` that fetches whole batches through :meth:`WindowDataset.get_batch`.

    ``shuffle=True`` with a ``seed`` shuffles with :class:`EpochShuffleSampler` (the order of
    each epoch is a function of seed and epoch: resumable runs reproduce). ``drop_last``
    defaults to False: dropping the last partial *test* batch silently changed published
    numbers (benchmarks.md §1.3). Extra keyword arguments (``num_workers``, ``generator``,
    ``pin_memory``, ...) go to ``DataLoader``.
    """
    if shuffle and seed is not None:
        loader_kwargs["sampler"] = EpochShuffleSampler(len(dataset), seed)
        shuffle = False
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        drop_last=drop_last,
        collate_fn=_keep_batch,
        **loader_kwargs,
    )

"""Truncated-BPTT training of streaming models with Lightning, and reading series into states.

Training data: the training span of each series is cut into contiguous *lanes* (long series give
several, so that a batch has enough parallel sequences); lanes are grouped ``batch_size`` at a
time, and each group is read in consecutive segments of ``segment_len`` steps. The
:class:`StreamModule` carries every group's state from one segment to the next (detached, so the
gradient is truncated at segment borders) and resets the states at each epoch start. The loss
counts every position whose future targets (inside the training span) exist; the rest is NaN and
masked by the loss. Time and memory per optimizer step depend on ``batch_size * segment_len``,
never on the length of the series.

Validation: the last ``val_size`` steps of each series, forecast from the state at the end of the
training span (the span is read with the chunkwise forward under ``no_grad`` every epoch).
Early stopping and best weights are those of :func:`xlstm_ts.training.fit_module`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
import torch
from numpy.lib.stride_tricks import sliding_window_view
from torch.utils.data import DataLoader, Dataset

from ..training import FitReport, ForecastModule, fit_module
from .model import READ_BLOCK
from .state import StreamState, state_cat, state_detach, state_select

__all__ = ["SegmentDataset", "StreamModule", "StreamValidationDataset", "auto_lane_len", "fit_stream",
           "read_series"]


def auto_lane_len(train_lengths: Sequence[int], segment_len: int, batch_size: int) -> int:
    """``max(4 * segment_len, total / batch_size)``: lanes long enough for the state to matter,
    short enough that one batch holds about ``batch_size`` of them."""
    total = int(sum(train_lengths))
    return max(4 * segment_len, math.ceil(total / max(batch_size, 1)))


def _pad(a: np.ndarray, rows: int, value: float) -> np.ndarray:
    return np.concatenate([a, np.full((rows,) + a.shape[1:], value, dtype=np.float32)])


def _recent_view(v: np.ndarray, K: int) -> np.ndarray:
    """``(T, C, K)`` view: row t holds ``v[t-K+1 .. t]`` (zeros before the start)."""
    front = np.concatenate([np.zeros((K - 1, v.shape[1]), np.float32), v])
    return sliding_window_view(front, K, axis=0)


class SegmentDataset(Dataset):
    """TBPTT batches in time order: item ``k`` is segment ``j`` of lane group ``g``.

    Items are whole batches (use ``DataLoader(batch_size=None)``): ``x (B, S, C)``,
    ``recent (B, S, K, C)`` (the last K observations up to each step, zeros before the series'
    start), ``y (B, S, H, C)`` (the H targets after each step, NaN where they leave the training
    span or the lane is over), ``futr (B, S, F)`` / ``futr_next (B, S, H, F)`` when there are future-known
    covariates, ``static (B, n_static)``, and ``group`` / ``reset`` (first segment of the group).
    Segments run over the groups in the inner loop, so consecutive optimizer steps see different
    lanes while each group still advances in time order.
    """

    def __init__(self, values: Sequence[np.ndarray], futr: Sequence[np.ndarray] | None,
                 static: np.ndarray | None, train_end: Sequence[int], horizon: int, segment_len: int,
                 lane_len: int, batch_size: int, recent_len: int = 1):
        self.H, self.S, self.K = int(horizon), int(segment_len), int(recent_len)
        self.static = None if static is None else torch.as_tensor(static, dtype=torch.float32)
        self.C = values[0].shape[1]
        self.F = 0 if futr is None else futr[0].shape[1]
        self._y, self._x, self._r, self._f, self._fn = [], [], [], [], []
        lanes = []
        for i, (v, e) in enumerate(zip(values, train_end, strict=True)):
            v = np.asarray(v, dtype=np.float32)
            self._x.append(v[:e])
            self._r.append(_recent_view(v[:e], self.K))  # (e, C, K)
            ypad = _pad(v[:e], self.H + 1, np.nan)
            self._y.append(sliding_window_view(ypad, self.H, axis=0))  # (e+2, C, H)
            if futr is not None:
                f = np.asarray(futr[i], dtype=np.float32)
                self._f.append(f)
                self._fn.append(sliding_window_view(_pad(f, self.H + 1, 0.0), self.H, axis=0))
            n_lanes = max(1, math.ceil(e / lane_len))
            cuts = np.linspace(0, e, n_lanes + 1).round().astype(int)
            lanes += [(i, int(a), int(b)) for a, b in zip(cuts[:-1], cuts[1:], strict=True) if b > a]
        lanes.sort(key=lambda t: t[2] - t[1], reverse=True)
        self.groups = [lanes[k:k + batch_size] for k in range(0, len(lanes), batch_size)]
        n_seg = [math.ceil(max(b - a for _, a, b in g) / self.S) for g in self.groups]
        self.order = [(g, j) for j in range(max(n_seg)) for g in range(len(self.groups)) if j < n_seg[g]]

    def __len__(self) -> int:
        return len(self.order)

    def __getitem__(self, k: int) -> dict:
        g, j = self.order[k]
        lanes = self.groups[g]
        spans = [(i, a + j * self.S, min(a + (j + 1) * self.S, b)) for i, a, b in lanes]
        S = max(max(stop - start, 0) for _, start, stop in spans)
        B, H, C, F = len(lanes), self.H, self.C, self.F
        x = np.zeros((B, S, C), np.float32)
        rec = np.zeros((B, S, self.K, C), np.float32)
        y = np.full((B, S, H, C), np.nan, np.float32)
        f = np.zeros((B, S, F), np.float32) if F else None
        fn = np.zeros((B, S, H, F), np.float32) if F else None
        for r, (i, start, stop) in enumerate(spans):
            n = stop - start
            if n <= 0:
                continue
            x[r, :n] = self._x[i][start:stop]
            rec[r, :n] = self._r[i][start:stop].transpose(0, 2, 1)
            y[r, :n] = self._y[i][start + 1:stop + 1].transpose(0, 2, 1)
            if F:
                f[r, :n] = self._f[i][start:stop]
                fn[r, :n] = self._fn[i][start + 1:stop + 1].transpose(0, 2, 1)
        batch = {"x": torch.from_numpy(x), "recent": torch.from_numpy(rec), "y": torch.from_numpy(y),
                 "group": g, "reset": j == 0}
        if F:
            batch["futr"], batch["futr_next"] = torch.from_numpy(f), torch.from_numpy(fn)
        if self.static is not None:
            batch["static"] = self.static[[i for i, _, _ in lanes]]
        return batch


class StreamValidationDataset(Dataset):
    """Validation batches: series with the same (length, training end), up to ``batch_size`` each.

    Items: ``x (B, T, C)``, ``futr (B, T, F)`` (whole series), ``train_end`` and, for the
    forecast origins ``train_end - 1 .. T - 2``, ``recent (B, V, K, C)``, ``y (B, V, H, C)`` (NaN
    past the end) and ``futr_next (B, V, H, F)``.
    """

    def __init__(self, values: Sequence[np.ndarray], futr: Sequence[np.ndarray] | None,
                 static: np.ndarray | None, train_end: Sequence[int], horizon: int, batch_size: int,
                 recent_len: int = 1):
        H = int(horizon)
        keys: dict[tuple[int, int], list[int]] = {}
        for i, (v, e) in enumerate(zip(values, train_end, strict=True)):
            if len(v) > e:
                keys.setdefault((len(v), int(e)), []).append(i)
        self.items = []
        for (T, e), idx in keys.items():
            for k in range(0, len(idx), batch_size):
                rows = idx[k:k + batch_size]
                x = np.stack([np.asarray(values[i], np.float32) for i in rows])
                ywin = [sliding_window_view(_pad(np.asarray(values[i], np.float32), H + 1, np.nan), H, axis=0)
                        for i in rows]
                y = np.stack([w[e:T].transpose(0, 2, 1) for w in ywin])  # origins e-1 .. T-2
                rec = np.stack([_recent_view(np.asarray(values[i], np.float32), recent_len)[e - 1:T - 1]
                                .transpose(0, 2, 1) for i in rows])
                item = {"x": torch.from_numpy(x), "y": torch.from_numpy(np.ascontiguousarray(y)),
                        "recent": torch.from_numpy(np.ascontiguousarray(rec)), "train_end": e}
                if futr is not None:
                    fs = [np.asarray(futr[i], np.float32) for i in rows]
                    item["futr"] = torch.from_numpy(np.stack(fs))
                    fn = [sliding_window_view(_pad(f, H + 1, 0.0), H, axis=0)[e:T].transpose(0, 2, 1) for f in fs]
                    item["futr_next"] = torch.from_numpy(np.ascontiguousarray(np.stack(fn)))
                if static is not None:
                    item["static"] = torch.as_tensor(static[rows], dtype=torch.float32)
                self.items.append(item)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, k: int) -> dict:
        return self.items[k]


class StreamModule(ForecastModule):
    """:class:`~xlstm_ts.training.ForecastModule` for TBPTT: keeps each lane group's state between
    batches (detached), resets them at every epoch start; same optimiser and schedules."""

    def __init__(self, model, loss, **kwargs):
        super().__init__(model, loss, **kwargs)
        self._states: dict[int, list] = {}

    def on_train_epoch_start(self) -> None:
        self._states = {}

    def _masked_loss(self, pred: torch.Tensor, target: torch.Tensor, name: str) -> torch.Tensor:
        pred, target = pred.flatten(0, 1), target.flatten(0, 1)  # (B*S, H, C[, Q])
        count = int(torch.isfinite(target).sum())
        loss = self.criterion(pred, target, name)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"{name} is {loss.item()} at epoch {self.current_epoch}")
        self.log(name, loss, prog_bar=True, on_step=False, on_epoch=True, batch_size=max(count, 1),
                 sync_dist=True)
        return loss

    def training_step(self, batch, batch_idx):
        g = int(batch["group"])
        state = None if bool(batch["reset"]) else self._states.get(g)
        static = batch.get("static")
        y, state = self.model.encode(batch["x"], batch.get("futr"), static, state)
        self._states[g] = state_detach(state)
        pred = self.model.head(y, batch["recent"], batch.get("futr_next"), static)  # (B, S, H, C, Q)
        return self._masked_loss(pred, batch["y"], "train_loss")

    def validation_step(self, batch, batch_idx):
        e = int(batch["train_end"])
        x, futr, static = batch["x"], batch.get("futr"), batch.get("static")
        T = x.shape[1]
        state = None
        if e > 1:
            _, state = self.model.read(x[:, :e - 1], None if futr is None else futr[:, :e - 1], static)
        x = x[:, e - 1:T - 1]
        y, _ = self.model.encode(x, None if futr is None else futr[:, e - 1:T - 1], static, state)
        pred = self.model.head(y, batch["recent"], batch.get("futr_next"), static)
        return self._masked_loss(pred, batch["y"], "val_loss")

    def predict_step(self, batch, batch_idx, dataloader_idx=0):
        return self.model(batch)


def fit_stream(model, loss, values: Sequence[np.ndarray], futr: Sequence[np.ndarray] | None,
               static: np.ndarray | None, train_end: Sequence[int], *, horizon: int, segment_len: int,
               lane_len: int | None, batch_size: int, learning_rate: float, weight_decay: float,
               lr_schedule: str, max_epochs: int, patience: int | None, seed: int | None,
               trainer_kwargs: dict | None, verbose: bool, valid_loss=None) -> FitReport:
    """Train ``model`` (an :class:`~xlstm_ts.streaming.XLSTMStream`) with TBPTT; returns the report."""
    kwargs = dict(trainer_kwargs or {})
    strategy, devices = str(kwargs.get("strategy", "auto")), kwargs.get("devices", 1)
    if "ddp" in strategy or (isinstance(devices, int) and devices > 1) or isinstance(devices, (list, tuple)):
        raise ValueError("streaming models train in one process (TBPTT carries states between batches); "
                         "remove the multi-device 'strategy'/'devices' from trainer_kwargs")
    kwargs.setdefault("use_distributed_sampler", False)
    kwargs.setdefault("gradient_clip_val", 1.0)
    lane_len = lane_len or auto_lane_len(train_end, segment_len, batch_size)
    K = model.recent_len
    train = SegmentDataset(values, futr, static, train_end, horizon, segment_len, lane_len, batch_size, K)
    valid = StreamValidationDataset(values, futr, static, train_end, horizon, batch_size, K)
    module = StreamModule(model, loss, learning_rate=learning_rate, weight_decay=weight_decay,
                          lr_schedule=lr_schedule, max_epochs=max_epochs, valid_loss=valid_loss)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*no `val_dataloader`.*")  # val_size=0 is allowed
        return fit_module(
            module, DataLoader(train, batch_size=None, shuffle=False),
            DataLoader(valid, batch_size=None, shuffle=False) if len(valid) else None,
            max_epochs=max_epochs, patience=patience, seed=seed, trainer_kwargs=kwargs,
            enable_progress_bar=verbose,
        )


@torch.no_grad()
def read_series(model, values: Sequence[np.ndarray], futr: Sequence[np.ndarray] | None,
                static: np.ndarray | None, max_tokens: int = 1 << 16) -> StreamState:
    """Read whole (scaled) series from the zero state: the state and last output of each one.

    Series of equal length are read together, at most ``max_tokens`` tokens per chunkwise call
    (a bounded activation memory for histories of any length).
    """
    was_training = model.training
    model.eval()
    try:
        groups: dict[int, list[int]] = {}
        for i, v in enumerate(values):
            groups.setdefault(len(v), []).append(i)
        order, states, outs, lasts = [], [], [], []
        for T, idx in groups.items():
            rows_per_call = max(1, max_tokens // min(T, READ_BLOCK))
            for k in range(0, len(idx), rows_per_call):
                rows = idx[k:k + rows_per_call]
                x = torch.from_numpy(np.stack([np.asarray(values[i], np.float32) for i in rows]))
                f = None if futr is None else torch.from_numpy(np.stack([np.asarray(futr[i], np.float32) for i in rows]))
                st = None if static is None else torch.as_tensor(static[rows], dtype=torch.float32)
                out, state = model.read(x, f, st)
                order += rows
                states.append(state)
                outs.append(out)
                lasts.append(model.recent_window(x))
        inv = torch.empty(len(order), dtype=torch.long)
        inv[torch.tensor(order)] = torch.arange(len(order))
        state = state_select(state_cat(states), inv)
        last = torch.cat(outs).index_select(0, inv)
        recent = torch.cat(lasts).index_select(0, inv)
        n_seen = torch.tensor([len(v) for v in values], dtype=torch.int64)
        return StreamState(state=state, last_out=last, recent=recent, n_seen=n_seen)
    finally:
        model.train(was_training)

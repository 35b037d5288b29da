"""Run benchmark cells: fit on train, pick the weights on validation, score the test windows.

Each finished cell writes ``cells/<dataset>/L<L>/H<H>/<label>/seed<seed>.json`` (atomically:
temporary file + ``os.replace``) and a small ``.npz`` of sample test windows for plots; a member
of an ensemble label (``Cell.keep_forecasts``) also stores all its validation/test forecasts
under ``forecasts/``, and the ensemble's cell scores their average (no training).
Rerunning a grid skips cells whose JSON exists with the same signature (the hash of data
source, protocol, L, H, model, hparams, training settings and seed) and the same data digest
(an edited ``--data`` file keeps its path); a changed cell reruns.
Validation-fold cells (``Cell.val_fold >= 1``, under ``.../<label>/fold<k>/``) train and
validate inside the protocol's training rows and record no test metrics; the tables keep
them apart (``folds.*``).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import platform
import signal
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from xlstm_ts._atomic import atomic_write, atomic_write_json
from xlstm_ts.bench.config import ENSEMBLE, Cell
from xlstm_ts.bench.protocol import (
    BenchData,
    PreparedSplits,
    check_grid_fits,
    prepare_splits,
    season_length_for,
)
from xlstm_ts.data import window_loader
from xlstm_ts.models import ModelSpec, build_model, make_loss

__all__ = ["cell_path", "evaluate_split", "forecasts_path", "load_rows", "machine_info", "run_cell",
           "run_grid", "score_forecasts", "write_json_atomic"]

CELLS_DIR = "cells"
SAMPLES_DIR = "samples"
FORECASTS_DIR = "forecasts"
N_SAMPLES = 3
DROP_LAST_BATCHES = (16, 32, 128)


def write_json_atomic(path: Path, obj: Any) -> None:
    """A cell's JSON record, written all-or-nothing (:func:`~xlstm_ts._atomic.atomic_write`)."""
    atomic_write_json(path, obj, indent=1, sort_keys=True, default=_jsonable)


def _save_npz_atomic(path: Path, *, compress: bool = True, **arrays: np.ndarray) -> None:
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:  # a file object: np.savez would add ".npz" to a name
            (np.savez_compressed if compress else np.savez)(fh, **arrays)

    atomic_write(path, write)


def _jsonable(o: Any) -> Any:
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def _cell_file(out_dir: Path, kind: str, relpath: Path, suffix: str) -> Path:
    return Path(out_dir) / kind / Path(relpath).with_suffix(suffix)


def cell_path(out_dir: Path, cell: Cell) -> Path:
    return _cell_file(out_dir, CELLS_DIR, cell.relpath(), ".json")


def samples_path(out_dir: Path, cell: Cell) -> Path:
    return _cell_file(out_dir, SAMPLES_DIR, cell.relpath(), ".npz")


def forecasts_path(out_dir: Path, cell: Cell) -> Path:
    """Every validation/test forecast of a cell that an ensemble uses (``keep_forecasts``)."""
    return _cell_file(out_dir, FORECASTS_DIR, cell.relpath(), ".npz")


def machine_info() -> str:
    """Short description of where a run happened (CPU count, GPU if any)."""
    cpu = os.cpu_count() or 0
    try:
        cpu = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{cpu}-core CPU ({platform.machine()}), {gpu}, torch {torch.__version__}, {torch.get_num_threads()} threads"


@torch.no_grad()
def evaluate_split(model: torch.nn.Module, loss, loader, *, samples: np.ndarray | None = None,
                   keep_forecasts: bool = False) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """MSE/MAE over all windows × horizon × channels (float64 sums, nothing dropped).

    ``samples`` are window indices whose target-channel input, truth and forecast are kept;
    ``keep_forecasts`` keeps every window's forecast (``arrays["forecast"]``, float32).
    """
    was_training = model.training
    model.eval()
    try:
        return score_forecasts(((loss.point(model(b)), b) for b in loader), samples=samples,
                               keep_forecasts=keep_forecasts)
    finally:
        model.train(was_training)


def score_forecasts(pairs: Iterable[tuple[torch.Tensor, dict[str, torch.Tensor]]], *,
                    samples: np.ndarray | None = None, keep_forecasts: bool = False,
                    ) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """The metrics and kept arrays of :func:`evaluate_split` from ``(forecast, batch)`` pairs
    in window order: the model's, or the averaged forecasts of an ensemble's members."""
    se = ae = 0.0
    n_win = n_val = 0
    want = {} if samples is None else {int(i): k for k, i in enumerate(samples)}
    keep: dict[str, list] = {"x": [None] * len(want), "y": [None] * len(want), "yhat": [None] * len(want)}
    win_se, win_ae, forecasts = [], [], []
    for pred, batch in pairs:
        pred = pred.to(torch.float64)
        y = batch["y"].to(torch.float64)
        if pred.shape != y.shape:  # pragma: no cover - guard
            raise AssertionError(f"forecast shape {tuple(pred.shape)} != truth {tuple(y.shape)}")
        err = pred - y
        sq, ab = (err * err).flatten(1), err.abs().flatten(1)
        se += float(sq.sum())
        ae += float(ab.sum())
        win_se.append(sq.mean(1).numpy())
        win_ae.append(ab.mean(1).numpy())
        if keep_forecasts:
            forecasts.append(pred.numpy().astype(np.float32))
        b = y.shape[0]
        for i, k in want.items():
            if n_win <= i < n_win + b:
                j = i - n_win
                keep["x"][k] = batch["x"][j, :, -1].numpy().astype(np.float32)
                keep["y"][k] = y[j, :, -1].numpy().astype(np.float32)
                keep["yhat"][k] = pred[j, :, -1].numpy().astype(np.float32)
        n_win += b
        n_val += y.numel()
    metrics = {"mse": se / n_val, "mae": ae / n_val, "windows": n_win, "values": n_val}
    arrays = {k: np.stack(v) for k, v in keep.items()} if want and all(
        v is not None for v in keep["x"]) else {}
    if arrays:
        # Per-window errors (for diagnostics such as a dropped last batch; never the headline).
        arrays["window_mse"] = np.concatenate(win_se)
        arrays["window_mae"] = np.concatenate(win_ae)
    if keep_forecasts:
        arrays["forecast"] = np.concatenate(forecasts)
    return metrics, arrays


def _resolve_hparams(cell: Cell, data: BenchData) -> dict[str, Any]:
    hp = dict(cell.hparams)
    if cell.model == "seasonal_naive" and hp.get("season_length", "auto") == "auto":
        hp["season_length"] = season_length_for(data.index)
    return hp


def _trainer_kwargs(train: dict[str, Any]) -> dict[str, Any]:
    kw: dict[str, Any] = {}
    for key in ("limit_train_batches", "limit_val_batches", "gradient_clip_val"):
        if train.get(key) is not None:
            kw[key] = train[key]
    if train.get("max_minutes"):
        kw["max_time"] = _dt.timedelta(minutes=float(train["max_minutes"]))
    return kw


@contextlib.contextmanager
def _ctrl_c_propagates() -> Iterator[None]:
    """Let a Ctrl-C during ``trainer.fit`` reach the caller as ``KeyboardInterrupt``.

    Lightning catches it, sets SIGINT to "ignore" and calls ``sys.exit(1)``: the grid would end
    with exit code 1 and no word, and (from Python) later Ctrl-Cs would be ignored. The cell
    writes nothing either way (its row is written once it ends), so it reruns next time.
    """
    try:
        handler = signal.getsignal(signal.SIGINT)
    except ValueError:  # pragma: no cover - not the main thread
        handler = None
    try:
        yield
    except SystemExit as e:
        if not isinstance(e.__context__, KeyboardInterrupt):
            raise
        if handler is not None:
            with contextlib.suppress(ValueError):   # signal.signal: main thread only
                signal.signal(signal.SIGINT, handler)
        raise KeyboardInterrupt from None


def run_cell(cell: Cell, data: BenchData, *, out_dir: Path | None = None,
             prepared: PreparedSplits | None = None, verbose: bool = False) -> dict[str, Any]:
    """Fit and score one cell; returns its result row (and writes it when ``out_dir`` is set)."""
    from xlstm_ts.training import EMAWeights, ForecastModule, fit_module, quiet_lightning

    quiet_lightning()
    t0 = time.perf_counter()
    started = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    prep = prepared or prepare_splits(data, cell.lookback, cell.horizon, cell.val_fold, cell.calendar)
    if (prep.val_fold, prep.calendar) != (cell.val_fold, cell.calendar):  # pragma: no cover - guards run_grid's cache
        raise AssertionError("prepared splits of another validation fold or covariate set")
    train = cell.train
    hp = _resolve_hparams(cell, data)
    row: dict[str, Any] = {
        "dataset": cell.dataset, "source": cell.source, "protocol": cell.protocol,
        "target": cell.target, "regime": cell.regime, "lookback": cell.lookback,
        "horizon": cell.horizon, "label": cell.label, "model": cell.model, "seed": cell.seed,
        "hparams": hp, "train": train, "config": cell.config, "signature": cell.signature(),
        "data_digest": data.digest, "n_channels": data.n_channels,
        "borders": {"border1s": prep.borders[0], "border2s": prep.borders[1]},
        "windows": prep.window_counts(), "started": started, "machine": machine_info(),
    }
    if cell.val_fold:
        row["val_fold"] = cell.val_fold
    if cell.model == ENSEMBLE:
        return _run_ensemble(cell, prep, row, out_dir, t0)
    torch.manual_seed(cell.seed)
    np.random.seed(cell.seed % (2**32))
    loss = make_loss(train["loss"])
    spec = ModelSpec(lookback=cell.lookback, horizon=cell.horizon, n_channels=data.n_channels,
                     n_futr=prep.n_futr, n_outputs=loss.n_outputs)
    try:
        model = build_model(cell.model, spec, **hp)
    except ValueError as e:
        if cell.model == "seasonal_naive":  # e.g. a yearly season longer than ILI's L=36
            row.update(status="skipped", reason=str(e), wall_seconds=time.perf_counter() - t0)
            _write(out_dir, cell, row)
            return row
        raise
    row["params"] = int(sum(p.numel() for p in model.parameters() if p.requires_grad))
    eval_bs = int(train["eval_batch_size"])
    val_loader = window_loader(prep.val, eval_bs)
    fit = {"epochs": 0, "best_epoch": None, "best_val_loss": None, "train_seconds": 0.0}
    if getattr(model, "trainable", True):
        module = ForecastModule(model, loss, learning_rate=float(train["learning_rate"]),
                                weight_decay=float(train["weight_decay"]),
                                lr_schedule=train["lr_schedule"], max_epochs=int(train["max_epochs"]),
                                valid_loss=make_loss(train["valid_loss"]) if train.get("valid_loss") else None)
        gen = torch.Generator().manual_seed(cell.seed)
        train_loader = window_loader(prep.train, int(train["batch_size"]), shuffle=True, generator=gen)
        with _ctrl_c_propagates():
            report = fit_module(module, train_loader, val_loader, max_epochs=int(train["max_epochs"]),
                                patience=train["patience"], seed=cell.seed,
                                trainer_kwargs=_trainer_kwargs(train), enable_progress_bar=verbose,
                                extra_callbacks=[EMAWeights(train["ema_decay"])] if train.get("ema_decay") else None)
        fit = {"epochs": report.epochs, "best_epoch": report.best_epoch,
               "best_val_loss": report.best_val_loss, "train_seconds": report.seconds}
    model = model.cpu()
    row.update(fit)

    def forecast(split: str, loader, **kw):
        return evaluate_split(model, loss, loader, **kw)

    return _score_splits(cell, prep, forecast, row, out_dir, t0)


Forecaster = Callable[..., tuple[dict[str, float], dict[str, np.ndarray]]]


def _score_splits(cell: Cell, prep: PreparedSplits, forecast: Forecaster, row: dict[str, Any],
                  out_dir: Path | None, t0: float, extra_seconds: float = 0.0) -> dict[str, Any]:
    """Score the validation (and test) windows with ``forecast(split, loader, samples=...,
    keep_forecasts=...)``, complete ``row`` and write it with the cell's files.
    ``extra_seconds`` (an ensemble's members' wall time) counts in ``wall_seconds``."""
    t_eval = time.perf_counter()
    eval_bs = int(cell.train["eval_batch_size"])
    keep = cell.keep_forecasts and out_dir is not None
    val_metrics, val_arrays = forecast("val", window_loader(prep.val, eval_bs), keep_forecasts=keep)
    row.update({"val_mse": val_metrics["mse"], "val_mae": val_metrics["mae"]})
    kept = {"val": val_arrays.get("forecast")}
    arrays: dict[str, np.ndarray] = {}
    picks = np.zeros(0, dtype=int)
    if prep.test is not None:   # else a validation fold: selection only, no test split exists
        picks = np.unique(np.linspace(0, len(prep.test) - 1, N_SAMPLES).round().astype(int))
        test_metrics, arrays = forecast("test", window_loader(prep.test, eval_bs), samples=picks,
                                        keep_forecasts=keep)
        kept["test"] = arrays.pop("forecast", None)
        if test_metrics["windows"] != row["windows"]["test"]:  # pragma: no cover - guard
            raise AssertionError("test windows were dropped")
        if "window_mse" in arrays:
            # Diagnostic only (never the headline): the test MSE the pre-2024 TSLib loaders would
            # report with drop_last=True at batch size B (benchmarks.md §1.3).
            w = arrays["window_mse"].astype(np.float64)
            row["diag_drop_last_mse"] = {str(b): float(w[: len(w) - len(w) % b].mean())
                                         for b in DROP_LAST_BATCHES if len(w) >= b}
        row.update({"mse": test_metrics["mse"], "mae": test_metrics["mae"],
                    "test_windows": test_metrics["windows"], "test_values": test_metrics["values"]})
    row.update({
        "status": "ok",
        "eval_seconds": time.perf_counter() - t_eval,
        "wall_seconds": time.perf_counter() - t0 + extra_seconds,
        "finished": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    })
    if keep:   # before the row: a row on disk means its forecasts are there too
        _save_npz_atomic(forecasts_path(out_dir, cell), compress=False,
                         **{k: v for k, v in kept.items() if v is not None})
    if out_dir is not None and arrays:
        _save_npz_atomic(samples_path(out_dir, cell), index=picks, first_target_row=
                         prep.spans.test[0] + cell.lookback + picks, **arrays)
    _write(out_dir, cell, row)
    return row


def _run_ensemble(cell: Cell, prep: PreparedSplits, row: dict[str, Any], out_dir: Path | None,
                  t0: float) -> dict[str, Any]:
    """Average the stored forecasts of the ensemble's member cells and score them.

    Every member forecasts the same target windows whatever its look-back (the protocol starts
    each split's first target at its border), which the shapes check.
    """
    if out_dir is None:
        raise ValueError(f"{cell.describe()}: an ensemble averages its members' stored forecasts "
                         "and needs the run directory (out_dir)")
    members = cell.hparams["members"]
    stored: list[dict[str, np.ndarray]] = []
    member_rows = []
    for m in members:
        rel = Path(m["path"])
        try:
            mrow = json.loads(_cell_file(out_dir, CELLS_DIR, rel, ".json").read_text())
        except (OSError, json.JSONDecodeError):
            mrow = {}
        fpath = _cell_file(out_dir, FORECASTS_DIR, rel, ".npz")
        if mrow.get("signature") != m["signature"] or mrow.get("status") != "ok" or not fpath.is_file():
            raise ValueError(f"{cell.describe()}: member {m['label']!r} ({rel}) has no finished result "
                             f"with stored forecasts in {out_dir}; run the grid that holds the "
                             "ensemble (its members join it automatically)")
        with np.load(fpath) as z:
            stored.append({k: z[k] for k in z.files})
        member_rows.append(mrow)
    row["members"] = {m["label"]: {"path": m["path"], "val_mse": r.get("val_mse"), "mse": r.get("mse")}
                      for m, r in zip(members, member_rows, strict=True)}
    row["params"] = int(sum(r.get("params", 0) for r in member_rows))
    row.update({"epochs": 0, "best_epoch": None, "best_val_loss": None, "train_seconds": 0.0})

    def forecast(split: str, loader, **kw):
        per_member = [s[split] for s in stored]
        if len({f.shape for f in per_member}) != 1:
            raise ValueError(f"{cell.describe()}: members' {split} forecasts differ in shape "
                             f"{[f.shape for f in per_member]}")
        total = per_member[0].astype(np.float64)   # a running sum: no stacked copy of all members
        for f in per_member[1:]:
            total += f
        mean = total / len(per_member)

        def pairs():
            i = 0
            for batch in loader:
                n = batch["y"].shape[0]
                yield torch.from_numpy(mean[i:i + n]), batch
                i += n
            if i != len(mean):
                raise ValueError(f"{cell.describe()}: members stored {len(mean)} {split} windows, "
                                 f"the split has {i}")
        return score_forecasts(pairs(), **kw)

    # an ensemble costs what its members cost
    members_seconds = float(sum(r.get("wall_seconds", 0.0) for r in member_rows))
    return _score_splits(cell, prep, forecast, row, out_dir, t0, members_seconds)


def _write(out_dir: Path | None, cell: Cell, row: dict[str, Any]) -> None:
    if out_dir is not None:
        write_json_atomic(cell_path(out_dir, cell), row)


def _finished(out_dir: Path, cell: Cell, digest: str | None = None) -> bool:
    """Whether ``cell`` has a finished result in ``out_dir``.

    The signature names the data by its source (a path for ``--data`` files), not its contents:
    with ``digest`` (the current :attr:`BenchData.digest`), a result recorded on other data
    (the file was edited since) is not finished, and reruns over the old record.
    """
    p = cell_path(out_dir, cell)
    if not p.is_file():
        return False
    try:
        row = json.loads(p.read_text())
    except (OSError, json.JSONDecodeError):
        return False
    if digest is not None and row.get("data_digest") not in (None, digest):
        return False
    if cell.keep_forecasts and row.get("status") == "ok" and not forecasts_path(out_dir, cell).is_file():
        return False   # an ensemble needs them: rerun (same seed, same result) to store them
    return row.get("signature") == cell.signature() and row.get("status") in ("ok", "skipped")


def load_rows(out_dir: Path) -> list[dict[str, Any]]:
    """All result rows under ``out_dir/cells`` (unreadable files are skipped)."""
    rows = []
    for p in sorted((Path(out_dir) / CELLS_DIR).rglob("*.json")):
        try:
            rows.append(json.loads(p.read_text()))
        except (OSError, json.JSONDecodeError):
            continue
    return rows


def run_grid(cells: Iterable[Cell], data_by_name: dict[str, BenchData], out_dir: str | Path, *,
             verbose: bool = False, fail_fast: bool = False, progress: bool = True,
             log: Callable[[str], None] | None = None) -> dict[str, int]:
    """Run every unfinished cell; returns counts ``{"ran", "skipped", "failed", "total"}``.

    Cells run in order; consecutive cells of one (dataset, L, H) share the prepared splits.
    A failing cell is recorded (``status: failed`` with the traceback) and the grid goes on,
    unless ``fail_fast``; failed cells rerun next time. A grid whose data is too short for some
    of its cells raises ``ValueError`` before any cell runs (:func:`check_grid_fits`).
    ``KeyboardInterrupt`` (Ctrl-C) propagates; the interrupted cell is not recorded.
    """
    out = Path(out_dir)
    cells = list(cells)
    check_grid_fits(data_by_name, ((c.dataset, c.lookback, c.horizon, c.val_fold) for c in cells))
    counts = {"ran": 0, "skipped": 0, "failed": 0, "total": len(cells)}
    say = log or (lambda s: tqdm.write(s))
    cache_key, cache = None, None
    bar = tqdm(cells, desc="bench cells", unit="cell", disable=not progress, dynamic_ncols=True)
    for cell in bar:
        bar.set_postfix_str(cell.describe(), refresh=True)
        data = data_by_name[cell.dataset]
        if _finished(out, cell, data.digest):
            counts["skipped"] += 1
            continue
        key = (cell.dataset, cell.lookback, cell.horizon, cell.val_fold, cell.calendar)
        try:
            if key != cache_key:
                cache_key, cache = key, prepare_splits(data, *key[1:])
            row = run_cell(cell, data, out_dir=out, prepared=cache, verbose=verbose)
        except KeyboardInterrupt:
            bar.close()   # so that the caller's message does not land on the bar's line
            raise
        except Exception as e:
            counts["failed"] += 1
            _write(out, cell, {
                "dataset": cell.dataset, "lookback": cell.lookback, "horizon": cell.horizon,
                "label": cell.label, "model": cell.model, "seed": cell.seed, "regime": cell.regime,
                "val_fold": cell.val_fold, "signature": cell.signature(), "status": "failed",
                "error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc(),
            })
            say(f"FAILED {cell.describe()}: {type(e).__name__}: {e}")
            if fail_fast:
                raise
            continue
        counts["ran"] += 1
        if row.get("status") == "ok" and cell.val_fold:
            say(f"{cell.describe()}: val MSE {row['val_mse']:.4f} ({row['epochs']} ep, best "
                f"{row['best_epoch']}, {row['wall_seconds']:.0f} s)")
        elif row.get("status") == "ok":
            say(f"{cell.describe()}: test MSE {row['mse']:.4f} MAE {row['mae']:.4f} "
                f"(val MSE {row['val_mse']:.4f}, {row['epochs']} ep, best {row['best_epoch']}, "
                f"{row['wall_seconds']:.0f} s)")
        else:
            say(f"{cell.describe()}: {row.get('status')} ({row.get('reason', '')})")
    return counts

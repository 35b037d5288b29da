"""Train a forecasting network with Lightning: early stopping, best weights, passthrough kwargs."""

from __future__ import annotations

import logging
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from torch.utils.data import DataLoader

from .callbacks import EMAWeights, RestoreBestWeights
from .module import ForecastModule

LAST_CHECKPOINT = "last"


@dataclass
class FitReport:
    """What a training run did."""

    epochs: int
    best_epoch: int | None
    best_val_loss: float | None
    seconds: float


def quiet_lightning() -> None:
    """Silence Lightning's per-run banners (tips, device summaries); warnings stay."""
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.pytorch.accelerators.cuda",
                 "lightning.fabric.utilities.seed", "lightning.pytorch.utilities.seed"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    warnings.filterwarnings("ignore", message=".*litlogger.*")
    warnings.filterwarnings("ignore", message=".*Checkpoint directory .* exists and is not empty.*")


def fit_module(
    module: ForecastModule,
    train_loader: DataLoader,
    val_loader: DataLoader | None = None,
    *,
    max_epochs: int = 10,
    patience: int | None = 3,
    seed: int | None = None,
    trainer_kwargs: dict | None = None,
    enable_progress_bar: bool = True,
    extra_callbacks: list | None = None,
    checkpoint_dir: str | Path | None = None,
    resume: bool = False,
) -> FitReport:
    """Fit ``module``; with ``val_loader``, stop early on ``val_loss`` and keep the best epoch.

    ``trainer_kwargs`` go to :class:`lightning.Trainer` unchanged (``accelerator``,
    ``devices``, ``precision``, ``strategy``, ``callbacks``, ``logger``, ``limit_train_batches``...);
    callbacks given there are added to ours.

    With ``checkpoint_dir``, a Lightning checkpoint ``last.ckpt`` (weights, optimiser, scheduler,
    loop counters, early-stopping and best-epoch state, random state) is written atomically
    at the end of every epoch. ``resume=True`` continues from it when it exists (a run killed
    mid-epoch loses at most that epoch) and starts afresh otherwise. It is loaded with
    ``weights_only=True`` (no pickled code).

    An :class:`EMAWeights` callback among them (e.g. ``callbacks=[EMAWeights(0.99)]``) makes
    validation, early stopping and the kept weights use a moving average of the weights; it is
    moved after the best-epoch callback, which must snapshot the average.
    """
    quiet_lightning()
    if seed is not None:
        L.seed_everything(seed, workers=True, verbose=False)
    kwargs = dict(trainer_kwargs or {})
    if "max_epochs" in kwargs:
        raise ValueError("trainer_kwargs must not hold max_epochs: pass it as max_epochs=... "
                         f"(got trainer_kwargs max_epochs={kwargs['max_epochs']!r})")
    callbacks = list(kwargs.pop("callbacks", []) or []) + list(extra_callbacks or [])
    best = None
    if val_loader is not None:
        best = RestoreBestWeights("val_loss")
        callbacks.append(best)
        if patience is not None:
            callbacks.append(EarlyStopping("val_loss", patience=patience, mode="min"))
    # RestoreBestWeights snapshots on validation end, before EMAWeights swaps the raw weights back
    callbacks = [c for c in callbacks if not isinstance(c, EMAWeights)] + [
        c for c in callbacks if isinstance(c, EMAWeights)]
    ckpt_path = None
    if checkpoint_dir is not None:
        # monitor=None + save_top_k=1 + a fixed name: one file, replaced (atomically) each epoch.
        callbacks.append(ModelCheckpoint(dirpath=str(checkpoint_dir), filename=LAST_CHECKPOINT, monitor=None,
                                         save_top_k=1, every_n_epochs=1, enable_version_counter=False))
        kwargs["enable_checkpointing"] = True
        last = Path(checkpoint_dir) / f"{LAST_CHECKPOINT}.ckpt"
        if resume and last.exists():
            ckpt_path = str(last)
    elif resume:
        raise ValueError("resume=True needs a checkpoint_dir")
    kwargs.setdefault("logger", False)
    kwargs.setdefault("enable_checkpointing", False)
    kwargs.setdefault("enable_model_summary", False)
    kwargs.setdefault("accelerator", "cpu" if not torch.cuda.is_available() else "auto")
    kwargs.setdefault("devices", 1)
    kwargs.setdefault("enable_progress_bar", enable_progress_bar)
    kwargs.setdefault("num_sanity_val_steps", 0)
    trainer = L.Trainer(max_epochs=max_epochs, callbacks=callbacks, **kwargs)
    t0 = time.perf_counter()
    trainer.fit(module, train_dataloaders=train_loader, val_dataloaders=val_loader, ckpt_path=ckpt_path,
                weights_only=True if ckpt_path else None)
    return FitReport(
        epochs=trainer.current_epoch,
        best_epoch=None if best is None else best.best_epoch,
        best_val_loss=None if best is None else best.best_score,
        seconds=time.perf_counter() - t0,
    )


@torch.no_grad()
def predict_loader(model: torch.nn.Module, loader: DataLoader) -> torch.Tensor:
    """Run ``model`` over a loader in eval mode; returns the concatenated ``(N, H, C, Q)``."""
    was_training = model.training
    model.eval()
    try:
        outs = [model(batch) for batch in loader]
    finally:
        model.train(was_training)
    return torch.cat(outs) if outs else torch.empty(0)

"""Shared Lightning training for the language models: AdamW, warmup + cosine, gradient clipping."""

from __future__ import annotations

import json
import math
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import lightning as L
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from xlstm_ts.training import quiet_lightning
from xlstm_ts.training.module import adam_eps

from .base import LanguageModel


def lm_loss(model: LanguageModel, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    logits, _ = model(x)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), y.reshape(-1))


def warmup_cosine(step: int, warmup_steps: int, max_steps: int, min_ratio: float) -> float:
    """LR multiplier: linear warmup to 1, then cosine decay to ``min_ratio`` at ``max_steps``."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    t = min(1.0, (step - warmup_steps) / max(1, max_steps - warmup_steps))
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * t))


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """Weight decay on matrices only: not on embeddings, norms, biases or gate/skip vectors
    (the reference's rule: names with "weight", without "norm", embedding excluded)."""
    decay, no_decay, seen = [], [], set()
    for name, p in model.named_parameters():
        if not p.requires_grad or id(p) in seen:
            continue
        seen.add(id(p))
        is_matrix = p.dim() >= 2 and "norm" not in name and "embedding" not in name
        (decay if is_matrix else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


class LMModule(L.LightningModule):
    """Next-token cross-entropy for any :class:`LanguageModel` on ``(x, y)`` batches.

    Args:
        model: the language model.
        learning_rate, weight_decay, betas: AdamW (decay on matrices only, see :func:`param_groups`).
        warmup_steps, max_steps, min_lr_ratio: per-step linear warmup then cosine decay.
    """

    def __init__(self, model: LanguageModel, *, learning_rate: float = 1e-3, weight_decay: float = 0.1,
                 betas: tuple[float, float] = (0.9, 0.95), warmup_steps: int = 100, max_steps: int = 1000,
                 min_lr_ratio: float = 0.1):
        super().__init__()
        self.model = model
        self.learning_rate, self.weight_decay, self.betas = learning_rate, weight_decay, tuple(betas)
        self.warmup_steps, self.max_steps, self.min_lr_ratio = warmup_steps, max_steps, min_lr_ratio

    def forward(self, x):
        return self.model(x)[0]

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = lm_loss(self.model, x, y)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"train loss is {loss.item()} at step {self.global_step}")
        self.log("train_loss", loss, prog_bar=True, on_step=True, on_epoch=False, batch_size=x.shape[0])
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        loss = lm_loss(self.model, x, y)
        self.log("val_loss", loss, prog_bar=True, on_step=False, on_epoch=True, batch_size=x.shape[0])
        return loss

    def configure_optimizers(self):
        opt = torch.optim.AdamW(param_groups(self.model, self.weight_decay), lr=self.learning_rate, betas=self.betas,
                                eps=adam_eps(self.model.parameters()))
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: warmup_cosine(s, self.warmup_steps, self.max_steps, self.min_lr_ratio))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


class TrainLog(L.Callback):
    """Records the loss curve and the pure training time (validation excluded) for tokens/s.

    Every ``log_every`` steps the mean train loss since the last record is kept (and written
    as a JSON line to ``log_path`` and printed when ``verbose``).
    """

    def __init__(self, tokens_per_step: int, log_every: int = 10, log_path: str | Path | None = None,
                 verbose: bool = False, name: str = ""):
        self.tokens_per_step, self.log_every, self.verbose, self.name = tokens_per_step, log_every, verbose, name
        self.log_path = Path(log_path) if log_path else None
        self.train: list[dict] = []
        self.val: list[dict] = []
        self.train_seconds = 0.0
        self.steps = 0
        self._acc: list[float] = []
        self._t0 = 0.0
        self._wall0 = time.perf_counter()

    def _emit(self, rec: dict) -> None:
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.log_path, "a") as fh:
                fh.write(json.dumps(rec) + "\n")
        if self.verbose:
            print(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in rec.items()), flush=True)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self._t0 = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.train_seconds += time.perf_counter() - self._t0
        self.steps += 1
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        self._acc.append(float(loss))
        if self.steps % self.log_every == 0:
            rec = {"model": self.name, "step": self.steps, "tokens": self.steps * self.tokens_per_step,
                   "train_loss": sum(self._acc) / len(self._acc),
                   "lr": trainer.optimizers[0].param_groups[0]["lr"],
                   "tok_per_s": self.steps * self.tokens_per_step / max(self.train_seconds, 1e-9),
                   "wall_s": time.perf_counter() - self._wall0}
            self._acc = []
            self.train.append(rec)
            self._emit(rec)

    def on_validation_end(self, trainer, pl_module):
        if trainer.sanity_checking or "val_loss" not in trainer.callback_metrics:
            return
        rec = {"model": self.name, "step": self.steps, "tokens": self.steps * self.tokens_per_step,
               "val_loss": float(trainer.callback_metrics["val_loss"])}
        self.val.append(rec)
        self._emit(rec)


@dataclass
class TrainResult:
    steps: int
    tokens: int
    train_seconds: float
    wall_seconds: float
    train_tokens_per_s: float
    train_curve: list[dict] = field(default_factory=list)
    val_curve: list[dict] = field(default_factory=list)


def train_lm(
    model: LanguageModel,
    train_loader: DataLoader,
    val_loader: DataLoader | None = None,
    *,
    steps: int,
    tokens_per_step: int,
    learning_rate: float = 1e-3,
    weight_decay: float = 0.1,
    warmup_steps: int | None = None,
    min_lr_ratio: float = 0.1,
    grad_clip: float = 1.0,
    val_every: int | None = None,
    log_every: int = 10,
    seed: int = 0,
    log_path: str | Path | None = None,
    verbose: bool = False,
    name: str = "",
    trainer_kwargs: dict | None = None,
) -> TrainResult:
    """Train ``model`` for ``steps`` optimizer steps with Lightning; the model is updated in place.

    ``warmup_steps`` defaults to 5% of ``steps``. ``val_every`` runs the validation loader every
    so many steps (and at the end). ``tokens_per_step`` (batch x context) is used for tokens/s.
    """
    quiet_lightning()
    warnings.filterwarnings("ignore", message=".*`validation_step` but have no `val_dataloader`.*")
    L.seed_everything(seed, workers=True, verbose=False)
    module = LMModule(model, learning_rate=learning_rate, weight_decay=weight_decay,
                      warmup_steps=warmup_steps if warmup_steps is not None else max(1, steps // 20),
                      max_steps=steps, min_lr_ratio=min_lr_ratio)
    log = TrainLog(tokens_per_step, log_every=log_every, log_path=log_path, verbose=verbose, name=name)
    kwargs = dict(logger=False, enable_checkpointing=False, enable_model_summary=False,
                  enable_progress_bar=False, num_sanity_val_steps=0, accelerator="cpu", devices=1)
    if torch.cuda.is_available():
        kwargs["accelerator"] = "auto"
    kwargs.update(trainer_kwargs or {})
    val_every = min(val_every or steps, steps)
    trainer = L.Trainer(max_steps=steps, max_epochs=-1, gradient_clip_val=grad_clip, callbacks=[log],
                        val_check_interval=val_every if val_loader is not None else None,
                        check_val_every_n_epoch=None, limit_val_batches=None if val_loader is not None else 0,
                        **kwargs)
    t0 = time.perf_counter()
    trainer.fit(module, train_dataloaders=train_loader, val_dataloaders=val_loader)
    wall = time.perf_counter() - t0
    model.eval()
    return TrainResult(steps=log.steps, tokens=log.steps * tokens_per_step, train_seconds=log.train_seconds,
                       wall_seconds=wall, train_tokens_per_s=log.steps * tokens_per_step / max(log.train_seconds, 1e-9),
                       train_curve=log.train, val_curve=log.val)


@torch.no_grad()
def evaluate_loss(model: LanguageModel, loader: DataLoader) -> float:
    """Mean next-token cross-entropy (nats/token) over every token of ``loader``."""
    was = model.training
    model.eval()
    total, count = 0.0, 0
    try:
        for x, y in loader:
            logits, _ = model(x)
            total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), y.reshape(-1),
                                     reduction="sum").item()
            count += y.numel()
    finally:
        model.train(was)
    return total / max(count, 1)

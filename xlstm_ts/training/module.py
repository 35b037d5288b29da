"""The LightningModule that trains any :mod:`xlstm_ts.models` forecaster on window batches."""

from __future__ import annotations

import lightning as L
import torch
from torch import nn

LR_SCHEDULES = ("cosine", "halving", "constant")


def adam_eps(params) -> float:
    """Adam's epsilon for these parameters: 1e-8 (torch's default), 1e-4 for float16 ones.

    In float16 (``precision="16-true"``) 1e-8 rounds to 0, and a second-moment estimate that
    underflows to 0 makes the update 0/0: the loss is NaN after the first steps. bfloat16 has
    float32's exponent range and keeps the default.
    """
    return 1e-4 if any(p.dtype == torch.float16 for p in params) else 1e-8


class ForecastModule(L.LightningModule):
    """Wraps a forecasting network and its loss for Lightning.

    Batches are the dicts of :class:`xlstm_ts.data.WindowDataset` (``x``, ``y``, optional
    ``x_futr``/``static``); the network maps them to ``(B, H, C, Q)``.

    Args:
        model: the network.
        loss: callable ``loss(pred (B,H,C,Q), target (B,H,C)) -> scalar``.
        learning_rate, weight_decay: AdamW settings.
        lr_schedule: ``"cosine"`` (cosine decay over ``max_epochs``), ``"halving"`` (TSLib's
            ``type1``: halve every epoch) or ``"constant"``.
        max_epochs: length of the cosine schedule.
        valid_loss: point loss logged as ``val_loss`` (what early stopping and the kept best epoch
            follow), applied to ``loss.point(pred)``; None: ``loss`` itself. Lets a run train on
            one loss (e.g. MAE) and select its epoch on another (e.g. MSE), as neuralforecast's
            ``valid_loss`` and the xLSTM-Mixer scripts do.
    """

    def __init__(self, model: nn.Module, loss: nn.Module, *, learning_rate: float = 1e-3,
                 weight_decay: float = 0.0, lr_schedule: str = "cosine", max_epochs: int = 10,
                 valid_loss: nn.Module | None = None):
        super().__init__()
        if lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {list(LR_SCHEDULES)}; got {lr_schedule!r}")
        if valid_loss is not None and getattr(valid_loss, "n_outputs", 1) != 1:
            raise ValueError("valid_loss must be a point loss (mse, mae or huber); it scores the point forecast")
        self.model, self.loss, self.valid_loss = model, loss, valid_loss
        self.learning_rate, self.weight_decay = learning_rate, weight_decay
        self.lr_schedule, self.max_epochs = lr_schedule, max_epochs

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.model(batch)

    def criterion(self, pred: torch.Tensor, target: torch.Tensor, name: str) -> torch.Tensor:
        """The training loss, or for ``name == "val_loss"`` the validation loss when one is set."""
        if name == "val_loss" and self.valid_loss is not None:
            point = self.loss.point(pred) if hasattr(self.loss, "point") else pred[..., 0]
            return self.valid_loss(point.unsqueeze(-1), target)
        return self.loss(pred, target)

    def _step(self, batch, name: str) -> torch.Tensor:
        loss = self.criterion(self.model(batch), batch["y"], name)
        if not torch.isfinite(loss):
            # A NaN loss must stop the run loudly rather than train on garbage.
            raise FloatingPointError(f"{name} loss is {loss.item()} at epoch {self.current_epoch}")
        self.log(name, loss, prog_bar=True, on_step=False, on_epoch=True,
                 batch_size=batch["y"].shape[0], sync_dist=True)
        return loss

    def training_step(self, batch, batch_idx):
        return self._step(batch, "train_loss")

    def validation_step(self, batch, batch_idx):
        return self._step(batch, "val_loss")

    # Resumed runs must continue the random stream (dropout) where the checkpoint left it, so
    # that a killed-and-resumed fit equals an uninterrupted one. Plain tensors: loadable with
    # ``weights_only=True``.
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["xlstm_ts_rng"] = {"torch": torch.get_rng_state()}
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            checkpoint["xlstm_ts_rng"]["cuda"] = torch.cuda.get_rng_state_all()

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        rng = checkpoint.get("xlstm_ts_rng") or {}
        if "torch" in rng:
            torch.set_rng_state(rng["torch"])
        if "cuda" in rng and torch.cuda.is_available() and len(rng["cuda"]) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(rng["cuda"])

    def predict_step(self, batch, batch_idx, dataloader_idx=0):
        return self.model(batch)

    def configure_optimizers(self):
        opt = torch.optim.AdamW(self.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay,
                                eps=adam_eps(self.parameters()))
        if self.lr_schedule == "constant":
            return opt
        if self.lr_schedule == "halving":
            sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.5)
        else:
            sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(self.max_epochs, 1))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "epoch"}}

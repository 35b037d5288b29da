"""Lightning callbacks of the training layer."""

from __future__ import annotations

import lightning as L
import torch


class RestoreBestWeights(L.Callback):
    """Keep the weights of the epoch with the lowest ``monitor`` in memory; restore them at the end.

    The test metric of a run must come from the checkpoint chosen on validation (never the last
    epoch, never one chosen on test). Keeping a copy in memory avoids a disk round trip per
    improvement and any pickle on the load path.
    """

    def __init__(self, monitor: str = "val_loss"):
        self.monitor = monitor
        self.best_score: float | None = None
        self.best_epoch: int | None = None
        self._best_state: dict[str, torch.Tensor] | None = None

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        score = trainer.callback_metrics.get(self.monitor)
        if score is None:
            return
        score = float(score)
        if self.best_score is None or score < self.best_score:
            self.best_score, self.best_epoch = score, trainer.current_epoch
            self._best_state = {k: v.detach().clone() for k, v in pl_module.state_dict().items()}

    # Part of Lightning checkpoints, so that a resumed run still restores the best epoch.
    def state_dict(self) -> dict:
        return {"best_score": self.best_score, "best_epoch": self.best_epoch, "best_state": self._best_state}

    def load_state_dict(self, state_dict: dict) -> None:
        self.best_score = state_dict.get("best_score")
        self.best_epoch = state_dict.get("best_epoch")
        self._best_state = state_dict.get("best_state")

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._best_state is not None:
            pl_module.load_state_dict(self._best_state)

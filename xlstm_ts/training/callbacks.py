"""Lightning callbacks of the training layer."""

from __future__ import annotations

import lightning as L
import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn


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


class EMAWeights(L.Callback):
    """Exponential moving average of the weights, updated after every optimiser step.

    Validation runs on the average, so early stopping and :class:`RestoreBestWeights` (which
    must come *before* this callback in the list) judge and keep averaged weights. The raw
    weights are put back once validation has ended, and training goes on from them.

    Lightning's ``WeightAveraging`` swaps the raw weights back in at the end of the validation
    epoch, before the epoch's ``val_loss`` reaches the callbacks: a best-epoch snapshot taken
    then would store the raw weights under the average's score. Hence this small callback on
    :class:`torch.optim.swa_utils.AveragedModel`, which does the averaging.
    """

    def __init__(self, decay: float):
        if not 0.0 < float(decay) < 1.0:
            raise ValueError(f"ema_decay must lie in (0, 1); got {decay!r}")
        self.decay = float(decay)
        self._average: AveragedModel | None = None
        self._pending: dict | None = None
        self._raw: dict[str, torch.Tensor] | None = None

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._average = AveragedModel(pl_module, device=pl_module.device, use_buffers=True,
                                      multi_avg_fn=get_ema_multi_avg_fn(self.decay))
        if self._pending is not None:  # resumed from a checkpoint
            self._average.load_state_dict(self._pending)
            self._pending = None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._average.update_parameters(pl_module)

    def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._average is None or int(self._average.n_averaged) == 0:
            return  # nothing averaged yet (a sanity check before training)
        self._raw = {k: v.detach().clone() for k, v in pl_module.state_dict().items()}
        pl_module.load_state_dict(self._average.module.state_dict())

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._raw is not None:
            pl_module.load_state_dict(self._raw)
            self._raw = None

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Without a validation loader nothing restores a best epoch: keep the final average.
        if self._average is not None and int(self._average.n_averaged) > 0 and not trainer.val_dataloaders:
            pl_module.load_state_dict(self._average.module.state_dict())

    # Part of Lightning checkpoints, so that a resumed fit goes on averaging where it stopped.
    def state_dict(self) -> dict:
        return {} if self._average is None else {"average": self._average.state_dict()}

    def load_state_dict(self, state_dict: dict) -> None:
        self._pending = state_dict.get("average")

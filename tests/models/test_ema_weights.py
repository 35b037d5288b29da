"""``ema_decay``: validation, early stopping and the kept weights use an exponential moving average."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from torch.utils.data import DataLoader

from xlstm_ts.models import ModelSpec, build_model, make_loss

from .test_models_training import sine_batch

pytestmark = pytest.mark.one_thread


class _Recorder(L.Callback):
    """The raw weights after every optimiser step and at the start of every epoch."""

    def __init__(self):
        self.after_step: list[dict[str, torch.Tensor]] = []
        self.epoch_start: list[dict[str, torch.Tensor]] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.after_step.append({k: v.detach().clone() for k, v in pl_module.model.state_dict().items()})

    def on_train_epoch_start(self, trainer, pl_module):
        self.epoch_start.append({k: v.detach().clone() for k, v in pl_module.model.state_dict().items()})


def _fit(ema_decay, with_val: bool, epochs: int = 3):
    from xlstm_ts.training import EMAWeights, ForecastModule, fit_module

    spec = ModelSpec(lookback=64, horizon=16, n_channels=2)
    torch.manual_seed(0)
    model = build_model("dlinear", spec)
    train, val = sine_batch(B=64, seed=1), sine_batch(B=32, seed=2)
    rows = lambda b: [{k: v[i] for k, v in b.items()} for i in range(len(b["x"]))]  # noqa: E731
    module = ForecastModule(model, make_loss("mse"), learning_rate=0.05, max_epochs=epochs)
    rec = _Recorder()
    report = fit_module(module, DataLoader(rows(train), batch_size=16),
                        DataLoader(rows(val), batch_size=32) if with_val else None,
                        max_epochs=epochs, patience=None, seed=0, enable_progress_bar=False,
                        extra_callbacks=[rec] if ema_decay is None else [EMAWeights(ema_decay), rec])
    return model, report, rec, val


@pytest.mark.filterwarnings("ignore:You defined a `validation_step` but have no `val_dataloader`")
def test_without_validation_the_fit_ends_on_the_average_of_the_steps():
    decay = 0.8
    model, _, rec, _ = _fit(decay, with_val=False)
    expected = None
    for state in rec.after_step:  # AveragedModel's EMA: the first step copied, then a lerp
        expected = dict(state) if expected is None else {k: decay * expected[k] + (1 - decay) * v
                                                          for k, v in state.items()}
    final = model.state_dict()
    for k, v in expected.items():
        torch.testing.assert_close(final[k], v, rtol=1e-5, atol=1e-6)
    assert any(not torch.allclose(final[k], rec.after_step[-1][k]) for k in final)  # not the last step's


def test_the_kept_weights_are_the_scored_average_and_training_goes_on_from_the_raw_weights():
    model, report, rec, val = _fit(0.8, with_val=True)
    with torch.no_grad():
        mse = float(((model.eval()(val)[..., 0] - val["y"]) ** 2).mean())
    assert report.best_val_loss == pytest.approx(mse, rel=1e-5)
    # The validation after epoch 1 swapped the average in and back out: epoch 2 starts from
    # the raw weights of epoch 1's last step.
    steps_per_epoch = len(rec.after_step) // 3
    for k, v in rec.epoch_start[1].items():
        torch.testing.assert_close(v, rec.after_step[steps_per_epoch - 1][k], rtol=0, atol=0)
    plain, plain_report, _, _ = _fit(None, with_val=True)
    assert plain_report.best_val_loss != pytest.approx(report.best_val_loss, rel=1e-4)


@pytest.mark.parametrize("decay", [0.0, 1.0, -0.5, 2])
def test_ema_decay_outside_the_open_unit_interval_is_refused(decay):
    from xlstm_ts.training import EMAWeights

    with pytest.raises(ValueError, match="ema_decay"):
        EMAWeights(decay)


class _StopAfter(L.Callback):
    def __init__(self, epoch: int):
        self.epoch = epoch

    def on_train_epoch_end(self, trainer, pl_module):
        if trainer.current_epoch == self.epoch:
            trainer.should_stop = True


@pytest.mark.filterwarnings("ignore:You defined a `validation_step` but have no `val_dataloader`")
def test_a_resumed_fit_goes_on_averaging_where_it_stopped(tmp_path):
    """The average is part of the checkpoint: stopping after epoch 1 and resuming ends on the
    same weights as an uninterrupted fit (a restarted average would not). No validation, so the
    fit ends on the average itself."""
    from xlstm_ts.training import EMAWeights, ForecastModule, fit_module

    spec = ModelSpec(lookback=64, horizon=16, n_channels=2)
    train = sine_batch(B=64, seed=1)
    rows = lambda b: [{k: v[i] for k, v in b.items()} for i in range(len(b["x"]))]  # noqa: E731

    def run(ckpt=None, resume=False, stop=None):
        torch.manual_seed(0)
        model = build_model("dlinear", spec)
        module = ForecastModule(model, make_loss("mse"), learning_rate=0.05, max_epochs=3)
        fit_module(module, DataLoader(rows(train), batch_size=16), None,
                   max_epochs=3, patience=None, seed=0, enable_progress_bar=False, checkpoint_dir=ckpt,
                   resume=resume, extra_callbacks=[EMAWeights(0.8)] + ([_StopAfter(stop)] if stop is not None else []))
        return model.state_dict()

    whole = run()
    run(tmp_path, stop=1)
    resumed = run(tmp_path, resume=True)
    for k, v in whole.items():
        torch.testing.assert_close(resumed[k], v, rtol=1e-6, atol=1e-7)

"""Shared helpers of the tuning tests (importable by spawned/forked worker processes)."""

from __future__ import annotations

import os
import signal

import lightning as L
import numpy as np
import pandas as pd

# A tiny, fast model: 1 mLSTM block at E=16 over 6 patch tokens; 3 epochs of 4 batches.
BASE = dict(
    model="xlstm_patch",
    horizon=12,
    lookback=48,
    max_epochs=3,
    batch_size=32,
    patience=None,
    model_params={"patch_len": 8, "stride": 8,
                  "xlstm": {"embedding_dim": 16, "num_blocks": 1,
                            "mlstm": {"num_heads": 2, "chunk_size": 8}, "slstm": {"num_heads": 2}}},
    trainer_kwargs={"limit_train_batches": 4},
)

SPACE = {
    "learning_rate": {"type": "logfloat", "low": 1e-4, "high": 1e-2},
    "model_params.xlstm.embedding_dim": {"type": "int", "low": 8, "high": 16, "step": 8},
    "use_slstm": {"type": "bool", "path": None},
    "slstm_positions": {"path": "model_params.xlstm.slstm_at", "type": "categorical",
                        "choices": {"first": [0], "all": "all"}, "when": {"use_slstm": True}, "default": "1:0"},
}


def panel(n_series: int = 2, length: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(n_series):
        t = np.arange(length)
        y = 10 + 3 * np.sin(2 * np.pi * (t + 3 * i) / 24) + 0.3 * rng.standard_normal(length)
        frames.append(pd.DataFrame({"unique_id": f"s{i}", "ds": pd.date_range("2024-01-01", periods=length, freq="h"),
                                    "y": y}))
    return pd.concat(frames, ignore_index=True)


class _OnceOnMarker(L.Callback):
    """Calls :meth:`fire` in the first training epoch started while ``marker`` exists; the marker
    is removed atomically first, so exactly one process (of several sharing it) fires."""

    def __init__(self, marker: str):
        self.marker = marker

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        try:
            os.unlink(self.marker)
        except FileNotFoundError:
            return
        self.fire()

    def fire(self) -> None:
        raise NotImplementedError


class KillOnce(_OnceOnMarker):
    """SIGKILLs its process: a worker lost mid-trial."""

    def fire(self) -> None:
        os.kill(os.getpid(), signal.SIGKILL)


class InterruptOnce(_OnceOnMarker):
    """Raises KeyboardInterrupt, as Ctrl-C would."""

    def fire(self) -> None:
        raise KeyboardInterrupt


class TakeOverOnce(_OnceOnMarker):
    """Does what another worker does to a trial whose heartbeat it found stale: fails the
    RUNNING trial and queues it again."""

    def __init__(self, marker: str, url: str, study_name: str):
        super().__init__(marker)
        self.url, self.study_name = url, study_name

    def fire(self) -> None:
        import optuna

        from xlstm_ts.tuning.storage import _RetryStale

        storage = optuna.storages.RDBStorage(self.url)
        study = optuna.load_study(study_name=self.study_name, storage=storage)
        for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
            storage.set_trial_state_values(t._trial_id, optuna.trial.TrialState.FAIL)
            _RetryStale(1)(study, storage.get_trial(t._trial_id))

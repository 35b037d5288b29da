"""Shared helpers for the model tests: small specs, batches and fast hparams per model."""

from __future__ import annotations

import pytest
import torch

from xlstm_ts.models import ModelSpec

# Small but structurally complete configurations, so the whole folder runs in seconds.
SMALL = {
    "xlstm_patch": {"patch_len": 8, "stride": 4,
                    "xlstm": {"embedding_dim": 32, "num_blocks": 2, "slstm_at": "1:1",
                              "mlstm": {"num_heads": 2, "chunk_size": 8}, "slstm": {"num_heads": 2}}},
    "xlstm_mixer": {"xlstm": {"embedding_dim": 32, "num_blocks": 2, "slstm_at": "1:1",
                              "mlstm": {"num_heads": 2}, "slstm": {"num_heads": 2}}},
    "patchtst": {"patch_len": 8, "stride": 4, "d_model": 32, "n_heads": 4, "n_layers": 2, "d_ff": 64},
    "dlinear": {"kernel_size": 5},
    "naive": {},
    "seasonal_naive": {"season_length": 6},
}


def make_batch(spec: ModelSpec, B: int = 4, scale: float = 1.0, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    batch = {"x": scale * torch.randn(B, spec.lookback, spec.n_channels, generator=g),
             "y": torch.randn(B, spec.horizon, spec.n_channels, generator=g)}
    if spec.n_futr:
        batch["x_futr"] = torch.randn(B, spec.lookback + spec.horizon, spec.n_futr, generator=g)
    if spec.n_static:
        batch["static"] = torch.randn(B, spec.n_static, generator=g)
    return batch


@pytest.fixture(autouse=True)
def _seed_and_one_thread():
    """Seeded, single-threaded: these tiny problems run several times faster on one thread, and
    far faster when other jobs share the CPU (OpenMP threads then wait on each other)."""
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

"""Launch-candidate bookkeeping of the chunkwise mLSTM kernels (runs in the interpreter)."""

from __future__ import annotations

import pytest
import torch
from xlstm_ts_kernels import _tuning, mlstm_chunkwise

from ._helpers import mlstm_inputs, rel_err


def test_fitted_caps_tiles_at_the_head_dims_and_drops_duplicates():
    for name in _tuning.CANDIDATES:
        small = _tuning.fitted(name, 16, 20)
        assert all(bk == 16 and bv <= 32 for bk, bv, _, _ in small)
        assert len(small) == len(set(small))
        assert small[0] == tuple(min(x, cap) for x, cap in zip(_tuning.NARROW_DEFAULTS[name], (16, 32, 99, 99),
                                                                strict=True))
        wide = _tuning.fitted(name, 256, 512)
        assert wide[0] == _tuning.WIDE_DEFAULTS[name]
        assert sorted(wide) == sorted(_tuning.CANDIDATES[name])  # every default is also a candidate


def test_default_follows_the_head_width():
    assert _tuning.default("bw_dv", 64, 64) == _tuning.NARROW_DEFAULTS["bw_dv"]
    assert _tuning.default("bw_dv", 64, 128) == (64, 128, 8, 1)  # wide, tiles capped at the dims
    assert _tuning.default("fw_intra", 256, 512) == (128, 128, 8, 1)


def test_interpreter_launches_a_single_config():
    from xlstm_ts_kernels.mlstm_chunkwise_fw import _fw_intra_kernel

    tuner = _tuning.launcher(_fw_intra_kernel, "fw_intra", 64, 64)
    assert len(tuner.configs) == 1


def test_forced_configs_rejects_unknown_kernels():
    with pytest.raises(ValueError, match="unknown kernels"), _tuning.forced_configs(nope=(16, 16, 4, 1)):
        pass


def test_forced_non_default_tiles_give_the_same_result():
    """A pinned candidate with narrower tiles than the default (several tiles per head dim, so
    the tile loops and the atomics over Dqk tiles run) agrees with the default launch."""
    xs = [x.float() for x in mlstm_inputs(1, 2, 70, 64, 64, init=True, seed=3)]

    def run():
        ins = [x.clone().requires_grad_() for x in xs]
        h, (C, n, m) = mlstm_chunkwise(*ins[:5], tuple(ins[5:]), chunk_size=16)
        loss = (h * torch.cos(h)).sum() + C.sum() + n.sum() + m.sum()
        return [h, C, n, m, *torch.autograd.grad(loss, ins)]

    ref = run()
    narrow = (16, 16, 4, 1)
    with _tuning.forced_configs(**{name: narrow for name in _tuning.CANDIDATES}):
        out = run()
    assert max(rel_err(a, r) for a, r in zip(out, ref, strict=True)) < 1e-4  # summation order differs


def test_tuning_is_opt_in(monkeypatch):
    """Some candidates corrupted memory on an H200 (see the _tuning docstring): off unless asked."""
    monkeypatch.delenv("XLSTM_TS_KERNELS_AUTOTUNE", raising=False)
    assert not _tuning.autotune_enabled()
    monkeypatch.setenv("XLSTM_TS_KERNELS_AUTOTUNE", "1")
    assert _tuning.autotune_enabled()

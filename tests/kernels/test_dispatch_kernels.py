"""``xlstm_ts.nn.functional`` with backend="triton" runs these kernels (interpreter on CPU)."""

from __future__ import annotations

import torch
import xlstm_ts_kernels

from xlstm_ts.nn.functional import mlstm_chunkwise, mlstm_step, slstm_sequence

from ._helpers import mlstm_inputs, rel_err


def spy(monkeypatch, name):
    calls = []
    fn = getattr(xlstm_ts_kernels, name)

    def wrapped(*a, **k):
        calls.append(name)
        return fn(*a, **k)

    monkeypatch.setattr(xlstm_ts_kernels, name, wrapped)
    return calls


def test_mlstm_chunkwise_triton_backend(monkeypatch):
    calls = spy(monkeypatch, "mlstm_chunkwise")
    q, k, v, i, f, C0, n0, m0 = [x.float() for x in mlstm_inputs(1, 2, 20, 16, 16, init=True)]
    h, st = mlstm_chunkwise(q, k, v, i, f, (C0, n0, m0), chunk_size=16, backend="triton")
    hr, sr = mlstm_chunkwise(q, k, v, i, f, (C0, n0, m0), chunk_size=16, backend="torch")
    assert calls == ["mlstm_chunkwise"]
    assert type(st).__name__ == "MLSTMState" and h.grad_fn is None
    assert rel_err(h, hr) < 1e-5 and rel_err(st.C, sr.C) < 1e-5
    q.requires_grad_()
    h, _ = mlstm_chunkwise(q, k, v, i, f, chunk_size=16, backend="triton")
    assert "MLSTMChunkwiseFn" in type(h.grad_fn).__name__


def test_mlstm_step_triton_backend(monkeypatch):
    calls = spy(monkeypatch, "mlstm_step")
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 2, 16, generator=g) for _ in range(3))
    i, f = torch.randn(2, 2, generator=g), torch.randn(2, 2, generator=g)
    h, st = mlstm_step(q, k, v, i, f, None, backend="triton")
    hr, sr = mlstm_step(q, k, v, i, f, None, backend="torch")
    assert calls == ["mlstm_step"] and rel_err(h, hr) < 1e-5 and rel_err(st.n, sr.n) < 1e-5


def test_slstm_triton_backend(monkeypatch):
    calls = spy(monkeypatch, "slstm_sequence")
    g = torch.Generator().manual_seed(0)
    x, R, b = torch.randn(2, 5, 4, 2, 16, generator=g), torch.randn(2, 16, 4, 16, generator=g) * 0.2, torch.randn(4, 2, 16, generator=g)
    h, st = slstm_sequence(x, R, b, backend="triton")
    hr, sr = slstm_sequence(x, R, b, backend="torch")
    assert calls == ["slstm_sequence"] and type(st).__name__ == "SLSTMState"
    assert rel_err(h, hr) < 1e-5 and rel_err(st.c, sr.c) < 1e-5

"""End to end: a tiny parity study and tiny synthetic tasks through the CLI, producing their tables."""

from __future__ import annotations

import argparse
import json

import torch

from xlstm_ts.lm import cli
from xlstm_ts.lm.parity import ParitySpec, run_parity
from xlstm_ts.lm.synthetic import mqar_batch, parity_batch


def test_tiny_parity_run_writes_tables(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(("To be, or not to be, that is the question. Ünïcödé! " * 40), encoding="utf-8")
    spec = ParitySpec(steps=3, batch_size=2, context=16, embedding_dim=32, num_blocks=2, val_every=2,
                      val_blocks=2, final_val_blocks=3, gen_contexts=[8, 24], gen_tokens=3, gen_repeats=1,
                      prefill_chunk_size=8, throughput_rounds=1, sample_tokens=4, corpus=str(corpus))
    res = run_parity(spec, tmp_path / "out", command="test", verbose=False)
    md = (tmp_path / "out" / "parity.md").read_text()
    for name in ("xLSTM[1:0]", "xLSTM[1:1]", "Transformer"):
        assert f"| {name} |" in md
        assert res["models"][name]["val_loss"] > 0
    assert (tmp_path / "out" / "parity_loss.png").stat().st_size > 0
    assert json.loads((tmp_path / "out" / "parity.json").read_text())["tokens"] == 3 * 2 * 16
    gen = {(r["model"], r["context"]): r for r in res["generation"]}
    assert gen[("xLSTM[1:0]", 8)]["state_mb"] == gen[("xLSTM[1:0]", 24)]["state_mb"]
    assert gen[("Transformer", 8)]["state_mb"] < gen[("Transformer", 24)]["state_mb"]
    # re-benchmark from the saved models without training
    again = run_parity(spec, tmp_path / "out", train=False, verbose=False)
    assert again["models"]["Transformer"]["val_loss"] == res["models"]["Transformer"]["val_loss"]


def test_cli_registers_lm_and_runs_synthetic_tiny(tmp_path, capsys):
    ap = argparse.ArgumentParser()
    cli.register(ap.add_subparsers(dest="command"))
    args = ap.parse_args(["lm", "parity", "--steps", "5", "--context", "64"])
    assert args.steps == 5 and args.context == 64 and args.func is cli.cmd_parity
    assert cli.main(["synthetic", "--tiny", "--out", str(tmp_path)]) == 0
    md = (tmp_path / "synthetic.md").read_text()
    assert "## mqar" in md and "## parity" in md and "Transformer" in md


def test_synthetic_batches():
    g = torch.Generator().manual_seed(0)
    x, y = mqar_batch(3, num_pairs=5, num_queries=4, num_keys=8, g=g)
    assert x.shape == y.shape == (3, 18)
    for b in range(3):
        pairs = dict(zip(x[b, :10:2].tolist(), x[b, 1:10:2].tolist(), strict=True))
        assert len(pairs) == 5  # distinct keys
        for p in range(10, 18, 2):
            assert y[b, p].item() == pairs[x[b, p].item()] == x[b, p + 1].item()
        assert (y[b, :10] == -100).all() and (y[b, 11::2] == -100).all()
    x, y = parity_batch(2, 10, g, score_from=4)
    assert (y[:, :4] == -100).all() and torch.equal(y[:, 4:], x.cumsum(1)[:, 4:] % 2)

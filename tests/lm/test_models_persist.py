"""Save/load round trips, parameter matching, configs, training pieces."""

from __future__ import annotations

import math

import pytest
import torch

from xlstm_ts.lm import (
    CharTokenizer,
    TransformerLanguageModel,
    XLSTMLanguageModel,
    evaluate_loss,
    load,
    match_transformer,
    save,
    train_lm,
    transformer_params,
)
from xlstm_ts.lm.training import param_groups, warmup_cosine
from xlstm_ts.persist import ModelFileError

from .conftest import V, tiny_transformer, tiny_xlstm


@pytest.mark.parametrize("make", [
    lambda: tiny_xlstm("1:1"), lambda: tiny_xlstm("1:0", tie=True),
    lambda: tiny_transformer(), lambda: tiny_transformer(positions="learned", tie=True),
])
def test_save_load_same_logits(tmp_path, make):
    model = make()
    tok = CharTokenizer.from_text("abc")
    idx = torch.randint(0, V, (2, 21))
    with torch.no_grad():
        ref, _ = model(idx)
    save(model, tmp_path / "m", tok, extra={"note": "x"})
    back, tok2 = load(tmp_path / "m")
    assert type(back) is type(model) and tok2 == tok and not back.training
    with torch.no_grad():
        out, _ = back(idx)
    assert torch.equal(out, ref)
    if model.config.tie_weights:
        assert back.lm_head.weight is back.embedding.weight


def test_load_rejects_other_directories(tmp_path):
    with pytest.raises(ModelFileError):
        load(tmp_path / "nothing")
    from xlstm_ts.persist import save_directory

    save_directory(tmp_path / "other", {"kind": "forecaster"}, {"model": {"w": torch.zeros(1)}})
    with pytest.raises(ModelFileError):
        load(tmp_path / "other")


@pytest.mark.parametrize("E,blocks,slstm_at", [(32, 2, "1:0"), (96, 4, "1:1"), (192, 4, "1:0"), (256, 6, "1:0")])
def test_transformer_matches_parameter_count_within_5_percent(E, blocks, slstm_at):
    xl = tiny_xlstm(slstm_at, E=E, num_blocks=blocks, vocab=321)
    target = xl.num_params()
    for depth in (blocks, None):
        cfg = match_transformer(target, 321, num_layers=depth)
        n = transformer_params(cfg)
        assert abs(n - target) / target <= 0.05
        assert n == TransformerLanguageModel(cfg).num_params()
        if depth:
            assert cfg.num_layers == depth
    with pytest.raises(ValueError):
        match_transformer(10, 321, num_layers=2)


def test_config_validation():
    with pytest.raises(ValueError):
        XLSTMLanguageModel({"vocab_size": 5, "stack": {"embedding_dim": 32, "add_post_blocks_norm": False}})
    with pytest.raises(ValueError):
        tiny_transformer(positions="alibi")


def test_num_params_counts_tied_weights_once():
    assert tiny_xlstm(tie=True).num_params() == tiny_xlstm(tie=False).num_params() - V * 32


def test_schedule_and_weight_decay_groups():
    assert warmup_cosine(0, 10, 100, 0.1) == pytest.approx(0.1)
    assert warmup_cosine(9, 10, 100, 0.1) == pytest.approx(1.0)
    assert warmup_cosine(100, 10, 100, 0.1) == pytest.approx(0.1)
    assert 0.1 < warmup_cosine(55, 10, 100, 0.1) < 1.0
    model = tiny_xlstm()
    decay, no_decay = param_groups(model, 0.1)
    names = {id(p): n for n, p in model.named_parameters()}
    assert all("norm" not in names[id(p)] and "embedding" not in names[id(p)] for p in decay["params"])
    assert any("embedding" in names[id(p)] for p in no_decay["params"])


def test_train_lm_reduces_loss_and_reports_throughput():
    from torch.utils.data import DataLoader

    from xlstm_ts.lm import RandomBlocks

    tokens = torch.arange(400) % 7  # a periodic stream: easy to learn
    model = tiny_xlstm().train()
    val = DataLoader([next(iter(RandomBlocks(tokens, 4, 16, seed=1)))], batch_size=None)
    before = evaluate_loss(model, val)
    res = train_lm(model, DataLoader(RandomBlocks(tokens, 8, 16), batch_size=None),
                   val, steps=30, tokens_per_step=128, learning_rate=1e-2, val_every=15, log_every=5)
    after = evaluate_loss(model, val)
    assert res.steps == 30 and res.tokens == 30 * 128 and res.train_tokens_per_s > 0
    assert len(res.train_curve) == 6 and len(res.val_curve) == 2
    assert after < before - 0.5 and math.isfinite(after)

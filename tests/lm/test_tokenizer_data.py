"""Tokenizer round trip (byte fallback), JSON save/load; text data blocks and splits."""

from __future__ import annotations

import pytest
import torch

from xlstm_ts.lm import CharTokenizer, FixedBlocks, RandomBlocks, TextData

SAMPLES = ["", "hello world", "Grüße, ça va? 日本語 ✓", "emoji 🤖🎉 and \u00e9 vs e\u0301", "\x00\x7f\n\t",
           "lone surrogate \ud800 here", "ÿþ"]


@pytest.mark.parametrize("text", SAMPLES)
def test_round_trip_any_string(text):
    tok = CharTokenizer.from_text("abcdefghijklmnopqrstuvwxyz ,?")
    ids = tok.encode(text)
    assert all(0 <= i < tok.vocab_size for i in ids)
    assert tok.decode(ids) == text
    assert tok.decode(torch.tensor(ids)) == text


def test_known_chars_one_token_unknown_chars_utf8_bytes():
    tok = CharTokenizer.from_text("ab")
    assert tok.vocab_size == 256 + 2
    assert tok.encode("ab") == [256, 257]
    assert tok.encode("é") == list("é".encode()) == [0xC3, 0xA9]
    assert tok.encode("a🤖") == [256, *"🤖".encode()]


def test_invalid_byte_runs_decode_with_replacement():
    tok = CharTokenizer.from_text("ab")
    assert tok.decode([0xC3, 256]) == "\ufffda"  # a truncated UTF-8 sequence, as a model may emit
    with pytest.raises(ValueError):
        tok.decode([tok.vocab_size])


def test_save_load_json(tmp_path):
    tok = CharTokenizer.from_text("The quick brown fox — ünïcödé \ud83d")
    path = tok.save(tmp_path / "tok" / "tokenizer.json")
    back = CharTokenizer.load(path)
    assert back == tok and back.vocab_size == tok.vocab_size
    s = "fox ünï 🤖"
    assert back.encode(s) == tok.encode(s) and back.decode(back.encode(s)) == s
    with pytest.raises(ValueError):
        CharTokenizer.from_dict({"type": "other"})


def test_text_data_split_and_blocks(tmp_path):
    f = tmp_path / "corpus.txt"
    text = "".join(chr(97 + i % 26) for i in range(1000)) + "é"
    f.write_text(text, encoding="utf-8")
    data = TextData.from_source(f, val_fraction=0.1)
    assert data.tokenizer.decode(data.train) + data.tokenizer.decode(data.val) == text
    assert data.train.numel() == 900
    x, y = next(iter(data.train_loader(batch_size=4, context=16, seed=3)))
    assert x.shape == y.shape == (4, 16)
    assert torch.equal(x[:, 1:], y[:, :-1])
    x2, _ = next(iter(data.train_loader(batch_size=4, context=16, seed=3)))
    assert torch.equal(x, x2)  # seeded: every model sees the same stream
    blocks = FixedBlocks(data.val, context=16)
    assert len(blocks) == (data.val.numel() - 1) // 16
    assert len(FixedBlocks(data.train, 16, max_blocks=5)) == 5
    with pytest.raises(ValueError):
        RandomBlocks(torch.arange(5), 2, 16)
    with pytest.raises(FileNotFoundError):
        TextData.from_source(tmp_path / "missing.txt")

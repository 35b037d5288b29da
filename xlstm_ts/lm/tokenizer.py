"""Character-level tokenizer with a UTF-8 byte fallback, so that any string round-trips."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import torch

from xlstm_ts._atomic import atomic_write_json

NUM_BYTES = 256
# "surrogatepass" lets lone surrogates (valid in a Python str, invalid in strict UTF-8) round-trip.
_ERRORS = "surrogatepass"


class CharTokenizer:
    """Characters seen at build time get their own ids; any other character becomes the ids of
    its UTF-8 bytes.

    Ids ``0..255`` are the byte tokens ``<0x00>..<0xFF>``; ids ``256..`` are the known characters
    in sorted order. ``decode(encode(s)) == s`` for every string ``s`` (non-ASCII, emoji and lone
    surrogates included); when decoding model output, an invalid run of byte tokens decodes with
    U+FFFD replacement characters instead of raising.
    """

    def __init__(self, chars: Iterable[str]):
        chars = sorted(set(chars))
        bad = [c for c in chars if len(c) != 1]
        if bad:
            raise ValueError(f"CharTokenizer characters must be single characters; got {bad[:5]}")
        self.chars: list[str] = chars
        self._stoi = {c: NUM_BYTES + i for i, c in enumerate(chars)}

    @classmethod
    def from_text(cls, text: str) -> CharTokenizer:
        """A tokenizer whose vocabulary is the characters of ``text``."""
        return cls(set(text))

    @property
    def vocab_size(self) -> int:
        return NUM_BYTES + len(self.chars)

    def __len__(self) -> int:
        return self.vocab_size

    def __repr__(self) -> str:
        return f"CharTokenizer(chars={len(self.chars)}, vocab_size={self.vocab_size})"

    def __eq__(self, other) -> bool:
        return isinstance(other, CharTokenizer) and other.chars == self.chars

    def encode(self, text: str) -> list[int]:
        stoi, out = self._stoi, []
        for ch in text:
            i = stoi.get(ch)
            if i is not None:
                out.append(i)
            else:
                out.extend(ch.encode("utf-8", _ERRORS))
        return out

    def encode_tensor(self, text: str) -> torch.Tensor:
        return torch.tensor(self.encode(text), dtype=torch.long)

    def decode(self, ids: Sequence[int] | torch.Tensor) -> str:
        if isinstance(ids, torch.Tensor):
            ids = ids.reshape(-1).tolist()
        parts, pending = [], bytearray()
        n = self.vocab_size
        for i in ids:
            i = int(i)
            if not 0 <= i < n:
                raise ValueError(f"token id {i} is outside the vocabulary [0, {n})")
            if i < NUM_BYTES:
                pending.append(i)
                continue
            if pending:
                parts.append(_decode_bytes(pending))
                pending = bytearray()
            parts.append(self.chars[i - NUM_BYTES])
        if pending:
            parts.append(_decode_bytes(pending))
        return "".join(parts)

    def to_dict(self) -> dict:
        return {"type": "CharTokenizer", "version": 1, "num_byte_tokens": NUM_BYTES, "chars": self.chars}

    @classmethod
    def from_dict(cls, d: dict) -> CharTokenizer:
        if d.get("type") != "CharTokenizer" or d.get("version") != 1 or d.get("num_byte_tokens") != NUM_BYTES:
            raise ValueError(f"not a CharTokenizer v1 description: keys {sorted(d)}")
        return cls(d["chars"])

    def save(self, path: str | os.PathLike) -> Path:
        return atomic_write_json(path, self.to_dict(), ensure_ascii=True)

    @classmethod
    def load(cls, path: str | os.PathLike) -> CharTokenizer:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


def _decode_bytes(b: bytearray) -> str:
    try:
        return b.decode("utf-8", _ERRORS)
    except UnicodeDecodeError:
        return b.decode("utf-8", "replace")

"""Text corpora for language modelling: tokenise once, split train/val, sample contiguous blocks."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset

from .tokenizer import CharTokenizer


def read_corpus(source: str | os.PathLike) -> str:
    """A bundled corpus name (``"tinyshakespeare"``) or the path of any UTF-8 text file."""
    p = Path(source)
    if p.is_file():
        return p.read_text(encoding="utf-8")
    from xlstm_ts.data import load_text

    try:
        return load_text(str(source))
    except ValueError:
        raise FileNotFoundError(f"{str(source)!r} is neither a text file nor a bundled corpus (tinyshakespeare)") from None


@dataclass
class TextData:
    """A tokenised corpus split into a leading train part and a trailing validation part."""

    tokenizer: CharTokenizer
    train: torch.Tensor  # (N_train,) int64
    val: torch.Tensor  # (N_val,) int64

    @classmethod
    def from_text(cls, text: str, tokenizer: CharTokenizer | None = None, val_fraction: float = 0.1) -> TextData:
        """Split ``text`` at ``1 - val_fraction`` (contiguous, no shuffling: no leakage between the
        parts); a new tokenizer is built from the train part (unseen characters fall back to bytes)."""
        if not 0.0 < val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in (0, 1); got {val_fraction}")
        cut = int(len(text) * (1.0 - val_fraction))
        train_text, val_text = text[:cut], text[cut:]
        tok = tokenizer or CharTokenizer.from_text(train_text)
        return cls(tok, tok.encode_tensor(train_text), tok.encode_tensor(val_text))

    @classmethod
    def from_source(cls, source: str | os.PathLike = "tinyshakespeare", tokenizer: CharTokenizer | None = None,
                    val_fraction: float = 0.1) -> TextData:
        return cls.from_text(read_corpus(source), tokenizer, val_fraction)

    def train_loader(self, batch_size: int, context: int, seed: int = 0) -> DataLoader:
        return DataLoader(RandomBlocks(self.train, batch_size, context, seed), batch_size=None)

    def val_loader(self, batch_size: int, context: int, max_blocks: int | None = None) -> DataLoader:
        return DataLoader(FixedBlocks(self.val, context, max_blocks), batch_size=batch_size, shuffle=False)


class RandomBlocks(IterableDataset):
    """Endless batches ``(x, y)`` of ``batch_size`` random contiguous blocks; ``y`` is ``x`` shifted by one.

    The sampler is seeded, so two models trained with the same seed see the same token stream.
    """

    def __init__(self, tokens: torch.Tensor, batch_size: int, context: int, seed: int = 0):
        if tokens.numel() < context + 2:
            raise ValueError(f"{tokens.numel()} tokens are too few for blocks of {context}")
        self.tokens, self.batch_size, self.context, self.seed = tokens.long(), batch_size, context, seed

    def __iter__(self):
        g = torch.Generator().manual_seed(self.seed)
        span = torch.arange(self.context + 1)
        high = self.tokens.numel() - self.context - 1
        while True:
            starts = torch.randint(0, high + 1, (self.batch_size,), generator=g)
            block = self.tokens[starts[:, None] + span]
            yield block[:, :-1], block[:, 1:]


class FixedBlocks(Dataset):
    """Non-overlapping blocks of a token stream, in order (the same evaluation set for every model).

    With ``max_blocks`` the blocks are spread evenly over the whole stream.
    """

    def __init__(self, tokens: torch.Tensor, context: int, max_blocks: int | None = None):
        n = (tokens.numel() - 1) // context
        if n < 1:
            raise ValueError(f"{tokens.numel()} tokens are too few for one block of {context}")
        idx = torch.arange(n)
        if max_blocks is not None and max_blocks < n:
            idx = torch.linspace(0, n - 1, max_blocks).round().long()
        self.tokens, self.context, self.starts = tokens.long(), context, (idx * context).tolist()

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, i: int):
        s = self.starts[i]
        block = self.tokens[s: s + self.context + 1]
        return block[:-1], block[1:]

"""What every language model here shares: the logit head, sampling and generation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from xlstm_ts._scalars import is_int


def soft_cap(logits: torch.Tensor, cap: float | None) -> torch.Tensor:
    """``cap * tanh(logits / cap)`` (xLSTM-Large's output soft-cap); ``None`` leaves logits alone."""
    return logits if cap is None else cap * torch.tanh(logits / cap)


def state_nbytes(state: Any) -> int:
    """Bytes held by the tensors of a (nested) recurrent state or KV cache."""
    if state is None:
        return 0
    if isinstance(state, torch.Tensor):
        return state.numel() * state.element_size()
    if hasattr(state, "nbytes") and not isinstance(state, (list, tuple, dict)):
        return int(state.nbytes)
    if isinstance(state, dict):
        return sum(state_nbytes(v) for v in state.values())
    return sum(state_nbytes(s) for s in state)


def sample_next(logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """Sample ids ``(B,)`` from ``logits (B, V)``; ``temperature == 0`` is greedy (argmax)."""
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0; got {temperature}")
    if temperature == 0:
        return logits.argmax(-1)
    logits = logits.float() / temperature
    if top_k is not None:
        if top_k < 1:
            raise ValueError(f"top_k must be >= 1; got {top_k}")
        kth = torch.topk(logits, min(top_k, logits.shape[-1]), dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = torch.softmax(logits, dim=-1)
    return torch.multinomial(probs, 1, generator=generator)[:, 0]


class LanguageModel(nn.Module):
    """Base class: subclasses implement ``forward(idx, state=None) -> (logits, state)``,
    ``init_state(batch_size, capacity)`` and ``config_dict()``.

    ``forward`` maps ids ``(B, S)`` to logits ``(B, S, V)``; given a state (from
    :meth:`init_state` or a previous call) it continues from it and returns the new one.
    """

    kind: str = ""

    def init_state(self, batch_size: int, capacity: int | None = None):
        raise NotImplementedError

    def config_dict(self) -> dict:
        raise NotImplementedError

    def num_params(self, exclude_embedding: bool = False) -> int:
        seen, n = set(), 0
        for name, p in self.named_parameters():
            if id(p) in seen or (exclude_embedding and name.startswith(("embedding.", "pos_embedding."))):
                continue
            seen.add(id(p))
            n += p.numel()
        return n

    def prefill(self, idx: torch.Tensor, state=None, chunk_size: int | None = None):
        """Run a prompt ``(B, S)``; returns ``(logits of the last position (B, V), state)``.

        ``chunk_size`` runs the prompt in pieces with the carried state (same result, less
        activation memory for very long prompts).
        """
        if idx.shape[1] == 0:
            raise ValueError("prefill needs at least one prompt token")
        step = chunk_size or idx.shape[1]
        logits = None
        for s in range(0, idx.shape[1], step):
            logits, state = self(idx[:, s: s + step], state)
        return logits[:, -1], state

    def step(self, idx_t: torch.Tensor, state):
        """One token per sequence ``(B,)`` -> ``(logits (B, V), state)``."""
        logits, state = self(idx_t[:, None], state)
        return logits[:, 0], state

    @torch.no_grad()
    def generate(
        self,
        prompt: torch.Tensor | Sequence[int] | str,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        *,
        tokenizer=None,
        generator: torch.Generator | None = None,
        prefill_chunk_size: int | None = None,
    ):
        """Continue ``prompt`` by ``max_new_tokens`` sampled tokens.

        ``prompt``: ids ``(B, S)`` or ``(S,)``, a list of ids, or a string (with ``tokenizer``).
        The prompt is prefilled in one sequence pass, then tokens are produced one step at a
        time from the carried state (recurrent state for xLSTM, KV cache for the Transformer).
        Returns ids of the same layout as ``prompt`` with the new tokens appended (a string
        for a string prompt). ``temperature=0`` is greedy decoding.
        """
        if not is_int(max_new_tokens) or max_new_tokens < 0:
            raise ValueError(f"max_new_tokens must be an integer >= 0; got {max_new_tokens!r}")
        as_text = isinstance(prompt, str)
        if as_text:
            if tokenizer is None:
                raise ValueError("a string prompt needs tokenizer=")
            prompt = tokenizer.encode(prompt)
        idx = torch.as_tensor(prompt, dtype=torch.long, device=self._device())
        squeeze = idx.dim() == 1
        if squeeze:
            idx = idx[None]
        if idx.dim() != 2 or idx.shape[1] == 0:
            raise ValueError(f"prompt must be non-empty ids (B, S) or (S,); got shape {tuple(idx.shape)}")
        was_training = self.training
        self.eval()
        try:
            state = self.init_state(idx.shape[0], capacity=idx.shape[1] + max_new_tokens)
            logits, state = self.prefill(idx, state, prefill_chunk_size)
            out = [idx]
            for t in range(max_new_tokens):
                nxt = sample_next(logits, temperature, top_k, generator)
                out.append(nxt[:, None])
                if t + 1 < max_new_tokens:
                    logits, state = self.step(nxt, state)
        finally:
            self.train(was_training)
        ids = torch.cat(out, dim=1)
        if squeeze:
            ids = ids[0]
        return tokenizer.decode(ids) if as_text else ids

    def _device(self) -> torch.device:
        return next(self.parameters()).device

"""The recurrent state of an :class:`~xlstm_ts.nn.XLSTMStack` as data: batch it, slice it, save it.

A stack state is a list (one entry per block) of nested tuples of tensors (conv histories,
``MLSTMState`` / ``SLSTMState`` named tuples) or ``None``; every tensor has the batch on dim 0.
These helpers treat it as a tree:

- :func:`state_select` / :func:`state_scatter` / :func:`state_cat`: rows of a batched state;
- :func:`flatten_state` / :func:`unflatten_state`: named tensors plus a JSON-able structure, for
  safetensors files (no pickle);
- :func:`state_nbytes`: its size in bytes (independent of how many steps were read).

:class:`StreamState` is what a fitted streaming forecaster keeps per series: the stack state,
the stack output at the last step and the last observed (scaled) values (what the head reads), and
the number of steps read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ..nn.functional import MLSTMState, SLSTMState

_TUPLES = {"MLSTMState": MLSTMState, "SLSTMState": SLSTMState, "tuple": tuple, "list": list}


def _map(state: Any, fn) -> Any:
    if state is None:
        return None
    if isinstance(state, torch.Tensor):
        return fn(state)
    items = [_map(s, fn) for s in state]
    if isinstance(state, tuple) and hasattr(state, "_fields"):
        return type(state)(*items)
    return type(state)(items)


def _map2(a: Any, b: Any, fn) -> Any:
    if a is None:
        return None
    if isinstance(a, torch.Tensor):
        return fn(a, b)
    items = [_map2(x, y, fn) for x, y in zip(a, b, strict=True)]
    if isinstance(a, tuple) and hasattr(a, "_fields"):
        return type(a)(*items)
    return type(a)(items)


def _leaves(state: Any) -> list[torch.Tensor]:
    if state is None:
        return []
    if isinstance(state, torch.Tensor):
        return [state]
    return [t for s in state for t in _leaves(s)]


def state_detach(state: Any) -> Any:
    """A copy cut from the autograd graph (TBPTT carries it to the next segment)."""
    return _map(state, lambda t: t.detach())


def state_select(state: Any, index: torch.Tensor) -> Any:
    """Rows ``index`` (1-D long tensor) of a batched state."""
    return _map(state, lambda t: t.index_select(0, index.to(t.device)))


def state_scatter(state: Any, index: torch.Tensor, rows: Any) -> Any:
    """``state`` with rows ``index`` replaced by ``rows`` (a state of ``len(index)`` rows); a new tree."""
    return _map2(state, rows, lambda t, r: t.index_copy(0, index.to(t.device), r.to(t.dtype)))


def state_cat(states: list[Any]) -> Any:
    """Concatenate states of the same structure along the batch."""
    first = states[0]
    if first is None:
        return None
    if isinstance(first, torch.Tensor):
        return torch.cat(states, 0)
    items = [state_cat([s[i] for s in states]) for i in range(len(first))]
    if isinstance(first, tuple) and hasattr(first, "_fields"):
        return type(first)(*items)
    return type(first)(items)


def state_nbytes(state: Any) -> int:
    """Bytes held by the tensors of ``state``."""
    return sum(t.numel() * t.element_size() for t in _leaves(state))


def state_batch_size(state: Any) -> int:
    leaves = _leaves(state)
    return int(leaves[0].shape[0]) if leaves else 0


def flatten_state(state: Any, prefix: str = "state") -> tuple[dict[str, torch.Tensor], Any]:
    """``(tensors, structure)``: tensors named by their path (``state.0.1.2``) and a JSON-able
    description of the tree that :func:`unflatten_state` rebuilds it from."""
    tensors: dict[str, torch.Tensor] = {}

    def walk(s, path):
        if s is None:
            return None
        if isinstance(s, torch.Tensor):
            tensors[path] = s.detach().cpu().contiguous()
            return "tensor"
        if isinstance(s, tuple) and hasattr(s, "_fields"):
            kind = type(s).__name__
        else:
            kind = "tuple" if isinstance(s, tuple) else "list"
        if kind not in _TUPLES:
            raise TypeError(f"cannot serialise a state node of type {kind}")
        return {"type": kind, "items": [walk(c, f"{path}.{i}") for i, c in enumerate(s)]}

    structure = walk(state, prefix)
    return tensors, structure


def unflatten_state(structure: Any, tensors: dict[str, torch.Tensor], prefix: str = "state") -> Any:
    """Rebuild the state written by :func:`flatten_state`; a missing tensor is a KeyError."""

    def build(node, path):
        if node is None:
            return None
        if node == "tensor":
            return tensors[path]
        if not isinstance(node, dict) or node.get("type") not in _TUPLES:
            raise ValueError(f"bad state structure at {path}: {node!r}")
        items = [build(c, f"{path}.{i}") for i, c in enumerate(node["items"])]
        cls = _TUPLES[node["type"]]
        return cls(*items) if hasattr(cls, "_fields") else cls(items)

    return build(structure, prefix)


@dataclass
class StreamState:
    """What a fitted streaming forecaster keeps for its N series (rows in ``history_`` order).

    Attributes:
        state: batched stack state (N rows).
        last_out: ``(N, E)`` stack output at each series' last step (the head's input).
        recent: ``(N, K, C)`` the last K scaled observations of each series (``K = recent_len`` of
            the model: 1, or its ``linear_window``).
        n_seen: ``(N,)`` steps read per series since its start.
    """

    state: list
    last_out: torch.Tensor
    recent: torch.Tensor
    n_seen: torch.Tensor

    @property
    def nbytes(self) -> int:
        """Bytes of the per-series streaming state (stack state + last output + counter)."""
        return sum(state_nbytes(t) for t in (self.state, self.last_out, self.recent, self.n_seen))

    def copy(self) -> StreamState:
        """A shallow copy (the tensors are never modified in place, only replaced)."""
        return StreamState(state=self.state, last_out=self.last_out, recent=self.recent, n_seen=self.n_seen)

    def set_rows(self, index: torch.Tensor, state: list, last_out: torch.Tensor, new_x: torch.Tensor) -> None:
        """Replace the rows ``index`` after reading the scaled observations ``new_x (n, k, C)``."""
        self.state = state_scatter(self.state, index, state)
        self.last_out = self.last_out.index_copy(0, index, last_out.to(self.last_out.dtype))
        K = self.recent.shape[1]
        recent = torch.cat([self.recent.index_select(0, index), new_x.to(self.recent.dtype)], 1)[:, -K:]
        self.recent = self.recent.index_copy(0, index, recent)
        steps = torch.full((len(index),), new_x.shape[1], dtype=self.n_seen.dtype)
        self.n_seen = self.n_seen.index_add(0, index, steps.to(self.n_seen.dtype))

    def to_tensors(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """Named tensors + JSON metadata for a safetensors file."""
        tensors, structure = flatten_state(self.state, "state")
        tensors["last_out"] = self.last_out.detach().cpu().contiguous()
        tensors["recent"] = self.recent.detach().cpu().contiguous()
        tensors["n_seen"] = self.n_seen.detach().cpu().contiguous()
        return tensors, {"structure": structure, "n_series": int(self.last_out.shape[0])}

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> StreamState:
        # Fresh (aligned) copies: tensors read from a file may sit at addresses for which BLAS picks
        # other kernels, which changes results in the last bit.
        tensors = {k: v.clone() for k, v in tensors.items()}
        state = unflatten_state(meta["structure"], tensors, "state")
        out = cls(state=state, last_out=tensors["last_out"], recent=tensors["recent"], n_seen=tensors["n_seen"])
        n = int(meta["n_series"])
        if (out.last_out.shape[0] != n or out.recent.shape[0] != n or state_batch_size(state) != n
                or out.n_seen.shape != (n,)):
            raise ValueError(f"stream state does not hold {n} series")
        return out

"""Deep merge of nested configuration dicts, in one place.

Presets, bench configs, tuning bases and model hparams are all nested dicts where a layer
overrides some keys of the one below it: nested dicts merge key by key, anything else replaces.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any


def deep_merge(base: Mapping[str, Any], over: Mapping[str, Any] | None, *,
               strict: str | None = None) -> dict[str, Any]:
    """A copy of ``base`` with ``over`` merged in; nested dicts merge, other values replace.

    Args:
        base: the lower layer (not modified).
        over: the layer that wins; None merges nothing.
        strict: when given, a dict in ``base`` may only be overridden by a dict (a scalar
            there is almost always a misplaced value); the ValueError names the key after
            the prefix ``strict`` (e.g. ``"hparam "`` gives "hparam xlstm.'slstm' must be a dict").
    """
    out = copy.deepcopy(dict(base))
    for key, value in (over or {}).items():
        if isinstance(out.get(key), Mapping):
            if isinstance(value, Mapping):
                out[key] = deep_merge(out[key], value, strict=None if strict is None else f"{strict}{key}.")
                continue
            if strict is not None:
                raise ValueError(f"{strict}{key!r} must be a dict; got {type(value).__name__}")
        out[key] = copy.deepcopy(value)
    return out

"""Spelling hints for unknown configuration names, in one place.

Every public entry point that takes names (estimator parameters in YAML, model hparams, bench
and tuning configs, Lightning trainer options) rejects an unknown one with a ValueError that
lists the valid names; :func:`did_you_mean` adds the likely intended name for each typo.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(unknown: Iterable[str], valid: Iterable[str]) -> str:
    """``" (did you mean 'max_epochs' for 'max_epoch'?)"`` for the close matches, else ``""``."""
    choices = [str(v) for v in valid]
    pairs = []
    for name in unknown:
        close = difflib.get_close_matches(str(name), choices, n=1)
        if close:
            pairs.append(f"{close[0]!r} for {str(name)!r}")
    return f" (did you mean {', '.join(pairs)}?)" if pairs else ""

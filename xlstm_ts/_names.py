"""Spelling hints for unknown configuration names, in one place.

Every public entry point that takes names (estimator parameters in YAML, model hparams, bench
and tuning configs, Lightning trainer options) rejects an unknown one with a ValueError that
lists the valid names; :func:`did_you_mean` adds the likely intended name for each typo.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(unknown: Iterable[str], valid: Iterable[str]) -> str:
    """``" (did you mean 'max_epochs'?)"`` for one unknown name with a close match, ``" (did you
    mean 'a' for 'x', 'b' for 'y'?)"`` for several, ``""`` when none is close.

    Case is ignored when matching (``'etth'`` finds ``'ETTh1'``); the hint names the valid spelling.
    """
    unknown = [str(n) for n in unknown]
    by_folded: dict[str, str] = {}
    for v in valid:
        by_folded.setdefault(str(v).casefold(), str(v))
    pairs = []
    for name in unknown:
        close = difflib.get_close_matches(name.casefold(), list(by_folded), n=1)
        if close:
            pairs.append(f"{by_folded[close[0]]!r}" + (f" for {name!r}" if len(unknown) > 1 else ""))
    return f" (did you mean {', '.join(pairs)}?)" if pairs else ""

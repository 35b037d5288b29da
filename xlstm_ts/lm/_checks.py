"""Validation of the study specs (``ParitySpec``, ``SyntheticSpec``) at construction.

A zero or negative size used to surface deep inside a run (a ``ZeroDivisionError`` in the data
loader for ``context=0``, a silent untrained benchmark for ``steps=0``); the specs check their
fields up front so the CLI prints one clear line instead.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from xlstm_ts._scalars import is_int, is_number


def check_positive(spec: object, ints: Iterable[str] = (), floats: Iterable[str] = (),
                   optional: Iterable[str] = ()) -> None:
    """Each field in ``ints`` must be an int >= 1 and each in ``floats`` a finite number > 0;
    a field also named in ``optional`` may be None."""
    kind = type(spec).__name__
    optional = set(optional)
    for name in ints:
        v = getattr(spec, name)
        if v is None and name in optional:
            continue
        if not is_int(v) or v < 1:
            raise ValueError(f"{kind}.{name} must be an integer >= 1; got {v!r}")
    for name in floats:
        v = getattr(spec, name)
        if v is None and name in optional:
            continue
        if is_number(v):
            if math.isfinite(v) and v > 0:
                continue
        raise ValueError(f"{kind}.{name} must be a finite number > 0; got {v!r}")


def check_subset(spec: object, name: str, known: Iterable[str]) -> None:
    """``getattr(spec, name)`` must be a non-empty list of names from ``known``, without repeats."""
    kind = type(spec).__name__
    values, known = list(getattr(spec, name)), list(known)
    if not values:
        raise ValueError(f"{kind}.{name} is empty; choose from {known}")
    unknown = [v for v in values if v not in known]
    if unknown:
        raise ValueError(f"{kind}.{name}: unknown {unknown}; choose from {known}")
    if len(set(values)) != len(values):
        raise ValueError(f"{kind}.{name} names an entry twice: {values}")

"""What counts as an integer or a number in parameters, in one place.

NumPy scalars count (values taken from arrays, ``ParameterGrid``); bools do not, although
``bool`` is an ``int`` subclass (``True`` as a size or ``"false"``-like flags hide mistakes).
"""

from __future__ import annotations

import numbers

import numpy as np


def is_int(x: object) -> bool:
    """A Python or NumPy integer, not a bool."""
    return isinstance(x, numbers.Integral) and not isinstance(x, (bool, np.bool_))


def is_number(x: object) -> bool:
    """A Python or NumPy real number (ints included), not a bool."""
    return isinstance(x, numbers.Real) and not isinstance(x, (bool, np.bool_))

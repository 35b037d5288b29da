"""All-or-nothing file writes: the one helper every output file of the package goes through.

A job killed while it writes (a benchmark cell, a tuning report, a forecast file, a plot) must
leave either the old file or the new one, never a truncated file that a resumed run or a user
would read as valid. Model directories have their own two-rename scheme (:mod:`xlstm_ts.persist`).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["atomic_write", "atomic_write_json", "atomic_write_text"]


def atomic_write(path: str | os.PathLike, write: Callable[[Path], object]) -> Path:
    """Write ``path`` through ``write(tmp)`` into a temporary file beside it, then rename.

    The temporary file sits in the same folder (``os.replace`` is atomic only within one file
    system) and ends in ``.tmp``, so readers that scan a folder for ``*.json`` or ``*.parquet``
    never pick it up; writers that take the format from the name (``savefig``, ``np.savez``)
    must be given it (``format=...``, an open file). It is flushed to disk before the rename;
    on any error, or an interrupt, it is removed and ``path`` is left as it was. Concurrent
    writers (tuning workers, bench processes) each use their own temporary name; the last
    rename wins. The folder is created if missing.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        write(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """:func:`atomic_write` of a UTF-8 text file."""
    return atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any, **dumps_kwargs: Any) -> Path:
    """:func:`atomic_write` of ``json.dumps(obj, **dumps_kwargs)``."""
    return atomic_write_text(path, json.dumps(obj, **dumps_kwargs))

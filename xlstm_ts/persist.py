"""Atomic, pickle-free model directories: ``config.json`` + ``*.safetensors``.

A save writes a complete sibling directory first and then swaps it in with two renames
(``path -> .path.old-PID``, ``tmp -> path``), so an interrupted save leaves the previous model
intact and loadable: killed before the swap, ``path`` is untouched; killed between the two
renames, ``path`` is briefly absent and the previous model sits in ``.path.old-PID``, which
:func:`load_directory` falls back to and the next save moves back first. Leftover temporary
directories of killed saves are removed by the next save. Loading reads JSON and safetensors
only (no pickle, no code execution); a truncated or tampered directory raises a clear
:class:`ModelFileError`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.numpy import load_file as load_numpy
from safetensors.numpy import save_file as save_numpy
from safetensors.torch import load_file as load_torch
from safetensors.torch import save_file as save_torch

FORMAT_VERSION = 1
CONFIG = "config.json"


class ModelFileError(ValueError):
    """A model directory is missing, incomplete, corrupted or from an unknown format."""


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def save_directory(
    path: str | os.PathLike,
    config: dict[str, Any],
    tensors: dict[str, dict[str, torch.Tensor]],
    arrays: dict[str, dict[str, np.ndarray]] | None = None,
) -> Path:
    """Atomically write ``config`` and named groups of tensors/arrays to the directory ``path``.

    Each group becomes ``<group>.safetensors``; the config records the format version and the
    SHA-256 of every file, which :func:`load_directory` verifies.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _recover_interrupted_save(path)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    try:
        files = {}
        for group, tdict in tensors.items():
            f = tmp / f"{group}.safetensors"
            save_torch({k: v.detach().cpu().contiguous() for k, v in tdict.items()}, str(f))
            files[f.name] = _sha256(f)
        for group, adict in (arrays or {}).items():
            f = tmp / f"np_{group}.safetensors"
            save_numpy({k: np.ascontiguousarray(v) for k, v in adict.items()}, str(f))
            files[f.name] = _sha256(f)
        meta = {"format_version": FORMAT_VERSION, "files": files, **config}
        with open(tmp / CONFIG, "w") as fh:
            json.dump(meta, fh, indent=2, default=_json_default)
            fh.flush()
            os.fsync(fh.fileno())
        _fsync_dir(tmp)
        old = None
        if path.exists():
            old = path.with_name(f".{path.name}.old-{os.getpid()}")
            os.replace(path, old)
        os.replace(tmp, path)
        _fsync_dir(path.parent)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def _previous_versions(path: Path) -> list[Path]:
    """Complete previous versions left by a save killed between its two renames, newest first."""
    olds = [p for p in path.parent.glob(f".{path.name}.old-*") if (p / CONFIG).is_file()]
    return sorted(olds, key=lambda p: p.stat().st_mtime, reverse=True)


def _recover_interrupted_save(path: Path) -> None:
    """Before a save: put back a previous version that a killed save left aside, and drop the
    temporary directories of killed saves (never the live directory)."""
    if not path.exists():
        olds = _previous_versions(path)
        if olds:
            os.replace(olds[0], path)
    for leftover in list(path.parent.glob(f".{path.name}.tmp-*")) + list(path.parent.glob(f".{path.name}.old-*")):
        shutil.rmtree(leftover, ignore_errors=True)


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"{type(o).__name__} is not JSON serialisable")


def load_directory(path: str | os.PathLike) -> tuple[dict[str, Any], dict[str, dict]]:
    """Read a directory written by :func:`save_directory`; returns ``(config, groups)``.

    Tensor groups come back as torch tensors on the CPU (a GPU-trained model loads anywhere),
    array groups (written from numpy) as numpy arrays.
    """
    path = Path(path)
    if not path.exists() and _previous_versions(path):
        path = _previous_versions(path)[0]  # a save was killed between its two renames
    cfg_file = path / CONFIG
    if not path.is_dir():
        raise ModelFileError(f"no model directory at {str(path)!r}")
    if not cfg_file.is_file():
        raise ModelFileError(f"{str(path)!r} is not a model directory: {CONFIG} is missing (interrupted save?)")
    try:
        config = json.loads(cfg_file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ModelFileError(f"{cfg_file} is corrupted: {e}") from None
    if not isinstance(config, dict) or config.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(
            f"{cfg_file} has format_version {config.get('format_version') if isinstance(config, dict) else None!r}; "
            f"this xlstm-ts reads version {FORMAT_VERSION}"
        )
    groups = {}
    for name, digest in config.get("files", {}).items():
        f = path / name
        if not f.is_file():
            raise ModelFileError(f"{f} is missing")
        if _sha256(f) != digest:
            raise ModelFileError(f"{f} does not match its checksum in {CONFIG}: the file is truncated or was modified")
        try:
            key = name.removesuffix(".safetensors")
            if key.startswith("np_"):
                groups[key[3:]] = load_numpy(str(f))
            else:
                groups[key] = load_torch(str(f), device="cpu")
        except (SafetensorError, OSError) as e:
            raise ModelFileError(f"{f} cannot be read: {e}") from None
    return config, groups

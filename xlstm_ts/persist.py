"""Atomic, pickle-free model directories: ``config.json`` + ``*.safetensors``.

A save writes a complete sibling directory first and then swaps it in with two renames
(``path -> .path.old-PID``, ``tmp -> path``), so an interrupted save leaves the previous model
intact and loadable: killed before the swap, ``path`` is untouched; killed between the two
renames, ``path`` is briefly absent and the previous model sits in ``.path.old-PID``, which
:func:`load_directory` falls back to and the next save moves back first. Leftover temporary
directories of killed saves are removed by the next save. Loading reads JSON and safetensors
only (no pickle, no code execution); a truncated or tampered directory raises a clear
:class:`ModelFileError`.

A save replaces only what a save wrote: an existing ``path`` must be a model directory (its
``config.json`` carries the format marker) or an empty directory. Anything else there (a file,
a directory of other data, the working directory or one holding it) is refused with
:class:`FileExistsError` before anything is written, since the swap deletes the old directory.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
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
    SHA-256 of every file, which :func:`load_directory` verifies. Returns the absolute path.

    Raises:
        FileExistsError: ``path`` exists and is not replaceable (see the module docstring);
            nothing was written.
    """
    path = check_save_target(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _recover_interrupted_save(path)
    # mkdir, not tempfile.mkdtemp: the saved directory gets the umask's permissions like any
    # other directory the user creates (mkdtemp's are 0700, unreadable to the rest of a team).
    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:12]}")
    tmp.mkdir()
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


def check_save_target(path: str | os.PathLike) -> Path:
    """The absolute directory a save to ``path`` writes; raises :class:`FileExistsError` if the
    save would have to replace something it did not write (see the module docstring). Callers
    with a long job before the save (``xlstm-ts fit``) check first.

    ``"."``, ``".."`` and symlinks are resolved: the swap renames the real directory and names
    its siblings after it. The working directory and those holding it are refused: replacing
    one would move the working directory away (and delete it with the old version).
    """
    target = Path(path).resolve()
    try:
        cwd = Path.cwd().resolve()
    except OSError:  # the working directory was removed: nothing to protect
        cwd = None
    if cwd is not None and (target == cwd or target in cwd.parents):
        raise FileExistsError(
            f"cannot save a model to {str(target)!r}: it is the current working directory or holds it, "
            f"and a save replaces its target directory; nothing was written. Save to a subdirectory "
            f"such as {str(target / 'model')!r}")
    if not target.exists():
        return target
    if not target.is_dir():
        raise FileExistsError(f"cannot save a model to {str(target)!r}: a file of that name exists; "
                              f"nothing was written")
    if any(target.iterdir()) and not _is_model_directory(target):
        raise FileExistsError(
            f"cannot save a model to {str(target)!r}: it is a non-empty directory that is not an "
            f"xlstm-ts model directory (no {CONFIG} with a format_version), and a save would replace "
            f"it whole; nothing was written. Save to a new or empty directory, or remove it first")
    return target


def _is_model_directory(path: Path) -> bool:
    """Whether ``path`` was written by :func:`save_directory` (of any format version): its
    ``config.json`` is an object with an integer ``format_version`` and a ``files`` table."""
    try:
        config = json.loads((path / CONFIG).read_text())
    except (OSError, ValueError):  # missing, unreadable, not JSON (JSONDecodeError, UnicodeDecodeError)
        return False
    return (isinstance(config, dict) and isinstance(config.get("format_version"), int)
            and isinstance(config.get("files"), dict))


def _siblings(path: Path, kind: str) -> list[Path]:
    """The ``.<name>.<kind>-*`` entries beside ``path``, matched literally (as a glob pattern,
    ``[...]`` in the name would be a character class: other models' leftovers, and not its own)."""
    prefix = f".{path.name}.{kind}-"
    try:
        return [p for p in path.parent.iterdir() if p.name.startswith(prefix)]
    except OSError:  # no parent directory: nothing beside it
        return []


def _previous_versions(path: Path) -> list[Path]:
    """Complete previous versions left by a save killed between its two renames, newest first."""
    olds = [p for p in _siblings(path, "old") if (p / CONFIG).is_file()]
    return sorted(olds, key=lambda p: p.stat().st_mtime, reverse=True)


def _recover_interrupted_save(path: Path) -> None:
    """Before a save: put back a previous version that a killed save left aside, and drop the
    temporary directories of killed saves (never the live directory)."""
    if not path.exists():
        olds = _previous_versions(path)
        if olds:
            os.replace(olds[0], path)
    for leftover in _siblings(path, "tmp") + _siblings(path, "old"):
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
    files = config.get("files")
    if not isinstance(files, dict):
        raise ModelFileError(f"{cfg_file}: 'files' must be an object mapping file names to SHA-256 digests; "
                             f"got {type(files).__name__}")
    for name, digest in files.items():
        # Plain names only: an edited entry must not make load read a file outside the directory.
        if not (name.endswith(".safetensors") and Path(name).name == name and isinstance(digest, str)):
            raise ModelFileError(f"{cfg_file}: 'files' entry {name!r}: {digest!r} is not a .safetensors file "
                                 f"name of this directory with its SHA-256 digest")
    groups = {}
    for name, digest in files.items():
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

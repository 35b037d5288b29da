"""Reuse finished tuning cells as cells of a preset, when they are the same run.

After a tuning grid picks a variant and a preset adopts it, the seed the tuning grid already ran
need not be recomputed: :func:`adopt_cells` copies each tuning cell (result JSON and sample
arrays) to the preset's cell path under the preset's label and signature, **only if** dataset,
protocol, target, look-back, horizon, seed, model, fully resolved hyper-parameters and training
settings are identical — the label is the only difference. Anything else raises ``ValueError``
before a file is written. The copy records where it came from (``adopted_from``).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from xlstm_ts._atomic import atomic_write
from xlstm_ts.bench.config import ENSEMBLE, Cell
from xlstm_ts.bench.runner import cell_path, samples_path, write_json_atomic
from xlstm_ts.models.registry import resolved_hparams

__all__ = ["adopt_cells", "copy_file_atomic"]


def copy_file_atomic(src: Path, dst: Path) -> None:
    """Copy ``src`` to ``dst``, never leaving a half-written file."""
    atomic_write(dst, lambda tmp: shutil.copyfile(src, tmp))


def _canon(x: Any) -> str:
    return json.dumps(x, sort_keys=True, default=str)


def _differences(row: dict[str, Any], cell: Cell) -> list[str]:
    want = {"dataset": cell.dataset, "protocol": cell.protocol, "target": cell.target,
            "lookback": cell.lookback, "horizon": cell.horizon, "seed": cell.seed, "model": cell.model,
            "hparams": resolved_hparams(cell.model, cell.hparams), "train": cell.train,
            "val_fold": cell.val_fold}
    got = {k: row.get(k) for k in want}
    got["val_fold"] = int(row.get("val_fold") or 0)  # protocol cells carry no val_fold
    try:
        got["hparams"] = resolved_hparams(row.get("model"), row.get("hparams") or {})
    except (KeyError, ValueError, TypeError):
        pass  # unresolvable: compared as stored, so it differs
    return [k for k in want if _canon(want[k]) != _canon(got[k])]


def adopt_cells(cells: Iterable[Cell], src_dir: str | Path, src_label: str, out_dir: str | Path) -> list[Cell]:
    """Copy the finished ``src_label`` cells of ``src_dir`` that match ``cells`` into ``out_dir``.

    ``cells`` are the preset's cells (:func:`~xlstm_ts.bench.config.expand_cells`); a cell
    without a finished tuning counterpart is left alone (the grid runs it). Returns the adopted
    cells; raises ``ValueError`` naming the fields when a counterpart is a different run.
    """
    src_dir, out_dir = Path(src_dir), Path(out_dir)
    todo = []
    for cell in cells:
        if cell.model == ENSEMBLE:
            raise ValueError(f"{cell.describe()}: an ensemble is not adopted (it points at its own "
                             "members' stored forecasts); adopt its members, then run the ensemble label "
                             "(it only scores their forecasts)")
        src_cell = dataclasses.replace(cell, label=src_label)
        src = cell_path(src_dir, src_cell)
        if not src.is_file():
            continue
        row = json.loads(src.read_text())
        if row.get("status") != "ok":
            continue
        diff = _differences(row, cell)
        if diff:
            raise ValueError(f"{cell.describe()}: the run of {src_label!r} in {src_dir} differs in {diff}; "
                             "only identical runs can be adopted")
        todo.append((cell, src_cell, row))
    for cell, src_cell, row in todo:
        write_json_atomic(cell_path(out_dir, cell), {**row, "label": cell.label, "signature": cell.signature(),
                                                     "adopted_from": f"{src_dir} ({src_label})"})
        s_src = samples_path(src_dir, src_cell)
        if s_src.is_file():
            copy_file_atomic(s_src, samples_path(out_dir, cell))
    return [c for c, _, _ in todo]

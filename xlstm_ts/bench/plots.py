"""PNG plots of sample test windows (target channel, standardised scale), one file per
(dataset, H) over every given output directory: the first, middle and last test window, truth
and each model's forecast. The sample windows do not depend on the look-back (test spans start
``L`` rows early), so models with different look-backs share a plot; those off the shared
look-back (:func:`~xlstm_ts.bench.tables.shared_lookback`) are labelled ``label (L=...)``."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from xlstm_ts._atomic import atomic_write
from xlstm_ts.bench.runner import SAMPLES_DIR
from xlstm_ts.bench.tables import shared_lookback

__all__ = ["plot_samples"]


def _collect(out_dirs: Iterable[Path]) -> dict[tuple[str, int], dict[tuple[str, int], dict[str, np.ndarray]]]:
    """``{(dataset, H): {(label, L): arrays of its lowest seed}}`` from the saved ``.npz`` files
    (the first directory holding a (dataset, H, label, L) wins)."""
    found: dict[tuple[str, int], dict[tuple[str, int], tuple[int, Path]]] = {}
    for d in out_dirs:
        root = Path(d) / SAMPLES_DIR
        own: dict[tuple[str, int, str, int], tuple[int, Path]] = {}
        for p in sorted(root.rglob("seed*.npz")):
            try:
                label_dir = p.parent
                H = int(label_dir.parent.name[1:])
                L = int(label_dir.parent.parent.name[1:])
                ds = label_dir.parent.parent.parent.name
                seed = int(p.stem[4:])
            except (ValueError, IndexError):
                continue
            key = (ds, H, label_dir.name, L)
            if key not in own or seed < own[key][0]:
                own[key] = (seed, p)
        for (ds, H, lab, L), hit in own.items():
            found.setdefault((ds, H), {}).setdefault((lab, L), hit)
    out = {}
    for key, models in found.items():
        out[key] = {}
        for lk, (_seed, p) in sorted(models.items()):
            with np.load(p) as z:
                out[key][lk] = {k: z[k] for k in z.files}
    return out


def plot_samples(out_dirs: Iterable[str | Path], plot_dir: str | Path) -> list[Path]:
    """Write ``<plot_dir>/<dataset>_L<L>_H<H>.png`` (L: the look-back the plot's models share);
    returns the paths."""
    from xlstm_ts.plotting import agg_figure

    plot_dir = Path(plot_dir)
    paths = []
    for (ds, H), by_model in sorted(_collect(map(Path, out_dirs)).items()):
        common = shared_lookback(L for _, L in by_model)
        first = next(arr for (_, L), arr in by_model.items() if L == common)
        # guard: only models scored on the same sample windows share the plot
        by_model = {k: a for k, a in by_model.items() if np.array_equal(a["index"], first["index"])}
        n = len(first["y"])
        fig, axes = agg_figure((10, 2.6 * n), n)
        hist = min(common, 2 * H)
        for k in range(n):
            ax = axes[k, 0]
            x, y = first["x"][k][-hist:], first["y"][k]
            ax.plot(np.arange(-len(x), 0), x, color="0.4", lw=1, label="look-back (last steps)")
            ax.plot(np.arange(H), y, color="black", lw=1.4, label="truth")
            for (lab, L), arr in by_model.items():
                ax.plot(np.arange(H), arr["yhat"][k], lw=1.1, label=lab if L == common else f"{lab} (L={L})")
            row = int(first["first_target_row"][k]) if "first_target_row" in first else None
            ax.set_title(f"{ds} test window {int(first['index'][k])} (first target row {row}), "
                         f"target channel, L={common}, H={H}", fontsize=9)
            ax.axvline(0, color="0.7", lw=0.8, ls="--")
            ax.set_ylabel("z-score")
            if k == 0:
                ax.legend(fontsize=7, ncol=4, loc="upper left")
        axes[-1, 0].set_xlabel("steps relative to the forecast origin")
        fig.tight_layout()
        plot_dir.mkdir(parents=True, exist_ok=True)
        path = plot_dir / f"{ds}_L{common}_H{H}.png"
        atomic_write(path, lambda p, fig=fig: fig.savefig(p, dpi=90, format="png"))
        paths.append(path)
    return paths

"""PNG plots of sample test windows (target channel, standardised scale), one file per
(dataset, L, H): the first, middle and last test window, truth and each model's forecast."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from xlstm_ts.bench.runner import SAMPLES_DIR

__all__ = ["plot_samples"]


def _collect(out_dir: Path) -> dict[tuple[str, int, int], dict[str, dict[str, np.ndarray]]]:
    """``{(dataset, L, H): {label: arrays of its lowest seed}}`` from the saved ``.npz`` files."""
    found: dict[tuple[str, int, int], dict[str, tuple[int, Path]]] = {}
    root = Path(out_dir) / SAMPLES_DIR
    for p in sorted(root.rglob("seed*.npz")):
        try:
            label_dir = p.parent
            H = int(label_dir.parent.name[1:])
            L = int(label_dir.parent.parent.name[1:])
            ds = label_dir.parent.parent.parent.name
            seed = int(p.stem[4:])
        except (ValueError, IndexError):
            continue
        slot = found.setdefault((ds, L, H), {})
        if label_dir.name not in slot or seed < slot[label_dir.name][0]:
            slot[label_dir.name] = (seed, p)
    out = {}
    for key, labels in found.items():
        out[key] = {}
        for lab, (_seed, p) in sorted(labels.items()):
            with np.load(p) as z:
                out[key][lab] = {k: z[k] for k in z.files}
    return out


def plot_samples(out_dir: str | Path, plot_dir: str | Path | None = None) -> list[Path]:
    """Write ``plots/<dataset>_L<L>_H<H>.png``; returns the paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plot_dir = Path(plot_dir) if plot_dir is not None else Path(out_dir) / "plots"
    paths = []
    for (ds, L, H), by_label in sorted(_collect(Path(out_dir)).items()):
        first = next(iter(by_label.values()))
        n = len(first["y"])
        fig, axes = plt.subplots(n, 1, figsize=(10, 2.6 * n), squeeze=False)
        hist = min(L, 2 * H)
        for k in range(n):
            ax = axes[k, 0]
            x, y = first["x"][k][-hist:], first["y"][k]
            t_hist = np.arange(-len(x), 0)
            t_fut = np.arange(H)
            ax.plot(t_hist, x, color="0.4", lw=1, label="look-back (last steps)")
            ax.plot(t_fut, y, color="black", lw=1.4, label="truth")
            for lab, arr in by_label.items():
                ax.plot(t_fut, arr["yhat"][k], lw=1.1, label=lab)
            row = int(first["first_target_row"][k]) if "first_target_row" in first else None
            ax.set_title(f"{ds} test window {int(first['index'][k])} (first target row {row}), "
                         f"target channel, L={L}, H={H}", fontsize=9)
            ax.axvline(0, color="0.7", lw=0.8, ls="--")
            ax.set_ylabel("z-score")
            if k == 0:
                ax.legend(fontsize=7, ncol=4, loc="upper left")
        axes[-1, 0].set_xlabel("steps relative to the forecast origin")
        fig.tight_layout()
        plot_dir.mkdir(parents=True, exist_ok=True)
        path = plot_dir / f"{ds}_L{L}_H{H}.png"
        fig.savefig(path, dpi=90)
        plt.close(fig)
        paths.append(path)
    return paths

"""save_plots leaves the user's matplotlib session as it was (backend, style, open figures)."""

from __future__ import annotations

import matplotlib
import matplotlib.pyplot as plt
import optuna

from xlstm_ts.tuning.report import param_importances, save_plots


def _study() -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(lambda t: (t.suggest_float("x", -1, 1) - 0.2) ** 2 + t.suggest_int("n", 1, 3), n_trials=6)
    return study


def test_save_plots_keeps_backend_style_and_user_figures(tmp_path):
    backend = matplotlib.get_backend()
    rc_before = dict(matplotlib.rcParams)
    user_fig = plt.figure()
    try:
        study = _study()
        imp, _ = param_importances(study)
        files, skipped = save_plots(study, tmp_path, imp)
        assert set(files) == {"optimization_history", "parallel_coordinate", "param_importances"}, skipped
        assert all(p.stat().st_size > 0 for p in files.values())
        assert matplotlib.get_backend() == backend
        # optuna applies the ggplot style while drawing; none of it may stay behind
        changed = {k for k, v in matplotlib.rcParams.items() if str(rc_before.get(k)) != str(v)}
        assert not changed, sorted(changed)[:5]
        assert plt.get_fignums() == [user_fig.number]   # ours closed, the user's still open
    finally:
        plt.close(user_fig)


def test_failed_plot_closes_only_its_own_figures(tmp_path, monkeypatch):
    from optuna.visualization import matplotlib as ovm

    def broken(study):
        plt.figure()
        raise RuntimeError("boom")

    monkeypatch.setattr(ovm, "plot_parallel_coordinate", broken)
    user_fig = plt.figure()
    try:
        files, skipped = save_plots(_study(), tmp_path)
        assert "optimization_history" in files
        assert skipped["parallel_coordinate"] == "RuntimeError: boom"
        assert plt.get_fignums() == [user_fig.number]
    finally:
        plt.close(user_fig)

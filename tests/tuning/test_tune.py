"""tune() in one process: results and refit, resume, pruning, failures, recovery of lost trials."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import warnings

import optuna
import pandas as pd
import pytest
import yaml

from xlstm_ts import XLSTMForecaster
from xlstm_ts.tuning import count_trials, open_storage, resolve_storage, tune, tune_estimator
from xlstm_ts.tuning.cli import main as cli_main

from .helpers import InterruptOnce, TakeOverOnce

RANDOM = {"name": "random"}


def test_results_refit_save_load(df, base, space, tmp_path):
    res = tune(df, space, n_trials=3, base_params=base, out_dir=tmp_path, sampler=RANDOM, pruner="none", seed=1)
    assert res.ran == 3 and len(res.trials) == 3
    assert set(res.trials["state"]) == {"COMPLETE"}
    assert res.best_value == res.trials["value"].min()
    assert res.best_params == res.study.best_trial.params
    assert res.best_estimator_params["learning_rate"] == res.best_params["learning_rate"]
    # every result file is there
    for name in ("study.db", "trials.csv", "trials.parquet", "best.json", "importances.json",
                 "optimization_history.png", "parallel_coordinate.png"):
        assert (tmp_path / name).is_file(), name
    csv, pq = pd.read_csv(tmp_path / "trials.csv"), pd.read_parquet(tmp_path / "trials.parquet")
    assert list(csv["number"]) == list(pq["number"]) == [0, 1, 2]
    assert {"state", "value", "epochs", "param.learning_rate", "param.use_slstm"} <= set(pq.columns)
    best = json.loads((tmp_path / "best.json").read_text())
    assert best["best_trial"] == res.study.best_trial.number and best["trials"]["done"] == 3
    # importances: a dict, or a note saying why not
    imp = json.loads((tmp_path / "importances.json").read_text())
    assert imp["importances"] or imp["note"]
    # refit on train + validation for the best epoch count, saved and loadable
    est = res.estimator
    assert est.val_size == 0 and est.max_epochs == res.study.best_trial.user_attrs["best_epoch"] + 1
    assert res.model_path == tmp_path / "model"
    again = XLSTMForecaster.load(res.model_path)
    pd.testing.assert_frame_equal(again.predict(), est.predict())
    # rerun with nothing new to try: the saved model is reused, not trained again
    rerun = tune(df, space, n_trials=3, base_params=base, out_dir=tmp_path, plots=False)
    assert rerun.ran == 0 and "kept out_dir/model" in rerun.notes["refit"]
    pd.testing.assert_frame_equal(rerun.estimator.predict(), est.predict())


def test_tune_estimator_uses_its_settings_as_base(df, base, space, tmp_path):
    est = XLSTMForecaster(**base)
    res = tune_estimator(est, df, space, n_trials=1, out_dir=tmp_path, pruner="none", refit=False, plots=False)
    params = res.best_estimator_params
    assert params["horizon"] == 12 and params["max_epochs"] == 3 and params["trainer_kwargs"] == base["trainer_kwargs"]
    assert "verbose" not in params  # left at its default: not part of the base


def test_importances_with_too_few_trials(df, base, space, tmp_path):
    res = tune(df, space, n_trials=1, base_params=base, out_dir=tmp_path, pruner="none", refit=False)
    assert res.importances == {} and "at least 2 complete trials" in res.notes["importances"]
    assert res.estimator is None and res.model_path is None
    assert (tmp_path / "optimization_history.png").is_file()


def test_resume_runs_only_the_missing_trials(df, base, space, tmp_path):
    kw = dict(base_params=base, out_dir=tmp_path, sampler=RANDOM, pruner="none", refit=False, seed=0, plots=False)
    first = tune(df, space, n_trials=2, **kw)
    assert first.ran == 2
    same = tune(df, space, n_trials=2, **kw)  # the same command again: nothing to do
    assert same.ran == 0 and len(same.trials) == 2
    more = tune(df, space, n_trials=4, **kw)
    assert more.ran == 2 and list(more.trials["number"]) == [0, 1, 2, 3]
    lrs = more.trials["param.learning_rate"].tolist()
    assert len(set(lrs)) == 4  # a resumed run does not replay the first run's random draws
    with pytest.raises(ValueError, match="direction"):
        tune(df, space, n_trials=4, direction="maximize", **kw)


def test_pruned_trials_stop_early(df, base, tmp_path):
    # Two good configurations first, then ones that cannot learn (lr 1e-7): the median pruner
    # stops those after their first epoch, well before max_epochs.
    space = {"learning_rate": {"type": "categorical", "choices": [1e-2, 1e-7]}}
    res = tune(df, space, n_trials=4, base_params=base, out_dir=tmp_path, sampler=RANDOM, refit=False, plots=False,
               pruner={"name": "median", "n_startup_trials": 2, "n_warmup_steps": 0},
               enqueue=[{"learning_rate": 1e-2}, {"learning_rate": 1e-2},
                        {"learning_rate": 1e-7}, {"learning_rate": 1e-7}])
    t = res.trials.set_index("number")
    assert list(t["state"]) == ["COMPLETE", "COMPLETE", "PRUNED", "PRUNED"]
    max_epochs = base["max_epochs"]
    assert (t.loc[[0, 1], "epochs"] == max_epochs).all()
    assert (t.loc[[2, 3], "epochs"] < max_epochs).all()
    for trial in res.study.trials:
        n_reports = len(trial.intermediate_values)
        assert n_reports == (max_epochs if trial.state == optuna.trial.TrialState.COMPLETE else t.loc[trial.number, "epochs"])


def test_hyperband_pruner_runs(df, base, space, tmp_path):
    res = tune(df, space, n_trials=3, base_params=base, out_dir=tmp_path, pruner="hyperband", refit=False, plots=False)
    assert isinstance(res.study.pruner, optuna.pruners.HyperbandPruner)
    assert set(res.trials["state"]) <= {"COMPLETE", "PRUNED"} and len(res.trials) == 3


def test_raising_and_nan_trials_fail_with_reason_and_the_study_goes_on(df, base, tmp_path):
    space = {
        "model_params.patch_len": {"type": "categorical", "choices": {"ok": 8, "bad": 0}},
        "learning_rate": {"type": "categorical", "choices": {"ok": 1e-3, "nan": 1e30}},
    }
    res = tune(df, space, n_trials=3, base_params=base, out_dir=tmp_path, pruner="none", plots=False,
               enqueue=[{"model_params.patch_len": "bad", "learning_rate": "ok"},
                        {"model_params.patch_len": "ok", "learning_rate": "nan"},
                        {"model_params.patch_len": "ok", "learning_rate": "ok"}])
    t = res.trials.set_index("number")
    assert list(t["state"]) == ["FAIL", "FAIL", "COMPLETE"]
    assert "patch_len" in t.loc[0, "fail_reason"] and "ValueError" in t.loc[0, "fail_reason"]
    assert "non-finite" in t.loc[1, "fail_reason"] and "nan" in t.loc[1, "fail_reason"].lower()
    assert res.study.trials[0].user_attrs["fail_reason"] == t.loc[0, "fail_reason"]
    assert res.best_params == {"model_params.patch_len": "ok", "learning_rate": "ok"}
    assert res.estimator is not None
    # failed trials count towards n_trials: a rerun does not repeat them
    assert tune(df, space, n_trials=3, base_params=base, out_dir=tmp_path, refit=False, plots=False).ran == 0


def test_all_trials_failing_gives_no_best(df, base, tmp_path):
    space = {"model_params.patch_len": {"type": "categorical", "choices": [8]}}
    res = tune(df, space, n_trials=1, base_params={**base, "learning_rate": 1e30}, out_dir=tmp_path, pruner="none",
               plots=False)
    assert list(res.trials["state"]) == ["FAIL"]
    assert res.best_params is None and res.estimator is None and res.notes["best"] == "no complete trial"


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


@pytest.mark.parametrize("storage", [None, "journal"])
def test_trial_of_a_dead_worker_is_failed_and_retried(df, base, space, tmp_path, storage):
    # What a worker killed mid-trial leaves behind: a RUNNING trial tagged with its host:pid.
    st = None if storage is None else f"journal:{tmp_path / 'study.journal'}"
    kw = dict(base_params=base, out_dir=tmp_path, storage=st, pruner="none", refit=False, plots=False)
    tune(df, space, n_trials=0, **kw)  # creates the study
    backend = open_storage(resolve_storage(st, tmp_path))
    study = optuna.load_study(study_name="xlstm-ts", storage=backend)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "heartbeat is supposed to be used with optimize": we fake a worker
        lost = study.ask()
    lr = lost.suggest_float("learning_rate", 1e-4, 1e-2, log=True)
    lost.set_user_attr("worker", f"{socket.gethostname()}:{_dead_pid()}")

    res = tune(df, space, n_trials=2, **kw)
    t = res.trials.set_index("number")
    assert t.loc[0, "state"] == "FAIL" and "died" in t.loc[0, "fail_reason"]
    retry = t[t["retry_of"] == 0]
    assert len(retry) == 1 and retry["state"].iloc[0] == "COMPLETE"
    assert retry["param.learning_rate"].iloc[0] == pytest.approx(lr)  # the same configuration again
    assert t.loc[0, "retried_as"] == retry.index[0]
    c = count_trials(res.study)
    assert c.done == 2 and c.running == 0 and c.waiting == 0  # the lost trial does not eat the budget


@pytest.fixture
def default_sigint():
    """Python's own Ctrl-C handler for the test (a background ``nohup ... &`` run starts with
    SIGINT ignored), the original one back afterwards."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield signal.default_int_handler
    signal.signal(signal.SIGINT, before)


def test_interrupted_trial_is_queued_again_on_resume(df, base, space, tmp_path, default_sigint):
    marker = tmp_path / "interrupt-once"
    marker.touch()
    base["trainer_kwargs"] = {**base["trainer_kwargs"], "callbacks": [InterruptOnce(str(marker))]}
    kw = dict(base_params=base, out_dir=tmp_path, pruner="none", refit=False, plots=False)
    with pytest.raises(KeyboardInterrupt):
        tune(df, space, n_trials=2, **kw)
    assert signal.getsignal(signal.SIGINT) is default_sigint  # Ctrl-C works again afterwards
    res = tune(df, space, n_trials=2, **kw)  # the same command again
    t = res.trials.set_index("number")
    assert t.loc[0, "state"] == "FAIL" and t.loc[0, "fail_reason"].startswith("interrupted")
    retry = t[t["retry_of"] == 0]
    assert len(retry) == 1 and retry["state"].iloc[0] == "COMPLETE"
    assert retry["param.learning_rate"].iloc[0] == t.loc[0, "param.learning_rate"]
    assert count_trials(res.study).done == 2 and len(t) == 3


def test_heartbeat_stale_trial_is_failed_and_retried(df, base, space, tmp_path):
    # A worker on another machine stopped sending heartbeats (RDB storage): after grace_period
    # its trial is failed and queued again by the next worker.
    kw = dict(base_params=base, out_dir=tmp_path, pruner="none", refit=False, plots=False, heartbeat_interval=1,
              grace_period=1)
    tune(df, space, n_trials=0, **kw)
    backend = open_storage(resolve_storage(None, tmp_path, heartbeat_interval=1, grace_period=1))
    study = optuna.load_study(study_name="xlstm-ts", storage=backend)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "heartbeat is supposed to be used with optimize": we fake a worker
        lost = study.ask()
    lost.suggest_float("learning_rate", 1e-4, 1e-2, log=True)
    lost.set_user_attr("worker", "another-machine:12345")
    backend.record_heartbeat(lost._trial_id)
    time.sleep(2.5)
    res = tune(df, space, n_trials=2, **kw)
    t = res.trials.set_index("number")
    assert t.loc[0, "state"] == "FAIL" and "heartbeat" in t.loc[0, "fail_reason"]
    assert (t["retry_of"] == 0).sum() == 1
    assert count_trials(res.study).done == 2


def test_trial_taken_over_by_another_worker_does_not_stop_this_one(df, base, space, tmp_path):
    # Another worker failed this worker's running trial as stale (its heartbeat was late, e.g. on
    # an overloaded machine) and queued it again: this worker drops the result and goes on.
    marker = tmp_path / "take-over-once"
    marker.touch()
    out = tmp_path / "out"
    url = f"sqlite:///{(out / 'study.db').resolve()}"
    base["trainer_kwargs"] = {**base["trainer_kwargs"], "callbacks": [TakeOverOnce(str(marker), url, "xlstm-ts")]}
    base["max_epochs"] = 1
    res = tune(df, space, n_trials=2, base_params=base, out_dir=out, pruner="none", refit=False, plots=False)
    t = res.trials.set_index("number")
    assert list(t["state"]) == ["FAIL", "COMPLETE", "COMPLETE"]
    assert t.loc[1, "retry_of"] == 0 and res.ran == 3
    c = count_trials(res.study)
    assert c.done == 2 and c.running == 0 and c.waiting == 0


def test_recovery_tells_a_reused_pid_and_another_pid_namespace(tmp_path):
    # A RUNNING trial is failed only when its worker is certainly gone: a live process with the
    # worker's pid but another start time reused the pid; a tag from another pid namespace (a
    # container with the same host name) is left to the heartbeat.
    from xlstm_ts.tuning.storage import _pid_namespace, _start_time, recover_dead_trials, worker_tag

    host, ns, ppid = worker_tag().rpartition(":")[0], _pid_namespace(), os.getppid()
    if ns is None or _start_time(ppid) is None:
        pytest.skip("needs Linux /proc")
    study = optuna.create_study()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trials = [study.ask() for _ in range(4)]
    for t, proc in zip(trials, [f"{ns}/{_start_time(ppid)}", f"{ns}/1", f"other-boot/1/{_start_time(ppid)}", None],
                       strict=True):
        t.suggest_float("x", 0.0, 1.0)
        t.set_user_attr("worker", f"{host}:{ppid}")
        if proc is not None:
            t.set_user_attr("worker_proc", proc)
    assert recover_dead_trials(study) == [1]  # only the reused pid
    states = [t.state.name for t in study.get_trials()]
    assert states == ["RUNNING", "FAIL", "RUNNING", "RUNNING", "WAITING"]


def test_bad_arguments(df, base, space, tmp_path):
    with pytest.raises(ValueError, match="unknown metric"):
        tune(df, space, metric="accuracy", base_params=base, out_dir=tmp_path)
    with pytest.raises(ValueError, match="n_workers"):
        tune(df, space, n_workers=0, base_params=base, out_dir=tmp_path)
    with pytest.raises(ValueError, match="shareable|share"):
        tune(df, space, n_workers=2, storage="memory", base_params=base, out_dir=tmp_path)
    with pytest.raises(ValueError, match="needs a validation split"):
        tune(df, space, base_params={**base, "val_size": 0}, out_dir=tmp_path)
    with pytest.raises(ValueError, match="not a valid model"):
        tune(df, space, base_params={**base, "model_params": {"xlstm": {"depth": 2}}}, out_dir=tmp_path)
    loss_space = {"loss": {"type": "categorical", "choices": ["mse", "mae"]}}
    with pytest.raises(ValueError, match="valid_loss"):
        tune(df, loss_space, base_params=base, out_dir=tmp_path)
    with pytest.raises(ValueError, match="fix valid_loss"):
        tune(df, {"valid_loss": {"type": "categorical", "choices": ["mse", "mae"]}}, base_params=base,
             out_dir=tmp_path)
    # scored on one loss for every trial: accepted (0 trials: only the checks run)
    tune(df, loss_space, n_trials=0, base_params={**base, "valid_loss": "mse"}, out_dir=tmp_path / "ok",
         refit=False, plots=False)
    with pytest.raises(ValueError, match="unknown pruner"):
        tune(df, space, pruner="medain", base_params=base, out_dir=tmp_path)
    with pytest.raises(ValueError, match="storage"):
        tune(df, space, storage="ftp://x", base_params=base, out_dir=tmp_path)


def test_backtest_metric(df, base, space, tmp_path):
    res = tune(df, space, n_trials=2, metric="mae", cv_windows=2, base_params=base, out_dir=tmp_path,
               pruner="none", refit=False, plots=False)
    assert set(res.trials["state"]) == {"COMPLETE"}
    assert (res.trials["value"] != res.trials["val_loss"]).all()  # MAE in data units, not the scaled val loss


def test_cli_with_yaml_config(df, base, space, tmp_path, capsys):
    data = tmp_path / "panel.parquet"
    df.to_parquet(data)
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(yaml.safe_dump({"description": "test", "study": {"n_trials": 2, "pruner": "none"},
                                   "base": base, "space": space}))
    out = tmp_path / "out"
    assert cli_main(["--config", str(cfg), "--data", str(data), "--out", str(out), "--n-trials", "2", "--no-plots"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["study_name"] == "tiny" and summary["trials"] == {"COMPLETE": 2}
    assert (out / "model" / "config.json").is_file()
    # rerun: resumes, nothing left to run, no refit needed to differ
    assert cli_main(["--config", str(cfg), "--data", str(data), "--out", str(out), "--no-refit", "--no-plots"]) == 0
    assert json.loads(capsys.readouterr().out)["ran"] == 0
    assert cli_main(["--config", str(cfg), "--data", str(data), "--out", str(out), "--pruner", "nope"]) == 2
    assert "unknown pruner" in capsys.readouterr().err

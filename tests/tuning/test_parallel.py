"""Worker processes on one machine sharing the embedded (SQLite) study; a worker killed mid-trial."""

from __future__ import annotations

import pytest

from xlstm_ts.tuning import count_trials, tune

from .helpers import KillOnce

pytestmark = pytest.mark.slow


def test_two_workers_share_one_study(df, base, space, tmp_path):
    res = tune(df, space, n_trials=6, n_workers=2, base_params=base, out_dir=tmp_path, pruner="none",
               refit=False, plots=False)
    t = res.trials
    assert list(t["number"]) == list(range(6))  # no lost or duplicated trial
    assert set(t["state"]) == {"COMPLETE"}
    assert t["worker"].nunique() == 2  # both processes ran trials
    assert res.ran == 6
    # the same command again: the study is complete, nothing runs
    again = tune(df, space, n_trials=6, n_workers=2, base_params=base, out_dir=tmp_path, pruner="none",
                 refit=False, plots=False)
    assert again.ran == 0 and len(again.trials) == 6


def test_killed_worker_is_recovered(df, base, space, tmp_path):
    # One worker SIGKILLs itself at the start of its first trial's first epoch: the other worker
    # (before its next trial) or tune (seeing the process die) fails its RUNNING trial with the
    # reason and queues the same configuration again, which a worker runs, so the study still
    # ends with n_trials done trials.
    marker = tmp_path / "kill-once"
    marker.touch()
    base["trainer_kwargs"] = {**base["trainer_kwargs"], "callbacks": [KillOnce(str(marker))]}
    res = tune(df, space, n_trials=4, n_workers=2, base_params=base, out_dir=tmp_path / "out", pruner="none",
               refit=False, plots=False)
    assert not marker.exists()
    t = res.trials.set_index("number")
    failed = t[t["state"] == "FAIL"]
    assert len(failed) == 1
    reason = failed["fail_reason"].iloc[0]
    assert "died" in reason  # "worker HOST:PID died ..." or "... died (exit code [-9]) ..."
    retry = t[t["retry_of"] == failed.index[0]]
    assert len(retry) == 1 and retry["state"].iloc[0] == "COMPLETE"
    assert retry["param.learning_rate"].iloc[0] == failed["param.learning_rate"].iloc[0]
    c = count_trials(res.study)
    assert c.done == 4 and c.running == 0 and c.waiting == 0
    assert c.complete == 4

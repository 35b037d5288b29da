"""Four ``python -m xlstm_ts.tuning`` workers on one study, one SIGKILLed in the middle of a trial.

The same command runs in every worker (as on several machines); the first worker caught inside
a trial while another one also runs one is killed. (a) On the default storage,
SQLite in a shared ``--out``; (b) on PostgreSQL, each worker posing as another machine
(``XLSTM_TS_WORKER_HOST``) with 1 s heartbeats, so that only the heartbeat can tell its trial
is lost. The survivors must fail the lost trial, run its configuration again and finish the
study: exactly ``n_trials`` COMPLETE trials, no trial run twice, none left RUNNING or WAITING,
and the study loads and resumes afterwards (the killed worker restarted, as a user would, runs
nothing; a larger ``n_trials`` runs only the difference).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
import warnings
from pathlib import Path

import optuna
import pytest
import yaml
from optuna.trial import TrialState

from xlstm_ts.tuning import count_trials, tune
from xlstm_ts.tuning.cli import main as cli_main

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
N_TRIALS = 8
N_WORKERS = 4


def _setup(tmp_path: Path, df, base: dict, space: dict, name: str) -> tuple[Path, Path]:
    data = tmp_path / "panel.parquet"
    df.to_parquet(data)
    base = {**base, "max_epochs": 1}
    cfg = tmp_path / f"{name}.yaml"
    # the default sampler (TPE, random for its first 10 trials) and no pruning
    cfg.write_text(yaml.safe_dump({"study": {"pruner": "none"}, "base": base, "space": space}, sort_keys=False))
    return cfg, data


def _env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    env.update(extra)
    return env


def _start(cmd: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _observer(url: str) -> optuna.storages.RDBStorage:
    """A read-only view of the study's storage for the test (short SQLite lock timeout: a
    stopped worker may hold the lock)."""
    kw = {"connect_args": {"timeout": 2}} if url.startswith("sqlite") else {"pool_pre_ping": True}
    return optuna.storages.RDBStorage(url, engine_kwargs=kw, skip_compatibility_check=True)


def _kill_in_trial(url: str, study_name: str, procs: dict[str, subprocess.Popen], timeout: float = 240,
                   patience: float = 20, hurry_after: int = N_TRIALS // 2) -> tuple[str, int]:
    """SIGKILL one of the workers (``procs``: worker tag -> process) while a trial it runs is
    RUNNING, with its configuration (partly) sampled; returns the worker's tag and the trial's
    number. Waits (up to ``patience`` s) for a moment when two workers run trials at once, so that
    the others are busy when it dies — but not once ``hurry_after`` trials are COMPLETE: on a
    loaded machine the first worker can finish the study alone while the others still import.

    The worker is first stopped (SIGSTOP) and its trial read again, so that it is certainly
    killed inside the trial, not just after it.
    """
    deadline = time.monotonic() + timeout
    first_seen = None
    storage = None
    while time.monotonic() < deadline:
        exited = [tag for tag, p in procs.items() if p.poll() is not None]
        if exited:
            _, err = procs[exited[0]].communicate()
            pytest.fail(f"worker {exited[0]} exited (code {procs[exited[0]].returncode}) before one was killed:\n"
                        f"{err[-3000:]}")
        try:
            if storage is None:
                if url.startswith("sqlite:///") and not Path(url[len("sqlite:///"):]).exists():
                    raise KeyError("no database yet")  # do not create it before the workers do
                storage = _observer(url)
            study_id = storage.get_study_id_from_name(study_name)
            trials = storage.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING, TrialState.COMPLETE))
            running = [t for t in trials if t.state == TrialState.RUNNING
                       and t.user_attrs.get("worker") in procs and t.params]
            complete = len(trials) - sum(t.state == TrialState.RUNNING for t in trials)
        except Exception:  # noqa: BLE001 - no database, schema or study yet, or locked: look again
            running, complete = [], 0
        if running:
            first_seen = first_seen or time.monotonic()
            busy = {t.user_attrs["worker"] for t in running}
            if len(busy) >= 2 or time.monotonic() - first_seen > patience or complete >= hurry_after:
                t = running[0]
                tag = t.user_attrs["worker"]
                victim = procs[tag]
                os.kill(victim.pid, signal.SIGSTOP)
                try:
                    still = storage.get_trial(t._trial_id).state == TrialState.RUNNING
                except Exception:  # noqa: BLE001 - locked by the stopped worker: let it go on, try again
                    still = False
                if still:
                    os.kill(victim.pid, signal.SIGKILL)
                    victim.wait(timeout=30)
                    storage.engine.dispose()
                    return tag, t.number
                os.kill(victim.pid, signal.SIGCONT)
        time.sleep(0.05)
    pytest.fail("no worker was caught in a trial")


def _check_study(url: str, study_name: str, killed: int, survivors_ran: int) -> optuna.Study:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        storage = optuna.storages.RDBStorage(url, skip_compatibility_check=True)
    study = optuna.load_study(study_name=study_name, storage=storage)
    trials = study.get_trials(deepcopy=False)
    by_number = {t.number: t for t in trials}
    states = [t.state for t in trials]
    # no lost or duplicated trial: numbers 0..n-1, the requested COMPLETE trials, the killed one FAIL
    assert sorted(by_number) == list(range(len(trials))) and len(by_number) == len(trials)
    assert states.count(TrialState.COMPLETE) == N_TRIALS, [(t.number, t.state.name) for t in trials]
    assert TrialState.RUNNING not in states and TrialState.WAITING not in states
    assert len(trials) == N_TRIALS + 1
    lost = by_number[killed]
    killed_tag = lost.user_attrs.get("worker")
    assert lost.state == TrialState.FAIL
    # ... and its configuration ran again once, to completion
    retries = [t for t in trials if t.system_attrs.get("failed_trial") == killed]
    assert len(retries) == 1 and retries[0].state == TrialState.COMPLETE
    # the same configuration (what the killed worker had sampled of it so far)
    assert lost.params and {k: retries[0].params.get(k) for k in lost.params} == lost.params
    # no configuration ran twice (the sampler draws continuous learning rates: never equal)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    keys = [tuple(sorted(t.params.items())) for t in complete]
    assert len(set(keys)) == len(keys), keys
    assert len({t.params["learning_rate"] for t in complete}) == N_TRIALS
    # every trial was run by one worker; the survivors ran all but the killed worker's ones
    assert all(isinstance(t.user_attrs.get("worker"), str) for t in trials)
    assert survivors_ran + sum(t.user_attrs["worker"] == killed_tag for t in trials) == len(trials)
    c = count_trials(study)
    assert (c.done, c.complete, c.running, c.waiting, c.failed, c.retried) == (N_TRIALS, N_TRIALS, 0, 0, 1, 1)
    return study


def _run_kill_scenario(url: str, study_name: str, worker_cmd, worker_env) -> tuple[int, int, list[dict]]:
    """Start the workers, kill one in a trial, wait for the others; returns the killed worker's
    index, its trial's number and the survivors' summaries."""
    procs = [_start(worker_cmd(i), worker_env(i)) for i in range(N_WORKERS)]
    try:
        hosts = [worker_env(i).get("XLSTM_TS_WORKER_HOST") or socket.gethostname() for i in range(N_WORKERS)]
        tags = {f"{h}:{p.pid}": p for h, p in zip(hosts, procs, strict=True)}
        tag, killed = _kill_in_trial(url, study_name, tags)
        victim = list(tags).index(tag)
        assert procs[victim].returncode == -signal.SIGKILL
        results = []
        for i, p in enumerate(procs):
            if i != victim:
                out, err = p.communicate(timeout=300)
                assert p.returncode == 0, err[-4000:]
                results.append(json.loads(out))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    return victim, killed, results


def _check_reports(out: Path) -> None:
    import pandas as pd

    best = json.loads((out / "best.json").read_text())
    assert best["trials"]["complete"] == N_TRIALS and best["trials"]["running"] == 0
    table = pd.read_csv(out / "trials.csv")
    assert sorted(table["number"]) == list(range(N_TRIALS + 1))
    assert "no heartbeat" in str(table.loc[table["state"] == "FAIL", "fail_reason"].iloc[0]) or \
        "died" in str(table.loc[table["state"] == "FAIL", "fail_reason"].iloc[0])
    assert len(pd.read_parquet(out / "trials.parquet")) == N_TRIALS + 1


def _restart_and_resume(cmd: list[str], capsys, data: Path, cfg: Path, **kw) -> None:
    """The killed worker's command again, as a user would restart it (in this process, which has
    torch imported already): the study is complete, nothing runs. Then one trial more."""
    capsys.readouterr()
    assert cli_main(cmd[3:]) == 0
    assert json.loads(capsys.readouterr().out)["ran"] == 0
    more = tune(data, cfg, n_trials=N_TRIALS + 1, refit=False, plots=False, threads_per_worker=1, **kw)
    assert more.ran == 1 and count_trials(more.study).complete == N_TRIALS + 1


def test_four_workers_sqlite_one_killed(df, base, space, tmp_path, capsys):
    cfg, data = _setup(tmp_path, df, base, space, "kill-sqlite")
    out = tmp_path / "out"  # one results directory: the default storage is out/study.db, shared
    cmd = [sys.executable, "-m", "xlstm_ts.tuning", "--config", str(cfg), "--data", str(data), "--out", str(out),
           "--n-trials", str(N_TRIALS), "--no-refit", "--no-plots", "--threads", "1"]
    url = f"sqlite:///{(out / 'study.db').resolve()}"
    _, killed, results = _run_kill_scenario(url, "kill-sqlite", lambda i: cmd, lambda i: _env())
    study = _check_study(url, "kill-sqlite", killed, sum(r["ran"] for r in results))
    # the survivors saw at once that the process was gone (same host)
    assert "died" in study.trials[killed].user_attrs["fail_reason"]
    # each survivor waited for the study to finish and reported it; the results files the
    # workers wrote concurrently are whole
    assert all(r["trials"] == {"COMPLETE": N_TRIALS, "FAIL": 1} for r in results)
    _check_reports(out)
    _restart_and_resume(cmd, capsys, data, cfg, out_dir=out)


@pytest.mark.postgres
def test_four_workers_postgres_one_killed(df, base, space, tmp_path, postgres_url, capsys, monkeypatch):
    cfg, data = _setup(tmp_path, df, base, space, "kill-pg")
    name = f"kill-pg-{uuid.uuid4().hex[:8]}"

    def cmd(i: int) -> list[str]:  # the same command on every "machine", each with its own --out
        return [sys.executable, "-m", "xlstm_ts.tuning", "--config", str(cfg), "--data", str(data),
                "--storage", postgres_url, "--study-name", name, "--out", str(tmp_path / f"machine{i}"),
                "--n-trials", str(N_TRIALS), "--no-refit", "--no-plots", "--threads", "1", "--heartbeat", "1"]

    def env(i: int) -> dict[str, str]:
        return _env(XLSTM_TS_WORKER_HOST=f"machine{i}")

    url = postgres_url
    victim, killed, results = _run_kill_scenario(_sqlalchemy_url(url), name, cmd, env)
    study = _check_study(_sqlalchemy_url(url), name, killed, sum(r["ran"] for r in results))
    assert study.trials[killed].user_attrs["worker"].startswith(f"machine{victim}:")
    # only the heartbeat could tell: the trial failed as stale
    assert "died" not in (study.trials[killed].user_attrs.get("fail_reason") or "")
    assert all(r["trials"] == {"COMPLETE": N_TRIALS, "FAIL": 1} for r in results)
    for i in set(range(N_WORKERS)) - {victim}:
        _check_reports(tmp_path / f"machine{i}")
    # the killed worker's command again, on its machine
    monkeypatch.setenv("XLSTM_TS_WORKER_HOST", f"machine{victim}")
    _restart_and_resume(cmd(victim), capsys, data, cfg, storage=url, study_name=name, out_dir=tmp_path / "report")


def _sqlalchemy_url(url: str) -> str:
    from xlstm_ts.tuning.storage import _with_driver

    return _with_driver(url)

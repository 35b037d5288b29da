"""Workers on "several machines": two ``python -m xlstm_ts.tuning`` processes against a real
PostgreSQL server started for the tests (the ``postgres_url`` fixture of ``conftest.py``: a fresh
database on a throwaway server; skipped with the reason where none can start, a failure with
``XLSTM_TS_REQUIRE_POSTGRES=1``). With ``XLSTM_TS_TEST_POSTGRES_URL`` the database must hold no
study named ``pg-tune``.

The workers are ``python -m xlstm_ts.tuning`` with one addition (:func:`joining_worker`): the
first trial of each waits until another worker has a trial in the study, so that one worker
started late cannot find the budget taken by the other (scheduling, not a bug).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from xlstm_ts.tuning import count_trials, tune

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
JOIN_TIMEOUT_S = 60.0  # how long a worker's first trial waits for the other worker to join


def joining_worker(argv: list[str]) -> int:
    """``python -m xlstm_ts.tuning ARGV`` whose first trial, once trained (the budget lock is
    released when a trial starts), stays RUNNING until the study holds a trial of another worker
    (``user_attrs["worker"]``, host:pid), i.e. until another process shares the study and took a
    place in its budget. Exits with a message after ``JOIN_TIMEOUT_S`` s without one."""
    import optuna

    from xlstm_ts.tuning.cli import main

    optimize, waited = optuna.study.Study.optimize, []

    def wait_for_another_worker(trial: optuna.Trial) -> None:
        me = trial.user_attrs.get("worker")
        deadline = time.monotonic() + JOIN_TIMEOUT_S
        while True:
            workers = {t.user_attrs.get("worker") for t in trial.study.get_trials(deepcopy=False)}
            if len(workers - {None}) >= 2:
                return
            if time.monotonic() > deadline:
                raise SystemExit(f"test_postgres: worker {me}'s first trial (number {trial.number}) waited "
                                 f"{JOIN_TIMEOUT_S:.0f} s for another worker to start a trial of study "
                                 f"{trial.study.study_name!r}; none did (trial workers: {sorted(workers - {None})})")
            time.sleep(0.2)

    def optimize_joining(self, func, *args, **kwargs):
        def objective(trial):
            value = func(trial)  # a failed trial raises: the test fails on it without waiting
            if not waited:
                waited.append(trial.number)
                wait_for_another_worker(trial)
            return value

        return optimize(self, objective, *args, **kwargs)

    optuna.study.Study.optimize = optimize_joining
    return main(argv)


def test_two_worker_processes_against_postgres(df, base, space, tmp_path, postgres_url):
    data = tmp_path / "panel.parquet"
    df.to_parquet(data)
    cfg = tmp_path / "pg-tune.yaml"
    cfg.write_text(yaml.safe_dump({"study": {"pruner": "none"}, "base": base, "space": space}, sort_keys=False))
    n_trials = 4
    worker = "import sys; from tests.tuning.test_postgres import joining_worker; sys.exit(joining_worker(sys.argv[1:]))"
    cmd = [sys.executable, "-c", worker, "--config", str(cfg), "--data", str(data),
           "--storage", postgres_url, "--n-trials", str(n_trials), "--no-refit", "--no-plots", "--threads", "1"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    # two "machines" started at once on a fresh database: both create/load the study
    procs = [subprocess.Popen([*cmd, "--out", str(tmp_path / f"machine{i}")], cwd=REPO, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    for i, (p, (_, err)) in enumerate(zip(procs, outs, strict=True)):
        assert p.returncode == 0, f"machine{i}: {err[-3000:]}"
    ran = [json.loads(out)["ran"] for out, _ in outs]
    assert all(r >= 1 for r in ran), f"trials run by each worker: {ran}"  # both ran trials of the one study
    # a third process: resumes from PostgreSQL, runs nothing, reports and refits
    res = tune(data, cfg, storage=postgres_url, n_trials=n_trials, out_dir=tmp_path / "report", plots=False)
    c = count_trials(res.study)
    assert res.ran == 0
    # workers on separate machines can overshoot by at most one trial each in a race
    assert n_trials <= c.done <= n_trials + 1
    assert c.failed == 0 and c.running == 0
    assert sorted(res.trials["number"]) == list(range(c.done))
    assert res.trials["worker"].nunique() == 2
    assert res.estimator is not None and (tmp_path / "report" / "model" / "config.json").is_file()

"""Workers on "several machines": two ``python -m xlstm_ts.tuning`` processes against a real
PostgreSQL server started for the tests (the ``postgres_url`` fixture of ``conftest.py``: a fresh
database on a throwaway server; skipped with the reason where none can start, a failure with
``XLSTM_TS_REQUIRE_POSTGRES=1``). With ``XLSTM_TS_TEST_POSTGRES_URL`` the database must hold no
study named ``pg-tune``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from xlstm_ts.tuning import count_trials, tune

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]


def test_two_worker_processes_against_postgres(df, base, space, tmp_path, postgres_url):
    data = tmp_path / "panel.parquet"
    df.to_parquet(data)
    cfg = tmp_path / "pg-tune.yaml"
    cfg.write_text(yaml.safe_dump({"study": {"pruner": "none"}, "base": base, "space": space}, sort_keys=False))
    n_trials = 4
    cmd = [sys.executable, "-m", "xlstm_ts.tuning", "--config", str(cfg), "--data", str(data),
           "--storage", postgres_url, "--n-trials", str(n_trials), "--no-refit", "--no-plots", "--threads", "1"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    # two "machines" started at once on a fresh database: both create/load the study
    procs = [subprocess.Popen([*cmd, "--out", str(tmp_path / f"machine{i}")], cwd=REPO, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (_, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err[-3000:]
    ran = [json.loads(out)["ran"] for out, _ in outs]
    assert all(r >= 1 for r in ran)  # both workers ran trials of the one study
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

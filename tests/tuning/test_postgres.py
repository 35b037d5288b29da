"""Workers on "several machines": two ``python -m xlstm_ts.tuning`` processes against a real
PostgreSQL server started for the test (initdb + pg_ctl in a temp dir, on a free port).

Skipped, with the reason, where no server can start (no PostgreSQL binaries, no psycopg2,
root without a ``postgres`` user); with ``XLSTM_TS_REQUIRE_POSTGRES=1`` (CI) those are failures.
``XLSTM_TS_TEST_POSTGRES_URL`` points the test at an existing server instead (the database
must be empty or hold no study named ``pg-tune``).
"""

from __future__ import annotations

import glob
import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

from xlstm_ts.tuning import count_trials, tune

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]


def _bindir() -> str | None:
    env = os.environ.get("XLSTM_TS_PG_BINDIR")
    if env:
        return env if os.path.exists(os.path.join(env, "initdb")) else None
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return str(Path(found).resolve().parent)
    cands = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[-3]) if p.split("/")[-3].isdigit() else 0)
    return str(Path(cands[-1]).parent) if cands else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _skip(reason: str):
    if os.environ.get("XLSTM_TS_REQUIRE_POSTGRES", "") not in ("", "0"):
        pytest.fail(f"XLSTM_TS_REQUIRE_POSTGRES is set but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def postgres_url():
    url = os.environ.get("XLSTM_TS_TEST_POSTGRES_URL")
    if url:
        yield url
        return
    try:
        import psycopg2
    except ImportError:
        _skip("psycopg2 is not installed (pip install psycopg2-binary)")
    bindir = _bindir()
    if bindir is None:
        _skip("no PostgreSQL server binaries (initdb, pg_ctl); install them: apt-get install -y postgresql")
    prefix: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root: run the server as the postgres user
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            _skip("running as root and there is no 'postgres' user to run the server as")
        runuser = shutil.which("runuser")
        if runuser is None:
            _skip("running as root and 'runuser' is not available to start the server as 'postgres'")
        prefix = [runuser, "-u", "postgres", "--"]
    tmp = tempfile.mkdtemp(prefix="xlstm-ts-pg-")
    if prefix:
        shutil.chown(tmp, "postgres", "postgres")
    data, port = os.path.join(tmp, "data"), _free_port()

    def run(*cmd: str) -> subprocess.CompletedProcess:
        return subprocess.run([*prefix, *cmd], capture_output=True, text=True, timeout=120, cwd=tmp)

    started = False
    try:
        r = run(f"{bindir}/initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        if r.returncode:
            _skip(f"initdb failed: {r.stderr.strip()[-500:]}")
        opts = f"-p {port} -k {tmp} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50"
        r = run(f"{bindir}/pg_ctl", "-D", data, "-o", opts, "-l", os.path.join(tmp, "server.log"), "-w", "-t", "60", "start")
        if r.returncode:
            log = Path(tmp, "server.log")
            _skip(f"PostgreSQL did not start: {r.stderr.strip()[-300:]} "
                        f"{log.read_text()[-500:] if log.exists() else ''}")
        started = True
        conn = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres")
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("CREATE DATABASE optuna_test")
        conn.close()
        yield f"postgresql://postgres@127.0.0.1:{port}/optuna_test"
    finally:
        if started:
            run(f"{bindir}/pg_ctl", "-D", data, "-m", "immediate", "-w", "stop")
        shutil.rmtree(tmp, ignore_errors=True)


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

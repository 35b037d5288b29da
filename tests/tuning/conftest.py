"""Fixtures of the tuning tests: a small panel, tiny base parameters, one torch thread, and a
throwaway PostgreSQL server.

``postgres_url`` gives each test a fresh database on a server started once per session
(initdb + pg_ctl in a temp dir, on a free port). It skips, with the reason, where no server can
start (no PostgreSQL binaries, no psycopg2, root without a ``postgres`` user); with
``XLSTM_TS_REQUIRE_POSTGRES=1`` (CI) those are failures. ``XLSTM_TS_TEST_POSTGRES_URL`` points
the tests at an existing server instead (its database must hold no study of the same name).
"""

from __future__ import annotations

import copy
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

from .helpers import BASE, SPACE, panel


@pytest.fixture(scope="session")
def df():
    return panel()


@pytest.fixture
def base() -> dict:
    return copy.deepcopy(BASE)


@pytest.fixture
def space() -> dict:
    return copy.deepcopy(SPACE)


# --- PostgreSQL ----------------------------------------------------------------------------------

def _bindir() -> str | None:
    env = os.environ.get("XLSTM_TS_PG_BINDIR")
    if env:
        return env if os.path.exists(os.path.join(env, "initdb")) else None
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return str(Path(found).resolve().parent)
    cands = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(p.split("/")[-3]) if p.split("/")[-3].isdigit() else 0)
    return str(Path(cands[-1]).parent) if cands else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _unavailable(reason: str) -> str:
    if os.environ.get("XLSTM_TS_REQUIRE_POSTGRES", "") not in ("", "0"):
        pytest.fail(f"XLSTM_TS_REQUIRE_POSTGRES is set but {reason}")
    return reason


@pytest.fixture(scope="session")
def _postgres_server():
    """``(host, port)`` of a server started for this session, or ``("skip", reason)``."""
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        yield "skip", _unavailable("psycopg2 is not installed (pip install psycopg2-binary)")
        return
    bindir = _bindir()
    if bindir is None:
        yield "skip", _unavailable("no PostgreSQL server binaries (initdb, pg_ctl); install them: "
                                   "apt-get install -y postgresql")
        return
    prefix: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root: run the server as the postgres user
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            yield "skip", _unavailable("running as root and there is no 'postgres' user to run the server as")
            return
        runuser = shutil.which("runuser")
        if runuser is None:
            yield "skip", _unavailable("running as root and 'runuser' is not available to start the server "
                                       "as 'postgres'")
            return
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
            yield "skip", _unavailable(f"initdb failed: {r.stderr.strip()[-500:]}")
            return
        opts = f"-p {port} -k {tmp} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100"
        r = run(f"{bindir}/pg_ctl", "-D", data, "-o", opts, "-l", os.path.join(tmp, "server.log"), "-w", "-t", "60",
                "start")
        if r.returncode:
            log = Path(tmp, "server.log")
            yield "skip", _unavailable(f"PostgreSQL did not start: {r.stderr.strip()[-300:]} "
                                       f"{log.read_text()[-500:] if log.exists() else ''}")
            return
        started = True
        yield "127.0.0.1", port
    finally:
        if started:
            run(f"{bindir}/pg_ctl", "-D", data, "-m", "immediate", "-w", "stop")
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture
def postgres_url(_postgres_server):
    """A fresh, empty database on the session's server (or ``XLSTM_TS_TEST_POSTGRES_URL``)."""
    url = os.environ.get("XLSTM_TS_TEST_POSTGRES_URL")
    if url:
        return url
    host, port = _postgres_server
    if host == "skip":
        pytest.skip(port)
    import psycopg2

    name = f"optuna_{uuid.uuid4().hex[:12]}"
    conn = psycopg2.connect(host=host, port=port, user="postgres", dbname="postgres")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE {name}")
    conn.close()
    return f"postgresql://postgres@{host}:{port}/{name}"

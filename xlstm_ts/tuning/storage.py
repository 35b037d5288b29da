"""Study storage: embedded SQLite (default) or journal file, RDB URLs (PostgreSQL, MySQL), and
recovery of trials whose worker died.

* ``None`` -> ``sqlite:///<out_dir>/study.db`` (resumable, safe for worker processes on one machine;
  an RDB storage like the next ones, heartbeats included).
* ``"sqlite:///path.db"``, ``"postgresql://user:pw@host:5432/db"``, ``"mysql+pymysql://..."`` -> an
  :class:`optuna.storages.RDBStorage` with heartbeats: a trial whose worker stops sending them for
  ``grace_period`` seconds is failed and retried (:class:`RetryHeartbeatStaleTrialCallback`).
* ``"journal:path"`` or a path ending in ``.journal``/``.log`` -> a journal file
  (:class:`optuna.storages.JournalStorage`), race-free on a fresh file; no heartbeats.
* a path ending in ``.db``/``.sqlite`` -> SQLite at that path; ``"memory"`` -> in memory (one process).

Whatever the storage, a RUNNING trial whose worker process (``user_attrs["worker"] = host:pid``)
no longer exists on this host is failed with a reason and retried: when ``tune`` starts, when a
worker that ``tune`` launched dies, and by every worker of the study on this host before it
starts its next trial (so that the survivors of a killed worker run its trial again).

Workers on one host take a lock (:func:`budget_lock`, a ``flock`` file) while they check the
study's budget and create their next trial, so that together they run exactly ``n_trials``.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import os
import random
import socket
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.exceptions import ExperimentalWarning, UpdateFinishedTrialError
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import TrialState

__all__ = [
    "BudgetLock",
    "StorageSpec",
    "TrialCounts",
    "budget_lock",
    "count_trials",
    "create_or_load_study",
    "describe_storage",
    "lost_trials_detectable",
    "open_storage",
    "recover_dead_trials",
    "requeue_interrupted",
    "resolve_storage",
    "tag_worker",
    "worker_tag",
]

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
_WORKER_ATTRS = ("worker", "worker_proc", "fail_reason", "interrupted")
# pids of this process whose trials are genuinely running right now (see recover_dead_trials)
_ACTIVE_IN_THIS_PROCESS = {"count": 0}


@dataclass(frozen=True)
class StorageSpec:
    """A picklable description of a storage; every worker opens its own connection from it."""

    kind: str  # "rdb" | "journal" | "memory"
    url: str | None = None
    path: str | None = None
    heartbeat_interval: int | None = 30
    grace_period: int | None = None
    max_retry: int | None = 1

    @property
    def shareable(self) -> bool:
        return self.kind in ("rdb", "journal")


def resolve_storage(storage: Any, out_dir: str | os.PathLike, *, heartbeat_interval: int | None = 30,
                    grace_period: int | None = None, max_retry: int | None = 1) -> StorageSpec | optuna.storages.BaseStorage:
    """Turn ``tune(storage=...)`` into a :class:`StorageSpec` (or pass a storage object through)."""
    if isinstance(storage, optuna.storages.BaseStorage):
        return storage
    heartbeat_interval = heartbeat_interval or None  # 0 disables heartbeats
    hb = dict(heartbeat_interval=heartbeat_interval, grace_period=grace_period, max_retry=max_retry)
    if heartbeat_interval is not None and (not isinstance(heartbeat_interval, int) or heartbeat_interval < 1):
        raise ValueError(f"heartbeat_interval must be a positive int (seconds) or None; got {heartbeat_interval!r}")
    if grace_period is not None and (not isinstance(grace_period, int) or grace_period < 1):
        raise ValueError(f"grace_period must be a positive int (seconds) or None; got {grace_period!r}")
    if storage is None:
        path = Path(out_dir).resolve() / "study.db"
        return StorageSpec("rdb", url=f"sqlite:///{path}", **hb)
    if not isinstance(storage, (str, os.PathLike)):
        raise ValueError(f"storage must be None, a URL, a file path or an optuna storage; got {type(storage).__name__}")
    s = os.fspath(storage)
    if s in ("memory", ":memory:", "inmemory"):
        return StorageSpec("memory")
    if s.startswith("journal:"):
        p = s[len("journal:"):]
        p = p[2:] if p.startswith("//") else p
        if not p:
            raise ValueError("storage 'journal:' needs a file path, e.g. journal:runs/tune/study.journal")
        return StorageSpec("journal", path=str(Path(p).resolve()))
    if "://" in s:
        scheme = s.split("://", 1)[0]
        if scheme.split("+")[0] not in ("sqlite", "postgresql", "postgres", "mysql", "mariadb", "oracle", "mssql"):
            raise ValueError(f"storage URL scheme {scheme!r} is not supported; use sqlite:///, postgresql://, "
                             f"mysql://, or journal:PATH")
        if scheme.startswith("postgres") and not scheme.startswith("postgresql"):
            s = "postgresql" + s[len("postgres"):]  # SQLAlchemy only knows 'postgresql'
        return StorageSpec("rdb", url=s, **hb)
    if s.endswith((".journal", ".log", ".jsonl")):
        return StorageSpec("journal", path=str(Path(s).resolve()))
    if s.endswith((".db", ".sqlite", ".sqlite3")):
        return StorageSpec("rdb", url=f"sqlite:///{Path(s).resolve()}", **hb)
    raise ValueError(f"cannot tell what storage {s!r} is: give a URL (sqlite:///path.db, postgresql://...), "
                     f"'journal:PATH', a *.db / *.journal path, or 'memory'")


def describe_storage(spec: StorageSpec | optuna.storages.BaseStorage) -> str:
    """A printable form with any password hidden."""
    if not isinstance(spec, StorageSpec):
        return type(spec).__name__
    if spec.kind == "journal":
        return f"journal:{spec.path}"
    if spec.kind == "memory":
        return "memory"
    try:
        from sqlalchemy.engine import make_url

        return make_url(spec.url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - best effort for display only
        return spec.url.split("@")[-1]


class _RetryStale:
    """Retry a stale (heartbeat-lost) trial once more, without copying its worker's attrs."""

    def __init__(self, max_retry: int | None):
        self.max_retry = max_retry

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if self.max_retry == 0:
            return
        t = copy.deepcopy(trial)
        t.user_attrs = {k: v for k, v in t.user_attrs.items() if k not in _WORKER_ATTRS}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ExperimentalWarning)
            RetryHeartbeatStaleTrialCallback(max_retry=self.max_retry)(study, t)


def _with_retries(fn, what: str, attempts: int = 6):
    """Run ``fn`` retrying transient database errors (first-time schema creation races, locks)."""
    from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

    for i in range(attempts):
        try:
            return fn()
        except (IntegrityError, OperationalError, ProgrammingError, optuna.exceptions.DuplicatedStudyError) as e:
            if i == attempts - 1:
                raise RuntimeError(f"{what} failed after {attempts} attempts: {e}") from e
            time.sleep(0.2 * (2 ** i) * (0.5 + random.random()))
    raise AssertionError("unreachable")


def open_storage(spec: StorageSpec | optuna.storages.BaseStorage) -> optuna.storages.BaseStorage:
    """Open (and on first use create) the storage described by ``spec``."""
    if isinstance(spec, optuna.storages.BaseStorage):
        return spec
    if spec.kind == "memory":
        return optuna.storages.InMemoryStorage()
    if spec.kind == "journal":
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        Path(spec.path).parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(spec.path))
    url = _with_driver(spec.url)
    if url.startswith("sqlite:///"):
        Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
        engine_kwargs: dict[str, Any] = {"connect_args": {"timeout": 120}}
    else:
        engine_kwargs = {"pool_pre_ping": True}
    kw: dict[str, Any] = {}
    if spec.heartbeat_interval:
        grace = spec.grace_period or 4 * spec.heartbeat_interval
        kw = dict(heartbeat_interval=spec.heartbeat_interval, grace_period=grace,
                  heartbeat_stale_trial_callback=_RetryStale(spec.max_retry))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ExperimentalWarning)
            return _with_retries(lambda: optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs, **kw),
                                 f"opening storage {describe_storage(spec)}")
    except ImportError as e:
        cause = e.__cause__ if isinstance(e.__cause__, ImportError) else e
        name = getattr(cause, "name", None) or str(cause)
        hint = "pip install psycopg2-binary" if "psycopg" in str(name) or url.startswith("postgresql") else f"install {name}"
        raise ValueError(f"storage {describe_storage(spec)} needs a database driver ({name!r} is missing): {hint}") from e


def _with_driver(url: str) -> str:
    """``postgresql://`` means psycopg 3 to SQLAlchemy 2.1 and psycopg2 to 2.0: pick the installed one."""
    import importlib.util

    scheme, sep, rest = url.partition("://")
    if scheme != "postgresql":
        return url
    for module, driver in (("psycopg", "psycopg"), ("psycopg2", "psycopg2")):
        if importlib.util.find_spec(module) is not None:
            return f"postgresql+{driver}{sep}{rest}"
    return url


class BudgetLock:
    """An exclusive ``flock`` on a file, shared by the workers of a study on this host.

    A worker holds it from checking the study's budget until its next trial exists (and while
    it fails the trials of dead workers), so that those checks and Optuna's read-then-write
    updates (popping a queued trial, failing a trial) do not interleave between processes: the
    workers of one host together run exactly ``n_trials``, and no queued trial runs twice (SQLite
    has no row locks). ``path=None`` (in-memory storage, no ``fcntl``, unwritable place) locks
    nothing. Not re-entrant; :meth:`release` may be called when not held.
    """

    def __init__(self, path: str | None):
        self.path = path
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        if self.path is None or self._fd is not None:
            return
        try:
            import fcntl
        except ImportError:  # not a POSIX system: no lock
            self.path = None
            return
        try:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDONLY | os.O_CREAT, 0o666)  # flock needs no write access
        except OSError as e:
            warnings.warn(f"cannot use the lock file {self.path} ({e}); workers on this host may run a few "
                          f"trials more than n_trials", RuntimeWarning, stacklevel=2)
            self.path = None
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing the only descriptor drops the flock

    def __enter__(self) -> BudgetLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def budget_lock(spec: StorageSpec | optuna.storages.BaseStorage, study_name: str) -> BudgetLock:
    """The :class:`BudgetLock` of a study: ``.<db file>.tune-lock`` next to a SQLite or journal
    file, a file in the temp directory for a database server (per URL and study)."""
    if not isinstance(spec, StorageSpec) or spec.kind == "memory":
        return BudgetLock(None)
    if spec.kind == "journal":
        file = spec.path
    elif spec.url.startswith("sqlite:///") and spec.url != "sqlite:///:memory:":
        file = spec.url[len("sqlite:///"):].split("?", 1)[0]
    else:
        key = hashlib.sha1(f"{describe_storage(spec)}\0{study_name}".encode()).hexdigest()[:20]
        return BudgetLock(os.path.join(tempfile.gettempdir(), f"xlstm-ts-tune-{key}.lock"))
    f = Path(file)
    return BudgetLock(str(f.parent / f".{f.name}.tune-lock"))


def create_or_load_study(storage: optuna.storages.BaseStorage, study_name: str, direction: str,
                         sampler=None, pruner=None) -> tuple[optuna.Study, bool]:
    """Create the study, or load it if it exists; returns ``(study, created)``.

    Done once by ``tune`` before its workers start, so workers only ever load it (two processes
    creating a study on a fresh database race on the schema); retried on such races anyway, so
    that ``tune`` commands started at once on several machines all get the study.
    """
    def attempt():
        try:
            s = optuna.load_study(study_name=study_name, storage=storage, sampler=sampler, pruner=pruner)
            return s, False
        except KeyError:
            pass
        s = optuna.create_study(study_name=study_name, storage=storage, direction=direction,
                                sampler=sampler, pruner=pruner, load_if_exists=False)
        return s, True

    study, created = _with_retries(attempt, f"creating study {study_name!r}")
    if len(study.directions) != 1:
        raise ValueError(f"study {study_name!r} is multi-objective; tune() optimises one metric")
    want = optuna.study.StudyDirection.MINIMIZE if direction == "minimize" else optuna.study.StudyDirection.MAXIMIZE
    if study.direction != want:
        raise ValueError(f"study {study_name!r} exists with direction {study.direction.name.lower()!r}, "
                         f"not {direction!r}: use another study_name or storage")
    return study, created


def _host() -> str:
    """This machine's name in worker tags: ``XLSTM_TS_WORKER_HOST``, else the host name."""
    return os.environ.get("XLSTM_TS_WORKER_HOST") or socket.gethostname()


def worker_tag() -> str:
    return f"{_host()}:{os.getpid()}"


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def _start_time(pid: int) -> str | None:
    """The start time of process ``pid`` (clock ticks after boot; Linux), None if unknown."""
    stat = _read(f"/proc/{pid}/stat")
    if not stat:
        return None
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else None


def _pid_namespace() -> str | None:
    """``boot id/pid namespace``: which processes a pid of this host names (Linux), else None."""
    boot = (_read("/proc/sys/kernel/random/boot_id") or "").strip()
    try:
        ns = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return None
    return f"{boot}/{ns}" if boot else None


def worker_proc() -> str | None:
    """``boot id/pid namespace/start time`` of this process (Linux): with the pid, tells a dead
    worker from a new process that reuses its pid, and a host name shared by containers."""
    ns, st = _pid_namespace(), _start_time(os.getpid())
    return f"{ns}/{st}" if ns and st else None


def tag_worker(trial: optuna.Trial) -> None:
    """Record which process runs ``trial`` (``user_attrs["worker"]`` and ``["worker_proc"]``)."""
    trial.set_user_attr("worker", worker_tag())
    proc = worker_proc()
    if proc is not None:
        trial.set_user_attr("worker_proc", proc)


def _pid_alive(pid: int, proc: str | None = None) -> bool:
    """Whether worker ``pid`` of this host still runs (``proc``: its :func:`worker_proc`)."""
    if pid == os.getpid():
        return _ACTIVE_IN_THIS_PROCESS["count"] > 0
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    # a killed child that nobody reaped yet is a zombie: dead for our purposes
    with contextlib.suppress(OSError):
        with open(f"/proc/{pid}/stat") as f:
            if f.read().rsplit(")", 1)[-1].split()[0] == "Z":
                return False
    if proc is not None:  # the pid may have been reused by another process since
        started = _start_time(pid)
        if started is not None and started != proc.rsplit("/", 1)[-1]:
            return False
    return True


def _judgeable(t: optuna.trial.FrozenTrial, host: str, ns: str | None) -> tuple[int, str | None] | None:
    """``(pid, worker_proc)`` of a trial whose worker is a process this one can look up, else None."""
    tag = t.user_attrs.get("worker")
    if not isinstance(tag, str) or ":" not in tag:
        return None
    h, _, p = tag.rpartition(":")
    if h != host or not p.isdigit():
        return None
    proc = t.user_attrs.get("worker_proc")
    if isinstance(proc, str) and proc.count("/") == 2:
        if ns is None or proc.rsplit("/", 1)[0] != ns:
            return None  # same host name, but another boot or pid namespace (container)
    else:
        proc = None
    return int(p), proc


def lost_trials_detectable(study: optuna.Study) -> bool:
    """Whether this process could tell if the workers of the study's RUNNING trials died: each
    runs on this host (see :func:`recover_dead_trials`), or the storage has heartbeats."""
    host, ns = _host(), _pid_namespace()
    heartbeat = getattr(study._storage, "get_heartbeat_interval", lambda: None)() is not None
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if not isinstance(t.user_attrs.get("worker"), str):
            return False  # no worker recorded yet (or not a tune worker): nothing to watch
        if _judgeable(t, host, ns) is None and not heartbeat:
            return False
    return True


def recover_dead_trials(study: optuna.Study, *, max_retry: int | None = 1, pids: set[int] | None = None,
                        reason: str | None = None) -> list[int]:
    """Fail RUNNING trials whose worker process on this host is gone, and queue a retry of each.

    ``pids``: only trials of these worker pids (workers ``tune`` launched and saw die); default:
    any pid on this host that no longer runs. Returns the numbers of the trials failed.
    """
    host, ns = _host(), _pid_namespace()
    storage = study._storage
    failed = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        who = _judgeable(t, host, ns)
        if who is None:
            continue
        pid, proc = who
        if pids is not None:
            if pid not in pids:
                continue
        elif _pid_alive(pid, proc):
            continue
        why = reason or f"worker {t.user_attrs['worker']} died while the trial was running (killed or crashed)"
        try:
            storage.set_trial_user_attr(t._trial_id, "fail_reason", why)
            # only the one process whose update wins queues the retry (PostgreSQL/MySQL lock the
            # row; on SQLite the workers of this host take the budget lock around this)
            if not storage.set_trial_state_values(t._trial_id, TrialState.FAIL):
                continue
        except (UpdateFinishedTrialError, RuntimeError):  # failed by another process already
            continue
        failed.append(t.number)
        _RetryStale(max_retry)(study, storage.get_trial(t._trial_id))
    return failed


def requeue_interrupted(study: optuna.Study, *, max_retry: int | None = 1) -> list[int]:
    """Queue again the failed trials that were interrupted (Ctrl-C) and not retried yet."""
    retried: set[int] = set()
    trials = study.get_trials(deepcopy=False)
    for t in trials:
        retried.update(int(n) for n in t.system_attrs.get("retry_history", []) or [])
    out = []
    for t in trials:
        if t.state == TrialState.FAIL and t.user_attrs.get("interrupted") and t.number not in retried:
            _RetryStale(max_retry)(study, t)
            out.append(t.number)
    return out


@dataclass(frozen=True)
class TrialCounts:
    """What a study holds. ``done`` counts towards ``n_trials``: finished trials, except failed
    ones that were retried (their retry counts instead)."""

    complete: int
    pruned: int
    failed: int
    running: int
    waiting: int
    retried: int

    @property
    def done(self) -> int:
        return self.complete + self.pruned + self.failed - self.retried


def count_trials(study: optuna.Study) -> TrialCounts:
    trials = study.get_trials(deepcopy=False)
    retried: set[int] = set()
    for t in trials:
        retried.update(int(n) for n in t.system_attrs.get("retry_history", []) or [])
    by = {s: 0 for s in TrialState}
    for t in trials:
        by[t.state] += 1
    n_retried_failed = sum(1 for t in trials if t.state == TrialState.FAIL and t.number in retried)
    return TrialCounts(complete=by[TrialState.COMPLETE], pruned=by[TrialState.PRUNED], failed=by[TrialState.FAIL],
                       running=by[TrialState.RUNNING], waiting=by[TrialState.WAITING], retried=n_retried_failed)

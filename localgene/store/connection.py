"""The store's connections: one per thread and process, WAL, migrations on open, and the
writer lock that makes a read-check-write atomic across processes."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Self

from localgene import settings as settings_mod
from localgene.errors import (
    EnvironmentProblem,
)
from localgene.jobs.bodies import now_ms
from localgene.store.liveness import pid_alive
from localgene.store.schema import MIGRATIONS, SCHEMA_VERSION

#: How many times a job is started (claimed) before a dead runner fails it instead of
#: re-queuing it (protects against a job that kills its runner every time). The default of
#: ``LOCALGENE_MAX_ATTEMPTS``.
MAX_CLAIMS = settings_mod.DEFAULT_MAX_ATTEMPTS


class StoreBase:
    """Connections (one per thread and process), WAL, migrations and the writer lock."""

    def __init__(
        self,
        db_path: str | os.PathLike[str],
        *,
        clock: Callable[[], int] = now_ms,
        timeout: float = 30.0,
        max_attempts: int = MAX_CLAIMS,
        repair_on_read: bool = False,
        is_alive: Callable[[int], bool] | None = None,
    ):
        self.db_path = Path(db_path)
        self.clock = clock
        self.timeout = timeout
        #: starts of a job before a dead runner fails it (``LOCALGENE_MAX_ATTEMPTS``)
        self.max_attempts = max_attempts
        #: run :meth:`recover_orphans` (this host's runners only) before get/list/statistics
        self.repair_on_read = repair_on_read
        self.is_alive = is_alive or pid_alive
        self._local = threading.local()
        self._migrated_pid: int | None = None

    @classmethod
    def open(cls, cfg: settings_mod.Settings | None = None, **kwargs: Any) -> Self:
        """The store of the configured ``LOCALGENE_HOME`` (creating its folders), with
        ``LOCALGENE_MAX_ATTEMPTS`` and repair on read (the CLI's and the server's store)."""
        cfg = (cfg or settings_mod.load()).ensure_dirs()
        kwargs.setdefault("max_attempts", cfg.max_attempts)
        kwargs.setdefault("repair_on_read", True)
        store = cls(cfg.db_path, **kwargs)
        store._connect()
        return store

    def _repair(self) -> None:
        """Recover orphaned jobs before a read (the queue's :meth:`StoreQueue._repair`)."""

    # -- connections ------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        pid = os.getpid()
        held = getattr(self._local, "conn", None)
        if held is not None and held[0] == pid:
            return held[1]
        # A connection inherited through fork() must not be used (or closed) in the child.
        try:
            self.db_path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                self.db_path, timeout=self.timeout, isolation_level=None, check_same_thread=True
            )
        except (sqlite3.OperationalError, OSError) as exc:
            raise EnvironmentProblem(f"cannot open the job database {self.db_path}: {exc}") from None
        try:
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
            self._set_wal(conn)
            conn.execute("PRAGMA synchronous = FULL")  # a 201 reply means the job is on disk
            if self._migrated_pid != pid:
                self._migrate(conn)
                self._migrated_pid = pid
        except BaseException as exc:
            conn.close()
            if isinstance(exc, sqlite3.OperationalError):
                raise EnvironmentProblem(f"cannot open the job database {self.db_path}: {exc}") from None
            raise
        self._local.conn = (pid, conn)
        return conn

    def _set_wal(self, conn: sqlite3.Connection) -> None:
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)
        if str(mode).lower() != "wal":
            raise EnvironmentProblem(
                f"the job database {self.db_path} cannot use WAL mode (journal_mode={mode}); "
                "put LOCALGENE_HOME on a local file system"
            )

    def _migrate(self, conn: sqlite3.Connection) -> None:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version == SCHEMA_VERSION:
            return
        if version > SCHEMA_VERSION:
            raise EnvironmentProblem(
                f"the job database {self.db_path} has schema version {version}, newer than this "
                f"localgene supports ({SCHEMA_VERSION}); upgrade localgene"
            )
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]  # another process?
            for step in range(version, SCHEMA_VERSION):
                for statement in MIGRATIONS[step]:
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def schema_version(self) -> int:
        return self._connect().execute("PRAGMA user_version").fetchone()[0]

    def close(self) -> None:
        """Close this thread's connection (if opened by this process)."""
        held = getattr(self._local, "conn", None)
        if held is not None:
            if held[0] == os.getpid():
                held[1].close()
            self._local.conn = None
        writers = getattr(self._local, "writers", None)
        if writers is not None:
            if writers[0] == os.getpid():
                os.close(writers[1])
            self._local.writers = None

    def _writer_lock(self) -> int:
        """This thread's descriptor of ``<db>.writers``, the lock write transactions queue on."""
        pid = os.getpid()
        held = getattr(self._local, "writers", None)
        if held is not None and held[0] == pid:
            return held[1]
        try:
            fd = os.open(f"{self.db_path}.writers", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise EnvironmentProblem(f"cannot open the job database's lock {self.db_path}.writers: "
                                     f"{exc.strerror}") from None
        self._local.writers = (pid, fd)
        return fd

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (``BEGIN IMMEDIATE``).

        Writers of every process first queue on an ``flock`` of ``<db>.writers``: the kernel wakes
        the next waiter the moment a writer is done, where SQLite's own busy handler only polls
        (up to every 100 ms), so a process that writes all the time (a runner's progress, a
        worker's tick) cannot starve the others past ``busy_timeout`` and a client never sees
        "database is locked". ``busy_timeout`` still covers SQLite's other locks (checkpoints)."""
        conn = self._connect()
        fd = self._writer_lock()
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """One consistent snapshot for several SELECTs."""
        conn = self._connect()
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

    # -- submitting and reading ---------------------------------------------------------------


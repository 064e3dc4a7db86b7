"""The durable job store: one SQLite file in WAL mode, shared by the server, workers and CLI.

Every process (and every thread) opens its own connection; writes run in ``BEGIN IMMEDIATE``
transactions, so a read-check-write (a state transition, a claim) is atomic across processes,
and readers never block writers (WAL). ``busy_timeout`` makes a writer wait for the lock instead
of failing. The schema is versioned with ``PRAGMA user_version`` and upgraded by numbered
migrations when a store is opened.

Listings and statistics are answered by indexes (see :data:`MIGRATIONS`); a page reads at most
``offset + limit`` index entries plus ``limit`` rows, and statistics are one covering-index
``GROUP BY``. ``benchmarks/store.py`` measures both with 100,000 jobs.

Crash recovery: a worker claims a job with :meth:`Store.claim_next_launching`, which records the
worker's pid, host and boot id; the process that runs the job then records itself with
:meth:`Store.set_runner`. :meth:`Store.recover_orphans` re-queues (to be resumed in its folder)
or ends every active job whose recorded runner is gone; a store opened with
``repair_on_read=True`` (:meth:`Store.open`: the CLI and the API) does that before answering a
read, so no record says RUNNING without a runner. :meth:`Store.retry` re-queues a FAILED or
CANCELLED job. See ``docs/jobs.md``.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import socket
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping

from localgene import settings as settings_mod
from localgene.errors import (
    AccessDenied,
    EnvironmentProblem,
    InvalidRequest,
    JobNotFound,
    StateConflict,
)
from localgene.schema import CNVKIT_KIND, KINDS, PIPELINE_KINDS, JobRecord, now_ms
from localgene.status import FINAL, ORDER, RESUMABLE, Status, check_retry, check_transition

# --------------------------------------------------------------------------------------------
# Paging

LIMIT_MIN, LIMIT_MAX, LIMIT_DEFAULT = 1, 100, 10
INT64_MAX = 2**63 - 1
#: How many times a job is started (claimed) before a dead runner fails it instead of
#: re-queuing it (protects against a job that kills its runner every time). The default of
#: ``LOCALGENE_MAX_ATTEMPTS``.
MAX_CLAIMS = settings_mod.DEFAULT_MAX_ATTEMPTS

_INTEGER = re.compile(r"[+-]?[0-9]{1,19}")


@dataclass(frozen=True)
class Paging:
    """Validated paging and time filter of a list request."""

    limit: int = LIMIT_DEFAULT
    offset: int = 0
    start: int | None = None
    end: int | None = None

    def kwargs(self) -> dict[str, int | None]:
        """For ``store.list_jobs(project, **paging.kwargs())``."""
        return {"limit": self.limit, "offset": self.offset, "start": self.start, "end": self.end}


_RULES = {
    "limit": (LIMIT_MIN, LIMIT_MAX, f"an integer from {LIMIT_MIN} to {LIMIT_MAX}"),
    "offset": (0, INT64_MAX, "an integer of 0 or more"),
    "start": (0, INT64_MAX, "an integer of 0 or more (epoch milliseconds)"),
    "end": (0, INT64_MAX, "an integer of 0 or more (epoch milliseconds)"),
}


def _query_int(query: Mapping[str, Any], name: str) -> int | None:
    if name not in query:
        return None
    raw = query[name]
    if isinstance(raw, (list, tuple)):
        if len(raw) != 1:
            raise InvalidRequest("must be given once", field=name)
        raw = raw[0]
    lo, hi, what = _RULES[name]
    if isinstance(raw, bool) or not isinstance(raw, (str, int)):
        raise InvalidRequest(f"must be {what}, got {raw!r}", field=name)
    text = str(raw)
    if not _INTEGER.fullmatch(text) or not lo <= int(text) <= hi:
        raise InvalidRequest(f"must be {what}, got {text!r}", field=name)
    return int(text)


def _check_range(start: int | None, end: int | None) -> None:
    if start is not None and end is not None and start > end:
        raise InvalidRequest(f"must not be after end ({start} > {end})", field="start")


def parse_time_range(query: Mapping[str, Any]) -> tuple[int | None, int | None]:
    """``start``/``end`` of a query (strings as sent); other keys are ignored."""
    start, end = _query_int(query, "start"), _query_int(query, "end")
    _check_range(start, end)
    return start, end


def parse_paging(query: Mapping[str, Any]) -> Paging:
    """``limit``/``offset``/``start``/``end`` of a query, validated as the spec says.

    Values are the strings of a URL query or a command line; anything but a plain decimal
    integer in range (``"abc"``, ``"1.5"``, ``""``, ``"0"`` for limit) raises
    :class:`~localgene.errors.InvalidRequest` naming the query field. Other keys are ignored
    (each endpoint checks its own, e.g. ``instance-id`` or ``job_type``).
    """
    limit = _query_int(query, "limit")
    offset = _query_int(query, "offset")
    start, end = parse_time_range(query)
    return Paging(
        limit=LIMIT_DEFAULT if limit is None else limit,
        offset=0 if offset is None else offset,
        start=start,
        end=end,
    )


def check_paging(
    limit: int = LIMIT_DEFAULT, offset: int = 0, start: int | None = None, end: int | None = None
) -> Paging:
    """The same rules for values that are already integers (``bool`` is not an integer)."""
    values = {"limit": limit, "offset": offset, "start": start, "end": end}
    for name, value in values.items():
        if value is None and name in ("start", "end"):
            continue
        lo, hi, what = _RULES[name]
        if type(value) is not int or not lo <= value <= hi:
            raise InvalidRequest(f"must be {what}, got {value!r}", field=name)
    _check_range(start, end)
    return Paging(limit, offset, start, end)


# --------------------------------------------------------------------------------------------
# Schema

#: family of each kind: the two list endpoints (CNVkit tools, pipeline jobs).
FAMILY: dict[str, str] = {CNVKIT_KIND: "tool", **{k: "pipeline" for k in PIPELINE_KINDS}}
_FAMILY_MEMBERS: dict[str, frozenset[str]] = {
    fam: frozenset(k for k, f in FAMILY.items() if f == fam) for fam in set(FAMILY.values())
}

_STATUS_LIST = ", ".join(f"'{s.value}'" for s in ORDER)
_ACTIVE_SQL = "status IN ('LAUNCHING', 'RUNNING', 'CANCELING')"

#: MIGRATIONS[n] upgrades the schema from version n to n + 1. Never edit a released entry;
#: append a new one.
MIGRATIONS: list[list[str]] = [
    [
        f"""
        CREATE TABLE jobs (
            seq            INTEGER PRIMARY KEY AUTOINCREMENT,  -- submission order
            instance_id    TEXT    NOT NULL UNIQUE,
            project_id     TEXT    NOT NULL,
            owner          TEXT    NOT NULL,
            kind           TEXT    NOT NULL,
            family         TEXT    NOT NULL,
            status         TEXT    NOT NULL CHECK (status IN ({_STATUS_LIST})),
            start_time     INTEGER NOT NULL,                    -- epoch ms, submission
            end_time       INTEGER,                             -- epoch ms, final state
            progress_done  INTEGER NOT NULL DEFAULT 0,
            progress_total INTEGER NOT NULL DEFAULT 0,
            message        TEXT    NOT NULL DEFAULT '',
            warnings       TEXT    NOT NULL DEFAULT '[]',       -- JSON list of str
            input_size     INTEGER NOT NULL DEFAULT 0,          -- bytes
            request        TEXT    NOT NULL,                    -- JSON, as submitted
            claimed_by     TEXT,
            claimed_at     INTEGER,
            claims         INTEGER NOT NULL DEFAULT 0,
            runner_pid     INTEGER,
            runner_host    TEXT,
            runner_boot    TEXT,
            heartbeat      INTEGER,
            updated_at     INTEGER NOT NULL
        )
        """,
        # Listing pages, newest first (rowid = seq is the implicit last column: the tie-break).
        "CREATE INDEX jobs_time ON jobs (project_id, start_time)",
        "CREATE INDEX jobs_family_time ON jobs (project_id, family, start_time)",
        "CREATE INDEX jobs_kind_time ON jobs (project_id, kind, start_time)",
        "CREATE INDEX jobs_owner_time ON jobs (project_id, owner, start_time)",
        "CREATE INDEX jobs_owner_family_time ON jobs (project_id, owner, family, start_time)",
        "CREATE INDEX jobs_owner_kind_time ON jobs (project_id, owner, kind, start_time)",
        # Statistics: a covering index, already in GROUP BY order.
        "CREATE INDEX jobs_stats ON jobs (project_id, owner, status, start_time, input_size)",
        # The queue (first come first served) and the active jobs (recovery, slot counting).
        "CREATE INDEX jobs_queue ON jobs (seq) WHERE status = 'LAUNCHING' AND claimed_by IS NULL",
        f"CREATE INDEX jobs_active ON jobs (status) WHERE {_ACTIVE_SQL}",
    ],
    [
        # Why each earlier attempt of the job ended (JSON list of str), since its last retry.
        "ALTER TABLE jobs ADD COLUMN attempts TEXT NOT NULL DEFAULT '[]'",
    ],
    [
        # The job browser's listing filtered by state: the same pages, the state after the
        # project/owner/kind columns (jobs_stats cannot serve: input_size breaks the order).
        "CREATE INDEX jobs_status_time ON jobs (project_id, status, start_time)",
        "CREATE INDEX jobs_owner_status_time ON jobs (project_id, owner, status, start_time)",
        "CREATE INDEX jobs_kind_status_time ON jobs (project_id, kind, status, start_time)",
        "CREATE INDEX jobs_family_status_time ON jobs (project_id, family, status, start_time)",
        "CREATE INDEX jobs_owner_kind_status_time ON jobs (project_id, owner, kind, status, start_time)",
        "CREATE INDEX jobs_owner_family_status_time ON jobs (project_id, owner, family, status, start_time)",
    ],
]

#: The listing's index without and with a state filter (migration 3 added the latter).
_STATUS_INDEX = {
    "jobs_time": "jobs_status_time",
    "jobs_kind_time": "jobs_kind_status_time",
    "jobs_family_time": "jobs_family_status_time",
    "jobs_owner_time": "jobs_owner_status_time",
    "jobs_owner_kind_time": "jobs_owner_kind_status_time",
    "jobs_owner_family_time": "jobs_owner_family_status_time",
}
SCHEMA_VERSION = len(MIGRATIONS)

_COLUMNS = (
    "instance_id, project_id, owner, kind, status, start_time, end_time, progress_done, "
    "progress_total, message, warnings, input_size, request, claimed_by, runner_pid, "
    "runner_host, heartbeat"
)


def _record(row: sqlite3.Row) -> JobRecord:
    return JobRecord(
        instance_id=row["instance_id"],
        project_id=row["project_id"],
        owner=row["owner"],
        kind=row["kind"],
        status=Status(row["status"]),
        start_time=row["start_time"],
        end_time=row["end_time"],
        progress=f"{row['progress_done']}/{row['progress_total']}",
        message=row["message"],
        warnings=json.loads(row["warnings"]),
        input_size=row["input_size"],
        request=json.loads(row["request"]),
        claimed_by=row["claimed_by"],
        runner_pid=row["runner_pid"],
        runner_host=row["runner_host"],
        heartbeat=row["heartbeat"],
    )


def _kinds(kinds: str | Iterable[str] | None) -> frozenset[str] | None:
    if kinds is None:
        return None
    wanted = frozenset([kinds] if isinstance(kinds, str) else kinds)
    unknown = sorted(wanted - set(KINDS))
    if unknown or not wanted:
        raise InvalidRequest(
            f"must be one of {', '.join(PIPELINE_KINDS)}, got {', '.join(unknown) or 'nothing'}",
            field="job_type",
        )
    return None if wanted == frozenset(KINDS) else wanted


def _split_progress(progress: str) -> tuple[int, int]:
    done, _, total = progress.partition("/")
    return int(done), int(total)


# --------------------------------------------------------------------------------------------
# Processes


def merge_warnings(recorded: Iterable[str], found: Iterable[str]) -> list[str]:
    """``recorded`` then each of ``found`` not already there, in order, each once."""
    return list(dict.fromkeys([*recorded, *found]))


def this_host() -> str:
    return socket.gethostname()


def boot_id() -> str | None:
    """Identifies the current boot of this machine (Linux); None where unknown."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip() or None
    except OSError:
        return None


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this machine and is not a zombie, or is the leader of
    a process group that still has members (a job's Snakemake and its children)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
        alive = True
    except ProcessLookupError:
        alive = False
    except PermissionError:
        alive = True
    if alive:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            if stat.rpartition(")")[2].split()[0] == "Z":
                alive = False
        except (OSError, IndexError):
            pass
    if alive:
        return True
    try:
        os.killpg(pid, 0)
    except (ProcessLookupError, PermissionError, OSError):
        return False
    # Someone is in the group, but zombies count too: on a machine whose init does not reap
    # orphans (containers, micro-VMs), a killed job's processes stay as zombies for good.
    return _group_has_live_member(pid)


def _group_has_live_member(pgid: int) -> bool:
    """Whether a process that is not a zombie belongs to process group ``pgid`` (from /proc;
    True when /proc cannot be read, so a live job is never judged gone)."""
    try:
        stats = list(Path("/proc").glob("[0-9]*/stat"))
    except OSError:
        return True
    if not stats:
        return True
    for stat in stats:
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if len(fields) > 2 and fields[0] != "Z" and int(fields[2]) == pgid:
            return True
    return False


def _gave_up(attempts: list[str], *, launching: bool = False) -> str:
    """The message of a job failed because its runner died on every attempt."""
    retry = "`localgene retry` runs it again from where it stopped"
    if len(attempts) == 1:
        return f"runner died ({attempts[0]}); {retry}"
    while_ = " while launching" if launching else ""
    listed = "; ".join(f"{i}) {reason}" for i, reason in enumerate(attempts, 1))
    return f"runner died {len(attempts)} times{while_} (attempts: {listed}); {retry}"


# --------------------------------------------------------------------------------------------
# The store


class Store:
    """The job store at ``db_path``. Cheap to create; connections open lazily, one per thread
    and process (a Store object may be shared by threads, or inherited by a forked child)."""

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
    def open(cls, cfg: settings_mod.Settings | None = None, **kwargs: Any) -> "Store":
        """The store of the configured ``LOCALGENE_HOME`` (creating its folders), with
        ``LOCALGENE_MAX_ATTEMPTS`` and repair on read (the CLI's and the server's store)."""
        cfg = (cfg or settings_mod.load()).ensure_dirs()
        kwargs.setdefault("max_attempts", cfg.max_attempts)
        kwargs.setdefault("repair_on_read", True)
        store = cls(cfg.db_path, **kwargs)
        store._connect()
        return store

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

    def _insert(self, conn: sqlite3.Connection, record: JobRecord) -> None:
        done, total = _split_progress(record.progress)
        try:
            conn.execute(
                """INSERT INTO jobs (instance_id, project_id, owner, kind, family, status,
                       start_time, end_time, progress_done, progress_total, message, warnings,
                       input_size, request, updated_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                (
                    record.instance_id,
                    record.project_id,
                    record.owner,
                    record.kind,
                    FAMILY[record.kind],
                    record.status.value,
                    record.start_time,
                    record.end_time,
                    done,
                    total,
                    record.message,
                    json.dumps(record.warnings, ensure_ascii=False),
                    record.input_size,
                    json.dumps(record.request, ensure_ascii=False, separators=(",", ":")),
                    self.clock(),
                ),
            )
        except sqlite3.IntegrityError:
            raise StateConflict(f"job {record.instance_id} already exists") from None

    def submit(self, record: JobRecord) -> JobRecord:
        """Record a new job, atomically (one transaction). Returns the stored record."""
        with self._write() as conn:
            self._insert(conn, record)
        return record

    def submit_many(self, records: Iterable[JobRecord]) -> int:
        """Record many jobs in one transaction: all or none. Returns how many."""
        n = 0
        with self._write() as conn:
            for record in records:
                self._insert(conn, record)
                n += 1
        return n

    def find(self, instance_id: str) -> JobRecord | None:
        """A job by id alone, for runners and workers: no project or owner check."""
        row = (
            self._connect()
            .execute(f"SELECT {_COLUMNS} FROM jobs WHERE instance_id = ?", (instance_id,))
            .fetchone()
        )
        return _record(row) if row else None

    def _visible(
        self,
        conn: sqlite3.Connection,
        project_id: str,
        instance_id: str,
        owner: str | None,
        kinds: frozenset[str] | None,
    ) -> sqlite3.Row:
        kind_sql = ""
        params: list[Any] = [instance_id, project_id, owner, owner]
        if kinds is not None:
            kind_sql = f" AND kind IN ({', '.join('?' * len(kinds))})"
            params += sorted(kinds)
        row = conn.execute(
            f"""SELECT {_COLUMNS} FROM jobs
                WHERE instance_id = ? AND project_id = ? AND (? IS NULL OR owner = ?){kind_sql}""",
            params,
        ).fetchone()
        if row is not None:
            return row
        # Why not: unknown (404), or someone else's (403). Nothing of the job is returned.
        why = conn.execute(
            "SELECT project_id = ?, owner = ?, kind FROM jobs WHERE instance_id = ?",
            (project_id, owner, instance_id),
        ).fetchone()
        if why is None or (kinds is not None and why[2] not in kinds):
            raise JobNotFound(f"no job {instance_id} in project {project_id}")
        if not why[0]:
            raise AccessDenied(f"job {instance_id} belongs to another project")
        raise AccessDenied(f"job {instance_id} belongs to another user")

    def get(
        self,
        project_id: str,
        instance_id: str,
        owner: str | None = None,
        *,
        kinds: str | Iterable[str] | None = None,
    ) -> JobRecord:
        """One job of ``project_id`` (and of ``owner`` when given; ``None`` = any owner, for a
        tenant administrator). ``kinds`` restricts the kind (a pipeline id on the CNVkit path
        is "not found"). Raises JobNotFound (404) or AccessDenied (403)."""
        self._repair()
        with self._read() as conn:
            return _record(self._visible(conn, project_id, instance_id, owner, _kinds(kinds)))

    def _where(
        self,
        project_id: str,
        kinds: frozenset[str] | None,
        owner: str | None,
        instance_id: str | None,
        start: int | None,
        end: int | None,
        instance_ids: Iterable[str] | None = None,
        status: Status | str | None = None,
    ) -> tuple[str, str, list[Any]]:
        """(``INDEXED BY`` clause or "", WHERE text, parameters)."""
        clauses = ["project_id = ?"]
        params: list[Any] = [project_id]
        if owner is not None:
            clauses.append("owner = ?")
            params.append(owner)
        index = ""
        if kinds is None:
            index = "jobs_owner_time" if owner is not None else "jobs_time"
        elif len(kinds) == 1:
            clauses.append("kind = ?")
            params.append(next(iter(kinds)))
            index = "jobs_owner_kind_time" if owner is not None else "jobs_kind_time"
        else:
            family = next((f for f, m in _FAMILY_MEMBERS.items() if m == kinds), None)
            if family is not None:
                clauses.append("family = ?")
                params.append(family)
                index = "jobs_owner_family_time" if owner is not None else "jobs_family_time"
            else:
                clauses.append(f"kind IN ({', '.join('?' * len(kinds))})")
                params += sorted(kinds)
                index = ""
        clauses.append("start_time >= ? AND start_time <= ?")
        params += [0 if start is None else start, INT64_MAX if end is None else end]
        if instance_id is not None:
            clauses.append("instance_id = ?")
            params.append(instance_id)
            index = ""
        if instance_ids is not None:
            # One JSON parameter, so a batch of any size stays one statement.
            clauses.append("instance_id IN (SELECT value FROM json_each(?))")
            params.append(json.dumps(list(instance_ids)))
            index = ""
        if status is not None:  # the same pages from the index with the state in it
            clauses.append("status = ?")
            params.append(Status(status).value)
            index = _STATUS_INDEX.get(index, "")
        return (f" INDEXED BY {index}" if index else ""), " AND ".join(clauses), params

    def list_jobs(
        self,
        project_id: str,
        kinds: str | Iterable[str] | None = None,
        owner: str | None = None,
        instance_id: str | None = None,
        limit: int = LIMIT_DEFAULT,
        offset: int = 0,
        start: int | None = None,
        end: int | None = None,
        instance_ids: Iterable[str] | None = None,
        status: Status | str | None = None,
    ) -> tuple[int, list[JobRecord]]:
        """``(count, page)``: ``count`` is every matching job, ``page`` the ``limit`` newest
        after skipping ``offset`` (newest ``start_time`` first, then latest submitted).
        ``start``/``end`` are inclusive bounds on ``start_time`` (epoch ms). ``instance_ids``
        keeps only those jobs (e.g. a batch that ``submit`` printed); ``status`` only jobs in
        that state (the job browser's filter)."""
        check_paging(limit, offset, start, end)
        indexed, where, params = self._where(project_id, _kinds(kinds), owner, instance_id, start, end,
                                             instance_ids, status)
        self._repair()
        with self._read() as conn:
            count = conn.execute(f"SELECT count(*) FROM jobs{indexed} WHERE {where}", params).fetchone()[0]
            rows = conn.execute(self._page_sql(indexed, where), [*params, limit, offset]).fetchall()
        return count, [_record(r) for r in rows]

    @staticmethod
    def _page_sql(indexed: str, where: str) -> str:
        # The inner query walks only the index (rowid included); rows are read for one page.
        return f"""SELECT {_COLUMNS} FROM jobs WHERE seq IN (
                       SELECT seq FROM jobs{indexed} WHERE {where}
                       ORDER BY start_time DESC, seq DESC LIMIT ? OFFSET ?)
                   ORDER BY start_time DESC, seq DESC"""

    def explain_list(
        self,
        project_id: str,
        kinds: str | Iterable[str] | None = None,
        owner: str | None = None,
        status: Status | str | None = None,
        **paging: Any,
    ) -> list[str]:
        """EXPLAIN QUERY PLAN of a listing page, one line per step, indented two spaces per
        level (the page's inner query is the indented part). For tests and benchmarks."""
        p = check_paging(**paging)
        indexed, where, params = self._where(project_id, _kinds(kinds), owner, None, p.start, p.end,
                                             status=status)
        rows = (
            self._connect()
            .execute("EXPLAIN QUERY PLAN " + self._page_sql(indexed, where), [*params, p.limit, p.offset])
            .fetchall()
        )
        depth: dict[int, int] = {0: -1}
        lines = []
        for node_id, parent, _, detail in rows:
            depth[node_id] = depth.get(parent, -1) + 1
            lines.append("  " * depth[node_id] + detail)
        return lines

    # -- state --------------------------------------------------------------------------------

    def transition(
        self,
        instance_id: str,
        new_status: Status | str,
        *,
        message: str | None = None,
        expected: Status | str | Iterable[Status | str] | None = None,
        add_warnings: Iterable[str] = (),
    ) -> JobRecord:
        """Move a job to ``new_status`` if the state machine allows it (compare-and-set in one
        ``BEGIN IMMEDIATE`` transaction). ``expected``: the state(s) the caller believes the job
        is in; anything else is a StateConflict. ``message`` replaces the job's message when
        given. ``add_warnings`` (e.g. what the workflow found while it ran) are appended to the
        job's warnings in the same transaction, each once: one already recorded, or repeated, is
        not added again. A final state stamps ``end_time``."""
        new = Status(new_status)
        if expected is None:
            allowed = None
        elif isinstance(expected, (str, Status)):
            allowed = frozenset({Status(expected)})
        else:
            allowed = frozenset(Status(s) for s in expected)
        now = self.clock()
        with self._write() as conn:
            row = conn.execute("SELECT status, warnings FROM jobs WHERE instance_id = ?",
                               (instance_id,)).fetchone()
            if row is None:
                raise JobNotFound(f"no job {instance_id}")
            old = Status(row[0])
            if allowed is not None and old not in allowed:
                names = " or ".join(s.value for s in ORDER if s in allowed)
                raise StateConflict(f"job is {old}, not {names}")
            check_transition(old, new)
            warnings = merge_warnings(json.loads(row[1]), add_warnings)
            conn.execute(
                """UPDATE jobs SET status = ?, message = COALESCE(?, message), warnings = ?,
                       end_time = CASE WHEN ? THEN ? ELSE end_time END, updated_at = ?
                   WHERE instance_id = ? AND status = ?""",
                (new.value, message, json.dumps(warnings, ensure_ascii=False), new in FINAL, now, now,
                 instance_id, old.value),
            )
            return _record(self._row(conn, instance_id))

    def request_cancel(
        self,
        project_id: str,
        instance_id: str,
        owner: str | None = None,
        *,
        kinds: str | Iterable[str] | None = None,
        message: str | None = None,
    ) -> JobRecord:
        """A user's cancel, checked like :meth:`get`. A LAUNCHING job that no worker holds has
        nothing to stop and becomes CANCELLED at once (through CANCELING, in one transaction);
        any other LAUNCHING or RUNNING job becomes CANCELING, and its runner finishes the cancel.
        Other states: StateConflict (409)."""
        now = self.clock()
        with self._write() as conn:
            row = self._visible(conn, project_id, instance_id, owner, _kinds(kinds))
            old = Status(row["status"])
            check_transition(old, Status.CANCELING)
            new = Status.CANCELING
            if old is Status.LAUNCHING and row["claimed_by"] is None:
                check_transition(Status.CANCELING, Status.CANCELLED)
                new = Status.CANCELLED
            conn.execute(
                """UPDATE jobs SET status = ?, message = COALESCE(?, message),
                       end_time = CASE WHEN ? THEN ? ELSE end_time END, updated_at = ?
                   WHERE instance_id = ? AND status = ?""",
                (new.value, message, new in FINAL, now, now, instance_id, old.value),
            )
            return _record(self._row(conn, instance_id))

    def _row(self, conn: sqlite3.Connection, instance_id: str) -> sqlite3.Row:
        return conn.execute(f"SELECT {_COLUMNS} FROM jobs WHERE instance_id = ?", (instance_id,)).fetchone()

    def _update_active(self, instance_id: str, sql: str, params: Iterable[Any]) -> bool:
        """Run ``UPDATE jobs SET <sql> WHERE instance_id = ? AND active``; True if it did.
        False for a job in a final state; JobNotFound for an unknown id."""
        with self._write() as conn:
            cur = conn.execute(
                f"UPDATE jobs SET {sql}, updated_at = ? WHERE instance_id = ? AND {_ACTIVE_SQL}",
                [*params, self.clock(), instance_id],
            )
            if cur.rowcount:
                return True
            if conn.execute("SELECT 1 FROM jobs WHERE instance_id = ?", (instance_id,)).fetchone() is None:
                raise JobNotFound(f"no job {instance_id}")
            return False

    def set_progress(self, instance_id: str, done: int, total: int) -> bool:
        """Record ``done/total`` steps (also a heartbeat). False if the job is already final."""
        if type(done) is not int or type(total) is not int or not 0 <= done <= total:
            raise InvalidRequest(f"must satisfy 0 <= done <= total, got {done}/{total}", field="progress")
        now = self.clock()
        return self._update_active(
            instance_id, "progress_done = ?, progress_total = ?, heartbeat = ?", [done, total, now]
        )

    def set_input_size(self, instance_id: str, size: int) -> bool:
        """Record the summed input size in bytes (known once inputs are staged)."""
        if type(size) is not int or size < 0:
            raise InvalidRequest(f"must be a byte count >= 0, got {size!r}", field="input_size")
        return self._update_active(instance_id, "input_size = ?", [size])

    def set_runner(self, instance_id: str, pid: int, host: str | None = None) -> bool:
        """Record the process whose death means the job's death (best: the leader of the job's
        own process group). Also a heartbeat. False if the job is already final."""
        return self._update_active(
            instance_id,
            "runner_pid = ?, runner_host = ?, runner_boot = ?, heartbeat = ?",
            [pid, host or this_host(), boot_id(), self.clock()],
        )

    def heartbeat(self, instance_id: str) -> bool:
        """The runner is alive (used for runners on other hosts, see ``recover_orphans``)."""
        return self._update_active(instance_id, "heartbeat = ?", [self.clock()])

    # -- the queue ----------------------------------------------------------------------------

    def claim_next_launching(
        self,
        worker: str | None = None,
        *,
        pid: int | None = None,
        host: str | None = None,
        slots: int | None = None,
    ) -> JobRecord | None:
        """Atomically take the oldest unclaimed LAUNCHING job (first come first served, by
        submission order) for ``worker``; None if there is none, or if ``slots`` is given and
        that many jobs already hold a slot (claimed LAUNCHING, RUNNING or CANCELING jobs, on
        any worker). ``pid``/``host`` (default: this process) become the job's runner until
        :meth:`set_runner` names another. The job stays LAUNCHING: the caller moves it on."""
        pid = os.getpid() if pid is None else pid
        host = host or this_host()
        worker = worker or f"{host}:{pid}"
        now = self.clock()
        with self._write() as conn:
            if slots is not None:
                busy = conn.execute(
                    f"""SELECT count(*) FROM jobs WHERE {_ACTIVE_SQL}
                        AND (status != 'LAUNCHING' OR claimed_by IS NOT NULL)"""
                ).fetchone()[0]
                if busy >= slots:
                    return None
            row = conn.execute(
                """SELECT instance_id FROM jobs INDEXED BY jobs_queue
                   WHERE status = 'LAUNCHING' AND claimed_by IS NULL ORDER BY seq LIMIT 1"""
            ).fetchone()
            if row is None:
                return None
            conn.execute(
                """UPDATE jobs SET claimed_by = ?, claimed_at = ?, claims = claims + 1,
                       runner_pid = ?, runner_host = ?, runner_boot = ?, heartbeat = ?,
                       updated_at = ?
                   WHERE instance_id = ? AND status = 'LAUNCHING' AND claimed_by IS NULL""",
                (worker, now, pid, host, boot_id(), now, now, row[0]),
            )
            return _record(self._row(conn, row[0]))

    def claim(self, instance_id: str, worker: str | None = None, *, pid: int | None = None,
              host: str | None = None) -> bool:
        """Claim one given LAUNCHING job (a foreground run is its own runner); False if it is
        not LAUNCHING or another worker holds it."""
        pid = os.getpid() if pid is None else pid
        host = host or this_host()
        now = self.clock()
        with self._write() as conn:
            cur = conn.execute(
                """UPDATE jobs SET claimed_by = ?, claimed_at = ?, claims = claims + 1,
                       runner_pid = ?, runner_host = ?, runner_boot = ?, heartbeat = ?, updated_at = ?
                   WHERE instance_id = ? AND status = 'LAUNCHING' AND claimed_by IS NULL""",
                (worker or f"{host}:{pid}", now, pid, host, boot_id(), now, now, instance_id),
            )
            return cur.rowcount == 1

    def release_claim(self, instance_id: str) -> bool:
        """Give a claimed, still LAUNCHING job back to the queue (e.g. a worker shutting down)."""
        with self._write() as conn:
            cur = conn.execute(
                """UPDATE jobs SET claimed_by = NULL, claimed_at = NULL, runner_pid = NULL,
                       runner_host = NULL, runner_boot = NULL, updated_at = ?
                   WHERE instance_id = ? AND status = 'LAUNCHING' AND claimed_by IS NOT NULL""",
                (self.clock(), instance_id),
            )
            return cur.rowcount == 1

    def active_jobs(self) -> list[JobRecord]:
        """Every LAUNCHING, RUNNING or CANCELING job of every project, oldest first."""
        rows = (
            self._connect()
            .execute(f"SELECT {_COLUMNS} FROM jobs INDEXED BY jobs_active WHERE {_ACTIVE_SQL} ORDER BY seq")
            .fetchall()
        )
        return [_record(r) for r in rows]

    def recover_orphans(
        self,
        is_alive: Callable[[int], bool] | None = None,
        *,
        host: str | None = None,
        stale_after_ms: int | None = None,
        max_attempts: int | None = None,
    ) -> list[JobRecord]:
        """Re-queue or end the jobs whose runner is gone; a worker runs it on every tick.

        Candidates are RUNNING and CANCELING jobs, and LAUNCHING jobs claimed by a worker. A
        candidate's runner is gone when it ran on this host (``host``, default this machine)
        and its pid is not alive (``is_alive(pid)`` is False; default :func:`pid_alive`), or the
        machine has rebooted since (boot id changed), or no runner pid was recorded; for a
        runner on another host, only when ``stale_after_ms`` is given and its last heartbeat is
        older than that. Then:

        * CANCELING → CANCELLED (nothing of it runs any more);
        * RUNNING or claimed LAUNCHING, started fewer than ``max_attempts`` times (default: the
          store's, ``LOCALGENE_MAX_ATTEMPTS``) → back to the queue (LAUNCHING, unclaimed), to be
          **resumed in its folder** by the next worker; the reason is added to its attempts;
        * otherwise → FAILED, the message listing every attempt's end.

        Each change is a compare-and-set: a job that moved on meanwhile is left alone.
        Returns the changed records.
        """
        is_alive = is_alive or self.is_alive
        limit = self.max_attempts if max_attempts is None else max_attempts
        host = host or this_host()
        boot = boot_id()
        now = self.clock()
        candidates = (
            self._connect()
            .execute(
                f"""SELECT instance_id, status, claimed_by, claims, runner_pid, runner_host,
                       runner_boot, heartbeat, attempts
                FROM jobs INDEXED BY jobs_active
                WHERE {_ACTIVE_SQL} AND (status != 'LAUNCHING' OR claimed_by IS NOT NULL)"""
            )
            .fetchall()
        )
        changed: list[JobRecord] = []
        for c in candidates:
            pid, where = c["runner_pid"], c["runner_host"] or host
            reason = None
            if where == host:
                if pid is None:
                    reason = "no runner process was recorded"
                elif c["runner_boot"] and boot and c["runner_boot"] != boot:
                    reason = f"pid {pid} on {where} is gone: the machine restarted"
                elif not is_alive(pid):
                    reason = f"pid {pid} on {where} is gone"
            elif stale_after_ms is not None:
                beat = c["heartbeat"]
                if beat is None or now - beat > stale_after_ms:
                    silent = "ever" if beat is None else f"for {(now - beat) // 1000} s"
                    reason = f"no heartbeat from pid {pid} on {where} {silent}"
            if reason is None:
                continue
            old = Status(c["status"])
            started = max(c["claims"], 1)
            attempts = [*json.loads(c["attempts"]), reason]
            requeue = False
            if old is Status.CANCELING:
                new, message = Status.CANCELLED, f"cancelled; its runner died ({reason})"
            elif old in RESUMABLE and started < limit:
                new, requeue = Status.LAUNCHING, True
                message = (f"runner died ({reason}); to be resumed in its folder "
                           f"(attempt {started + 1} of {limit})")
            else:
                new, message = Status.FAILED, _gave_up(attempts, launching=old is Status.LAUNCHING)
            with self._write() as conn:
                same = """instance_id = ? AND status = ? AND claimed_by IS ? AND runner_pid IS ?"""
                key = (c["instance_id"], old.value, c["claimed_by"], pid)
                if requeue:
                    cur = conn.execute(
                        f"""UPDATE jobs SET status = 'LAUNCHING', message = ?, attempts = ?,
                                claimed_by = NULL, claimed_at = NULL, runner_pid = NULL,
                                runner_host = NULL, runner_boot = NULL, updated_at = ?
                            WHERE {same}""",
                        (message, json.dumps(attempts), now, *key),
                    )
                else:
                    check_transition(old, new)
                    cur = conn.execute(
                        f"""UPDATE jobs SET status = ?, message = ?, attempts = ?, end_time = ?,
                                updated_at = ?
                            WHERE {same}""",
                        (new.value, message, json.dumps(attempts), now, now, *key),
                    )
                if cur.rowcount:
                    changed.append(_record(self._row(conn, c["instance_id"])))
        return changed

    def _repair(self) -> None:
        """Repair on read: a record never says RUNNING (or CANCELING, or claimed) after its
        runner on this host is gone. Only this host's runners are judged (no heartbeat age)."""
        if self.repair_on_read:
            self.recover_orphans()

    def attempts(self, instance_id: str) -> list[str]:
        """Why each earlier attempt of a job ended (its runner died), since its last retry."""
        row = self._connect().execute("SELECT attempts FROM jobs WHERE instance_id = ?", (instance_id,)).fetchone()
        if row is None:
            raise JobNotFound(f"no job {instance_id}")
        return json.loads(row[0])

    def retry(
        self,
        project_id: str,
        instance_id: str,
        owner: str | None = None,
        *,
        kinds: str | Iterable[str] | None = None,
    ) -> JobRecord:
        """A user's retry, checked like :meth:`get`: a FAILED or CANCELLED job goes back to the
        queue (LAUNCHING) with a fresh set of attempts; its worker resumes it in its folder, so
        the steps that had finished are not run again. Other states: StateConflict (409)."""
        now = self.clock()
        self._repair()
        with self._write() as conn:
            row = self._visible(conn, project_id, instance_id, owner, _kinds(kinds))
            old = Status(row["status"])
            check_retry(old)
            before = f": {row['message']}" if row["message"] else ""
            conn.execute(
                """UPDATE jobs SET status = 'LAUNCHING', message = ?, end_time = NULL, attempts = '[]',
                       claims = 0, claimed_by = NULL, claimed_at = NULL, runner_pid = NULL,
                       runner_host = NULL, runner_boot = NULL, heartbeat = NULL, updated_at = ?
                   WHERE instance_id = ? AND status = ?""",
                (f"retried (it was {old}{before})", now, instance_id, old.value),
            )
            return _record(self._row(conn, instance_id))

    # -- statistics ---------------------------------------------------------------------------

    def statistics(
        self,
        project_id: str,
        start: int | None = None,
        end: int | None = None,
        owner: str | None = None,
    ) -> dict[str, Any]:
        """The spec's statistics of every job of ``project_id`` started in ``[start, end]``.

        ``owner=None`` is the tenant administrator's view (every user, with ``users``);
        an owner gets only their own totals, ``total_user_num`` 1 and no ``users``.
        """
        check_paging(start=start, end=end)
        self._repair()
        params: list[Any] = [project_id]
        owner_sql = ""
        if owner is not None:
            owner_sql = " AND owner = ?"
            params.append(owner)
        params += [0 if start is None else start, INT64_MAX if end is None else end]
        rows = (
            self._connect()
            .execute(
                f"""SELECT owner, status, count(*) AS n, sum(input_size) AS size
                FROM jobs INDEXED BY jobs_stats
                WHERE project_id = ?{owner_sql} AND start_time >= ? AND start_time <= ?
                GROUP BY owner, status ORDER BY owner""",
                params,
            )
            .fetchall()
        )
        users: dict[str, dict[str, int]] = {}
        for row in rows:
            user = users.setdefault(
                row["owner"],
                {"user_name": row["owner"], **{f"{s.value.lower()}_num": 0 for s in ORDER}, "input_size": 0},
            )
            user[f"{row['status'].lower()}_num"] = row["n"]
            user["input_size"] += int(row["size"])
        result: dict[str, Any] = {
            "total_user_num": 1 if owner is not None else len(users),
            "total_launching_num": 0,
            "total_running_num": 0,
            "total_failed_num": 0,
            "total_finished_num": 0,
            "total_canceling_num": 0,
            "total_cancelled_num": 0,
            "total_input_size": 0,
        }
        for user in users.values():
            for s in ORDER:
                result[f"total_{s.value.lower()}_num"] += user[f"{s.value.lower()}_num"]
            result["total_input_size"] += user["input_size"]
        if owner is None:
            result["users"] = [
                {
                    "user_name": u["user_name"],
                    "launching_num": u["launching_num"],
                    "running_num": u["running_num"],
                    "failed_num": u["failed_num"],
                    "finished_num": u["finished_num"],
                    "canceling_num": u["canceling_num"],
                    "cancelled_num": u["cancelled_num"],
                    "input_size": u["input_size"],
                }
                for u in users.values()
            ]
        return result


def open_store(cfg: settings_mod.Settings | None = None) -> Store:
    """:meth:`Store.open` of the configured settings."""
    return Store.open(cfg)


__all__ = [
    "FAMILY",
    "INT64_MAX",
    "LIMIT_DEFAULT",
    "LIMIT_MAX",
    "LIMIT_MIN",
    "MAX_CLAIMS",
    "MIGRATIONS",
    "Paging",
    "SCHEMA_VERSION",
    "Store",
    "boot_id",
    "check_paging",
    "open_store",
    "parse_paging",
    "parse_time_range",
    "pid_alive",
    "this_host",
]

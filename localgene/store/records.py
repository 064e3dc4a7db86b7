"""Job records: submit, read (ownership enforced in the query), list, state transitions,
progress and runner fields."""

from __future__ import annotations

import json
import sqlite3
from typing import Any, Iterable

from localgene.errors import (
    AccessDenied,
    InvalidRequest,
    JobNotFound,
    StateConflict,
)
from localgene.jobs.bodies import JobRecord
from localgene.jobs.status import FINAL, ORDER, Status, check_transition
from localgene.store.connection import StoreBase
from localgene.store.liveness import boot_id, this_host
from localgene.store.query import INT64_MAX, LIMIT_DEFAULT, check_paging
from localgene.store.schema import (
    _ACTIVE_SQL,
    _COLUMNS,
    _FAMILY_MEMBERS,
    _STATUS_INDEX,
    FAMILY,
    _kinds,
    _record,
    _split_progress,
)


def merge_warnings(recorded: Iterable[str], found: Iterable[str]) -> list[str]:
    """``recorded`` then each of ``found`` not already there, in order, each once."""
    return list(dict.fromkeys([*recorded, *found]))



class StoreJobs(StoreBase):
    """Submitting, reading, listing and updating job records."""

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

    def find_existing(self, instance_id: str) -> JobRecord:
        """A job its caller recorded or runs (``localgene run``, a runner, a worker). Jobs are
        never deleted, so it is there; raises JobNotFound (404) if the store lost it."""
        record = self.find(instance_id)
        if record is None:
            raise JobNotFound(f"no job {instance_id}")
        return record

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


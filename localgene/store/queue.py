"""The queue and crash recovery: claims, orphaned jobs re-queued or failed, retries."""

from __future__ import annotations

import json
import os
from typing import Callable, Iterable

from localgene.errors import (
    JobNotFound,
)
from localgene.jobs.bodies import JobRecord
from localgene.jobs.status import RESUMABLE, Status, check_retry, check_transition
from localgene.store.liveness import boot_id, this_host
from localgene.store.records import StoreJobs
from localgene.store.schema import _ACTIVE_SQL, _COLUMNS, _kinds, _record


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


class StoreQueue(StoreJobs):
    """Claiming queued jobs, recovering orphans, retrying."""

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


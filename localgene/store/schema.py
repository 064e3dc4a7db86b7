"""The store's SQLite schema: the numbered migrations, the listing indexes, and rows to records."""

from __future__ import annotations

import json
import sqlite3
from typing import Iterable

from localgene.errors import (
    InvalidRequest,
)
from localgene.jobs.bodies import CNVKIT_KIND, KINDS, PIPELINE_KINDS, JobRecord
from localgene.jobs.status import ORDER, Status

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

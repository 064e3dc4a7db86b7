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

from localgene import settings as settings_mod
from localgene.store.connection import MAX_CLAIMS
from localgene.store.liveness import boot_id, pid_alive, this_host
from localgene.store.query import (
    INT64_MAX,
    LIMIT_DEFAULT,
    LIMIT_MAX,
    LIMIT_MIN,
    Paging,
    check_paging,
    parse_paging,
    parse_time_range,
)
from localgene.store.queue import StoreQueue
from localgene.store.records import merge_warnings
from localgene.store.schema import FAMILY, MIGRATIONS, SCHEMA_VERSION
from localgene.store.statistics import StoreStatistics


class Store(StoreQueue, StoreStatistics):
    """The job store at ``db_path``. Cheap to create; connections open lazily, one per thread
    and process (a Store object may be shared by threads, or inherited by a forked child)."""


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
    "merge_warnings",
    "check_paging",
    "open_store",
    "parse_paging",
    "parse_time_range",
    "pid_alive",
    "this_host",
]

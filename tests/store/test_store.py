"""The SQLite job store: real database files, several OS processes."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from localgene import settings
from localgene.errors import (
    AccessDenied,
    EnvironmentProblem,
    InvalidRequest,
    JobNotFound,
    StateConflict,
)
from localgene.jobs.bodies import PIPELINE_KINDS, new_record
from localgene.jobs.status import FINAL, Status
from localgene.store import (
    MAX_CLAIMS,
    SCHEMA_VERSION,
    Store,
    check_paging,
    parse_paging,
    parse_time_range,
    pid_alive,
    this_host,
)

REQUEST = {
    "experimental_inputs": ["t.bam"],
    "control_inputs": ["n.bam"],
    "output_dir": "o",
    "ref": "r.fa",
    "bed": "b.bed",
}


class Clock:
    def __init__(self, t: int = 1_000_000):
        self.t = t

    def __call__(self) -> int:
        return self.t


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def store(tmp_path, clock):
    s = Store(tmp_path / "home" / "localgene.db", clock=clock)
    yield s
    s.close()


def add(store, project="p1", owner="alice", kind="cnvkit", start=1_000, request=None, size=0):
    rec = new_record(
        project,
        owner,
        kind,
        request if request is not None else ({"job_type": kind} if kind != "cnvkit" else REQUEST),
        start_time=start,
        input_size=size,
    )
    return store.submit(rec)


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


# --------------------------------------------------------------------------------------------
# Settings and the database file


def test_settings_defaults_and_env(tmp_path, monkeypatch):
    monkeypatch.delenv("LOCALGENE_HOME", raising=False)
    monkeypatch.delenv("LOCALGENE_SLOTS", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    cfg = settings.load()
    assert cfg.home == tmp_path / ".local/share/localgene"
    assert cfg.db_path == cfg.home / "localgene.db"
    assert cfg.jobs_dir == cfg.home / "jobs" and cfg.cache_dir == cfg.home / "cache"
    assert cfg.slots == max(1, settings.cpu_count() // 2)
    monkeypatch.setenv("LOCALGENE_HOME", str(tmp_path / "h"))
    monkeypatch.setenv("LOCALGENE_SLOTS", "3")
    cfg = settings.load()  # read at call time, not import time
    assert cfg.home == tmp_path / "h" and cfg.slots == 3
    assert settings.default_slots(1) == 1 and settings.default_slots(8) == 4
    for bad in ("0", "-1", "two", "1.5"):
        with pytest.raises(InvalidRequest, match="LOCALGENE_SLOTS"):
            settings.load({"LOCALGENE_SLOTS": bad})


def test_cache_bounds_from_env():
    cfg = settings.load({"LOCALGENE_HOME": "/x"})
    assert cfg.cache_max_bytes is None and cfg.coverage_cache_max_bytes is None  # unbounded by default
    cfg = settings.load({"LOCALGENE_CACHE_MAX_GB": "50", "LOCALGENE_COVERAGE_CACHE_MAX_GB": "0.5"})
    assert cfg.cache_max_bytes == 50 << 30 and cfg.coverage_cache_max_bytes == 1 << 29
    for name in ("LOCALGENE_CACHE_MAX_GB", "LOCALGENE_COVERAGE_CACHE_MAX_GB"):
        for bad in ("-1", "lots", "nan", "inf", "5GB"):
            with pytest.raises(InvalidRequest, match=rf"^{name}: must be a number of GB"):
                settings.load({name: bad})


def test_store_open_uses_settings(tmp_path):
    cfg = settings.load({"LOCALGENE_HOME": str(tmp_path / "lg")})
    store = Store.open(cfg)
    assert (tmp_path / "lg" / "localgene.db").exists()
    assert cfg.jobs_dir.is_dir() and cfg.cache_dir.is_dir()
    store.close()


def test_wal_and_schema_version(store):
    add(store)
    conn = sqlite3.connect(store.db_path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 3
    conn.close()
    again = Store(store.db_path)
    assert again.schema_version() == SCHEMA_VERSION
    assert again.list_jobs("p1")[0] == 1  # reopening keeps the data


def test_newer_schema_refused(tmp_path):
    path = tmp_path / "x.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(EnvironmentProblem, match="newer"):
        Store(path).list_jobs("p")


def test_unusable_location_is_one_clear_error(tmp_path):
    (tmp_path / "afile").write_text("not a folder")
    with pytest.raises(EnvironmentProblem, match="cannot open the job database .*afile"):
        Store(tmp_path / "afile" / "localgene.db").list_jobs("p")


def test_request_stored_exactly(store):
    request = {"z_last": 1, "a": ["ü", {"k": None}], "f": 1.5, "b": False}
    rec = add(store, request=request)
    got = store.get("p1", rec.instance_id)
    assert got.request == request and list(got.request) == ["z_last", "a", "f", "b"]
    raw = store._connect().execute("SELECT request FROM jobs").fetchone()[0]
    assert json.loads(raw) == request and "ü" in raw


def test_duplicate_id_refused_and_nothing_half_written(store):
    rec = add(store)
    with pytest.raises(StateConflict):
        store.submit(rec)
    other = new_record("p1", "alice", "cnvkit", REQUEST)
    with pytest.raises(StateConflict):
        store.submit_many([other, rec])  # the second fails: the first is rolled back too
    assert store.list_jobs("p1")[0] == 1
    assert store.find(other.instance_id) is None


def test_find_existing_returns_the_job_or_raises_not_found(store):
    rec = add(store)
    store.transition(rec.instance_id, Status.RUNNING)
    assert store.find_existing(rec.instance_id) == store.find(rec.instance_id)
    assert store.find_existing(rec.instance_id).status is Status.RUNNING
    missing = new_record("p1", "alice", "cnvkit", REQUEST).instance_id
    with pytest.raises(JobNotFound, match=f"no job {missing}"):
        store.find_existing(missing)


# --------------------------------------------------------------------------------------------
# Paging rules

BAD_QUERIES = [
    ({"limit": "0"}, "limit"),
    ({"limit": "101"}, "limit"),
    ({"limit": "-1"}, "limit"),
    ({"limit": "abc"}, "limit"),
    ({"limit": "1.5"}, "limit"),
    ({"limit": ""}, "limit"),
    ({"limit": " 5"}, "limit"),
    ({"limit": "1e1"}, "limit"),
    ({"offset": "-1"}, "offset"),
    ({"offset": "abc"}, "offset"),
    ({"offset": "1.5"}, "offset"),
    ({"offset": ""}, "offset"),
    ({"start": "-5"}, "start"),
    ({"start": "abc"}, "start"),
    ({"start": "1.5"}, "start"),
    ({"start": ""}, "start"),
    ({"end": "abc"}, "end"),
    ({"end": "1.5"}, "end"),
    ({"end": ""}, "end"),
    ({"end": "99999999999999999999"}, "end"),
    ({"start": "10", "end": "9"}, "start"),
    ({"limit": ["1", "2"]}, "limit"),
]


@pytest.mark.parametrize("query,field", BAD_QUERIES)
def test_bad_paging_refused_naming_field(query, field):
    with pytest.raises(InvalidRequest) as info:
        parse_paging(query)
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}: ")
    assert info.value.http_status == 400 and info.value.code == "DLI.0001"


def test_good_paging():
    assert parse_paging({}).kwargs() == {"limit": 10, "offset": 0, "start": None, "end": None}
    p = parse_paging({"limit": "100", "offset": "0", "start": "5", "end": "5", "instance-id": "x"})
    assert (p.limit, p.offset, p.start, p.end) == (100, 0, 5, 5)
    assert parse_paging({"limit": "1", "offset": "30"}).offset == 30
    assert parse_time_range({"start": "1", "end": "2"}) == (1, 2)


@pytest.mark.parametrize(
    "kwargs,field",
    [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"limit": True}, "limit"),
        ({"offset": -1}, "offset"),
        ({"start": 3, "end": 2}, "start"),
        ({"start": "1"}, "start"),
        ({"end": 1.0}, "end"),
    ],
)
def test_list_jobs_checks_integers_too(store, kwargs, field):
    with pytest.raises(InvalidRequest) as info:
        store.list_jobs("p1", **kwargs)
    assert info.value.field == field
    with pytest.raises(InvalidRequest):
        check_paging(**kwargs)


# --------------------------------------------------------------------------------------------
# Listing


def test_newest_first_count_and_pages(store):
    ids = [add(store, start=1_000 + i * 10).instance_id for i in range(25)]
    count, page = store.list_jobs("p1", "cnvkit")
    assert count == 25 and len(page) == 10
    assert [r.instance_id for r in page] == ids[::-1][:10]
    count, page = store.list_jobs("p1", "cnvkit", limit=10, offset=20)
    assert count == 25 and [r.instance_id for r in page] == ids[::-1][20:]
    count, page = store.list_jobs("p1", "cnvkit", offset=1000)
    assert count == 25 and page == []


def test_ties_broken_by_submission_order_stably(store):
    ids = [add(store, start=5_000).instance_id for _ in range(7)]
    seen = []
    for offset in range(0, 7, 2):
        seen += [r.instance_id for r in store.list_jobs("p1", limit=2, offset=offset)[1]]
    assert seen == ids[::-1]  # newest submitted first, no repeats across pages


def test_start_end_inclusive(store):
    for t in (100, 200, 300, 400):
        add(store, start=t)
    count, page = store.list_jobs("p1", start=200, end=300)
    assert count == 2 and [r.start_time for r in page] == [300, 200]
    assert store.list_jobs("p1", start=400)[0] == 1
    assert store.list_jobs("p1", end=100)[0] == 1
    assert store.list_jobs("p1", start=401)[0] == 0


def test_filters_project_owner_kind_instance(store):
    a = add(store, owner="alice", kind="cnvkit")
    add(store, owner="bob", kind="cnvkit")
    g = add(store, owner="alice", kind="DNA_GERMLINE")
    add(store, owner="alice", kind="RNA_DIFF_EXPR")
    add(store, project="p2", owner="alice", kind="cnvkit")
    assert store.list_jobs("p1", "cnvkit")[0] == 2
    assert store.list_jobs("p1", PIPELINE_KINDS)[0] == 2
    assert store.list_jobs("p1", "DNA_GERMLINE")[1][0].instance_id == g.instance_id
    assert store.list_jobs("p1")[0] == 4
    assert store.list_jobs("p1", owner="alice")[0] == 3
    assert store.list_jobs("p1", PIPELINE_KINDS, owner="bob")[0] == 0
    assert store.list_jobs("p1", ["cnvkit", "RNA_DIFF_EXPR"])[0] == 3
    assert store.list_jobs("p2")[0] == 1
    count, page = store.list_jobs("p1", "cnvkit", instance_id=a.instance_id)
    assert count == 1 and page[0].instance_id == a.instance_id
    assert store.list_jobs("p1", PIPELINE_KINDS, instance_id=a.instance_id)[0] == 0
    assert store.list_jobs("p2", instance_id=a.instance_id)[0] == 0
    with pytest.raises(InvalidRequest, match="job_type"):
        store.list_jobs("p1", "DNA_OTHER")


def test_filter_by_state_with_paging(store):
    """The job browser's state filter: counted and paged like every listing, newest first."""
    jobs = [add(store, owner="alice", start=1_000 + i) for i in range(7)]
    add(store, owner="bob", start=5_000)
    for job in jobs[:5]:
        store.request_cancel("p1", job.instance_id, "alice")  # unclaimed: CANCELLED at once
    count, page = store.list_jobs("p1", "cnvkit", owner="alice", status="CANCELLED", limit=2, offset=2)
    assert count == 5 and [j.instance_id for j in page] == [jobs[2].instance_id, jobs[1].instance_id]
    assert store.list_jobs("p1", status=Status.LAUNCHING)[0] == 3
    assert store.list_jobs("p1", owner="alice", status="LAUNCHING")[0] == 2
    assert store.list_jobs("p1", "cnvkit", status="RUNNING")[0] == 0
    assert store.list_jobs("p1", status="CANCELLED", start=1_003, end=1_004)[0] == 2
    with pytest.raises(ValueError):
        store.list_jobs("p1", status="DONE")


@pytest.mark.parametrize(
    "kinds,owner,index",
    [
        ("cnvkit", None, "jobs_kind_time"),
        (PIPELINE_KINDS, None, "jobs_family_time"),
        ("DNA_SOMATIC", None, "jobs_kind_time"),
        (None, None, "jobs_time"),
        ("cnvkit", "alice", "jobs_owner_kind_time"),
        (PIPELINE_KINDS, "alice", "jobs_owner_family_time"),
        (None, "alice", "jobs_owner_time"),
    ],
)
def test_pages_use_an_index_without_sorting(store, kinds, owner, index):
    for i in range(50):
        add(store, owner=["alice", "bob"][i % 2], kind=["cnvkit", "DNA_SOMATIC"][i % 2], start=i)
    plan = store.explain_list("p1", kinds, owner, limit=10, offset=20, start=0, end=10**13)
    inner = [line for line in plan if line.startswith("  ")]
    assert any(f"COVERING INDEX {index} " in line for line in inner), plan
    assert not any("TEMP B-TREE" in line or "SCAN" in line for line in inner), plan


@pytest.mark.parametrize(
    "kinds,owner,index",
    [
        ("cnvkit", None, "jobs_kind_status_time"),
        (PIPELINE_KINDS, None, "jobs_family_status_time"),
        (None, None, "jobs_status_time"),
        ("cnvkit", "alice", "jobs_owner_kind_status_time"),
        (PIPELINE_KINDS, "alice", "jobs_owner_family_status_time"),
        (None, "alice", "jobs_owner_status_time"),
    ],
)
def test_pages_filtered_by_state_use_an_index_with_the_state(store, kinds, owner, index):
    """The job browser's state filter (migration 3): pages from an index with the state in it,
    in order, and the same jobs a walk of every job would keep."""
    for i in range(60):
        rec = add(store, owner=["alice", "bob"][i % 2], kind=["cnvkit", "DNA_SOMATIC"][i // 2 % 2], start=i)
        if i % 3 == 0:
            store.transition(rec.instance_id, Status.CANCELING)
    plan = store.explain_list("p1", kinds, owner, status="CANCELING", limit=10, offset=0, start=0, end=10**13)
    inner = [line for line in plan if line.startswith("  ")]
    assert any(f"COVERING INDEX {index} " in line for line in inner), plan
    assert not any("TEMP B-TREE" in line or "SCAN" in line for line in inner), plan
    everything = store.list_jobs("p1", kinds, owner, limit=100)[1]
    want = [j.instance_id for j in everything if j.status is Status.CANCELING]
    count, page = store.list_jobs("p1", kinds, owner, status="CANCELING", limit=100)
    assert count == len(want) > 0 and [j.instance_id for j in page] == want


def test_migration_3_adds_the_state_indexes_to_a_version_2_store(tmp_path):
    from localgene.store import MIGRATIONS

    db = tmp_path / "v2.db"
    conn = sqlite3.connect(db)
    for migration in MIGRATIONS[:2]:
        for statement in migration:
            conn.execute(statement)
    conn.execute("PRAGMA user_version = 2")
    conn.commit()
    conn.close()
    store = Store(db)
    assert store.schema_version() == 3
    names = {r[0] for r in sqlite3.connect(db).execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {"jobs_status_time", "jobs_kind_status_time", "jobs_owner_kind_status_time"} <= names


# --------------------------------------------------------------------------------------------
# Getting and ownership


def test_get_enforces_project_and_owner(store):
    rec = add(store, owner="alice")
    assert store.get("p1", rec.instance_id).owner == "alice"
    assert store.get("p1", rec.instance_id, owner="alice").instance_id == rec.instance_id
    with pytest.raises(AccessDenied, match="another user") as info:
        store.get("p1", rec.instance_id, owner="bob")
    assert info.value.http_status == 403
    with pytest.raises(AccessDenied, match="another project"):
        store.get("p2", rec.instance_id)
    with pytest.raises(JobNotFound) as nf:
        store.get("p1", "2b8bb2e6-5cc8-4a4f-9a29-0b5f3bd7a8a1")
    assert nf.value.http_status == 404
    with pytest.raises(JobNotFound):
        store.get("p1", rec.instance_id, kinds=PIPELINE_KINDS)


# --------------------------------------------------------------------------------------------
# Transitions in the store

PATHS = {
    Status.LAUNCHING: [],
    Status.RUNNING: [Status.RUNNING],
    Status.FINISHED: [Status.RUNNING, Status.FINISHED],
    Status.FAILED: [Status.FAILED],
    Status.CANCELING: [Status.CANCELING],
    Status.CANCELLED: [Status.CANCELING, Status.CANCELLED],
}
ALLOWED = {
    (Status.LAUNCHING, Status.RUNNING), (Status.LAUNCHING, Status.FAILED), (Status.LAUNCHING, Status.CANCELING),
    (Status.RUNNING, Status.FINISHED), (Status.RUNNING, Status.FAILED), (Status.RUNNING, Status.CANCELING),
    (Status.CANCELING, Status.CANCELLED), (Status.CANCELING, Status.FAILED),
}  # fmt: skip


def drive(store, rec, target):
    for step in PATHS[target]:
        store.transition(rec.instance_id, step)
    assert store.find(rec.instance_id).status is target


@pytest.mark.parametrize("old", list(Status))
@pytest.mark.parametrize("new", list(Status))
def test_store_transitions(store, clock, old, new):
    rec = add(store, start=1_000)
    drive(store, rec, old)
    before = store.find(rec.instance_id)
    clock.t = 9_000
    if (old, new) in ALLOWED:
        after = store.transition(rec.instance_id, new, message="why")
        assert after.status is new and after.message == "why"
        assert after.end_time == (9_000 if new in FINAL else None)
        assert store.find(rec.instance_id).status is new
    else:
        with pytest.raises(StateConflict):
            store.transition(rec.instance_id, new)
        assert store.find(rec.instance_id) == before  # nothing changed


def test_transition_expected_is_compare_and_set(store):
    rec = add(store)
    store.transition(rec.instance_id, Status.CANCELING)
    with pytest.raises(StateConflict, match="job is CANCELING, not LAUNCHING"):
        store.transition(rec.instance_id, Status.FAILED, expected=Status.LAUNCHING)
    assert store.find(rec.instance_id).status is Status.CANCELING
    store.transition(rec.instance_id, Status.CANCELLED, expected=[Status.CANCELING])
    with pytest.raises(JobNotFound):
        store.transition("2b8bb2e6-5cc8-4a4f-9a29-0b5f3bd7a8a1", Status.RUNNING)


def test_duration_and_end_time(store, clock):
    rec = add(store, start=clock.t)
    store.transition(rec.instance_id, Status.RUNNING)
    clock.t += 65_400
    done = store.transition(rec.instance_id, Status.FINISHED)
    assert done.end_time == clock.t and done.duration_at(now=clock.t + 10**9) == 65


def test_request_cancel(store):
    queued = add(store)
    held = add(store)
    running = add(store)
    store.claim_next_launching()  # takes `queued`, the oldest
    store.claim_next_launching()  # takes `held`
    store.transition(running.instance_id, Status.RUNNING)
    fresh = add(store)
    assert store.request_cancel("p1", fresh.instance_id).status is Status.CANCELLED  # nobody held it
    assert store.request_cancel("p1", held.instance_id).status is Status.CANCELING
    assert store.request_cancel("p1", running.instance_id, owner="alice").status is Status.CANCELING
    with pytest.raises(StateConflict, match="already CANCELING; only LAUNCHING or RUNNING"):
        store.request_cancel("p1", running.instance_id)
    with pytest.raises(
        StateConflict, match="job is CANCELLED; only LAUNCHING or RUNNING jobs can be cancelled"
    ):
        store.request_cancel("p1", fresh.instance_id)
    with pytest.raises(AccessDenied):
        store.request_cancel("p1", queued.instance_id, owner="mallory")
    assert store.find(queued.instance_id).status is Status.LAUNCHING


def test_progress_and_runner_fields(store, clock):
    rec = add(store)
    assert store.set_progress(rec.instance_id, 3, 7)
    assert store.find(rec.instance_id).progress == "3/7"
    with pytest.raises(InvalidRequest):
        store.set_progress(rec.instance_id, 8, 7)
    assert store.set_input_size(rec.instance_id, 12345)
    assert store.set_runner(rec.instance_id, 4242, "hostA")
    got = store.find(rec.instance_id)
    assert (got.input_size, got.runner_pid, got.runner_host, got.heartbeat) == (12345, 4242, "hostA", clock.t)
    store.transition(rec.instance_id, Status.FAILED)
    assert store.set_progress(rec.instance_id, 7, 7) is False  # final: unchanged
    assert store.find(rec.instance_id).progress == "3/7"
    with pytest.raises(JobNotFound):
        store.set_progress("2b8bb2e6-5cc8-4a4f-9a29-0b5f3bd7a8a1", 1, 1)


# --------------------------------------------------------------------------------------------
# Statistics


def test_statistics(store):
    add(store, owner="alice", size=100, start=10)
    r = add(store, owner="alice", size=50, start=20, kind="DNA_SOMATIC")
    store.transition(r.instance_id, Status.FAILED)
    b = add(store, owner="bob", size=7, start=30)
    store.transition(b.instance_id, Status.RUNNING)
    store.transition(b.instance_id, Status.FINISHED)
    c = add(store, owner="bob", size=1, start=40)
    store.request_cancel("p1", c.instance_id)
    add(store, project="p2", owner="zed", size=10**6)
    stats = store.statistics("p1")
    assert stats == {
        "total_user_num": 2, "total_launching_num": 1, "total_running_num": 0, "total_failed_num": 1,
        "total_finished_num": 1, "total_canceling_num": 0, "total_cancelled_num": 1, "total_input_size": 158,
        "users": [
            {"user_name": "alice", "launching_num": 1, "running_num": 0, "failed_num": 1, "finished_num": 0,
             "canceling_num": 0, "cancelled_num": 0, "input_size": 150},
            {"user_name": "bob", "launching_num": 0, "running_num": 0, "failed_num": 0, "finished_num": 1,
             "canceling_num": 0, "cancelled_num": 1, "input_size": 8},
        ],
    }  # fmt: skip
    own = store.statistics("p1", owner="bob")
    assert "users" not in own and own["total_user_num"] == 1 and own["total_input_size"] == 8
    window = store.statistics("p1", start=20, end=30)
    assert (
        window["total_failed_num"] == 1
        and window["total_finished_num"] == 1
        and window["total_launching_num"] == 0
    )
    assert store.statistics("p9") == {**{k: 0 for k in stats if k != "users"}, "users": []}
    with pytest.raises(InvalidRequest, match="^start"):
        store.statistics("p1", start=5, end=4)


# --------------------------------------------------------------------------------------------
# Queue and recovery


def test_claim_first_come_first_served_and_slots(store):
    ids = [add(store, start=9_000 - i).instance_id for i in range(4)]  # start_time does not matter
    assert store.claim_next_launching("w1").instance_id == ids[0]
    assert store.claim_next_launching("w1", slots=2).instance_id == ids[1]
    assert store.claim_next_launching("w2", slots=2) is None  # two slots taken
    store.transition(ids[0], Status.RUNNING)
    store.transition(ids[0], Status.FINISHED)
    got = store.claim_next_launching("w2", slots=2)
    assert got.instance_id == ids[2] and got.claimed_by == "w2" and got.runner_pid == os.getpid()
    assert store.release_claim(ids[2])
    assert store.claim_next_launching("w3").instance_id == ids[2]  # back at the head of the queue
    assert store.claim_next_launching("w3").instance_id == ids[3]
    assert store.claim_next_launching("w3") is None


def test_a_killed_job_left_as_unreaped_zombies_is_not_alive():
    """Where init does not reap orphans (containers, micro-VMs), a job killed with its worker
    stays as zombies in its process group; that group is gone, not alive."""
    leader = subprocess.Popen([sys.executable, "-c", "import os, time; os.fork(); time.sleep(600)"],
                              start_new_session=True)
    try:
        assert pid_alive(leader.pid)  # the leader and its forked child are running
        os.killpg(leader.pid, signal.SIGKILL)

        def zombie(pid):
            try:
                return open(f"/proc/{pid}/stat").read().rpartition(")")[2].split()[0] == "Z"
            except FileNotFoundError:
                return False
        while not zombie(leader.pid):  # not reaped: we do not wait() for it yet
            time.sleep(0.05)
        os.kill(leader.pid, 0)  # the pid still answers signals ...
        assert not pid_alive(leader.pid)  # ... but nothing of the job runs
    finally:
        leader.kill()
        leader.wait()


def test_recover_orphans_dead_pid(store):
    running = add(store)
    canceling = add(store)
    alive = add(store)
    for rec in (running, canceling, alive):
        store.transition(rec.instance_id, Status.RUNNING)
    gone = dead_pid()
    assert not pid_alive(gone)
    store.set_runner(running.instance_id, gone)
    store.set_runner(canceling.instance_id, gone)
    store.request_cancel("p1", canceling.instance_id)
    store.set_runner(alive.instance_id, os.getpid())
    changed = {r.instance_id: r for r in store.recover_orphans(max_attempts=1)}
    assert set(changed) == {running.instance_id, canceling.instance_id}
    failed = store.find(running.instance_id)
    assert failed.status is Status.FAILED and failed.end_time is not None
    assert failed.message.startswith(f"runner died (pid {gone} on ")
    assert "`localgene retry` runs it again" in failed.message
    assert store.attempts(running.instance_id) == [f"pid {gone} on {this_host()} is gone"]
    assert store.find(canceling.instance_id).status is Status.CANCELLED
    assert store.find(alive.instance_id).status is Status.RUNNING
    assert store.recover_orphans() == []  # nothing left to do


def test_a_running_job_whose_runner_died_is_requeued_to_resume_then_failed_listing_attempts(store):
    rec = add(store)
    reasons = []
    for attempt in range(1, MAX_CLAIMS + 1):
        claimed = store.claim_next_launching("w")
        assert claimed.instance_id == rec.instance_id  # a re-queued job is at the head of the queue
        store.transition(rec.instance_id, Status.RUNNING)
        gone = dead_pid()
        store.set_runner(rec.instance_id, gone)
        store.set_progress(rec.instance_id, 7, 37)
        [changed] = store.recover_orphans()
        reasons.append(f"pid {gone} on {this_host()} is gone")
        assert store.attempts(rec.instance_id) == reasons
        if attempt < MAX_CLAIMS:
            assert changed.status is Status.LAUNCHING and changed.claimed_by is None
            assert changed.end_time is None and changed.progress == "7/37"  # what was done is kept
            assert changed.message == (f"runner died ({reasons[-1]}); to be resumed in its folder "
                                       f"(attempt {attempt + 1} of {MAX_CLAIMS})")
        else:
            assert changed.status is Status.FAILED and changed.end_time is not None
            listed = "; ".join(f"{i}) {r}" for i, r in enumerate(reasons, 1))
            assert changed.message == (f"runner died {MAX_CLAIMS} times (attempts: {listed}); "
                                       "`localgene retry` runs it again from where it stopped")


def test_retry_requeues_a_failed_or_cancelled_job_with_fresh_attempts(store):
    failed, cancelled, finished = add(store), add(store), add(store)
    for rec in (failed, finished):
        store.transition(rec.instance_id, Status.RUNNING)
    store.transition(failed.instance_id, Status.FAILED, message="step 'coverage' failed: disk full")
    store.transition(finished.instance_id, Status.FINISHED)
    store.request_cancel("p1", cancelled.instance_id)
    again = store.retry("p1", failed.instance_id, "alice")
    assert again.status is Status.LAUNCHING and again.end_time is None and again.claimed_by is None
    assert again.message == "retried (it was FAILED: step 'coverage' failed: disk full)"
    assert store.attempts(failed.instance_id) == []
    assert store.retry("p1", cancelled.instance_id).status is Status.LAUNCHING
    with pytest.raises(StateConflict, match=r"^job is FINISHED; only FAILED or CANCELLED jobs can be retried$"):
        store.retry("p1", finished.instance_id)
    with pytest.raises(StateConflict, match="job is LAUNCHING; only FAILED or CANCELLED"):
        store.retry("p1", failed.instance_id)
    with pytest.raises(AccessDenied, match="another user"):
        store.retry("p1", finished.instance_id, "bob")
    with pytest.raises(AccessDenied, match="another project"):
        store.retry("p2", finished.instance_id)
    with pytest.raises(JobNotFound):
        store.retry("p1", finished.instance_id, kinds="DNA_GERMLINE")


def test_repair_on_read_moves_a_job_whose_runner_is_gone_before_answering(tmp_path):
    cfg = settings.load({"LOCALGENE_HOME": str(tmp_path / "home"), "LOCALGENE_MAX_ATTEMPTS": "1"})
    store = Store.open(cfg)
    assert store.repair_on_read and store.max_attempts == 1
    running, elsewhere, queued = add(store), add(store), add(store)
    for rec in (running, elsewhere):
        store.transition(rec.instance_id, Status.RUNNING)
    store.set_runner(running.instance_id, dead_pid())
    store.set_runner(elsewhere.instance_id, 1, host="another-host")  # not ours to judge
    plain = Store(store.db_path)  # a worker's store: no repair on read
    assert plain.get("p1", running.instance_id).status is Status.RUNNING
    assert store.get("p1", running.instance_id).status is Status.FAILED
    _, page = store.list_jobs("p1")
    states = {r.instance_id: r.status for r in page}
    assert states == {running.instance_id: Status.FAILED, elsewhere.instance_id: Status.RUNNING,
                      queued.instance_id: Status.LAUNCHING}
    assert store.statistics("p1")["total_running_num"] == 1


def test_recover_requeues_claimed_launching_then_gives_up(store):
    rec = add(store)
    for attempt in range(1, MAX_CLAIMS + 1):
        claimed = store.claim_next_launching("w", pid=dead_pid())
        assert claimed.instance_id == rec.instance_id
        store.recover_orphans()
        after = store.find(rec.instance_id)
        if attempt < MAX_CLAIMS:
            assert after.status is Status.LAUNCHING and after.claimed_by is None
        else:
            assert after.status is Status.FAILED and f"{MAX_CLAIMS} times" in after.message


def test_recover_other_host_only_when_heartbeat_is_stale(store, clock):
    rec = add(store)
    store.transition(rec.instance_id, Status.RUNNING)
    store.set_runner(rec.instance_id, 1, host="elsewhere")
    assert store.recover_orphans(lambda pid: False) == []  # cannot judge another host's pid
    clock.t += 30_000
    assert store.recover_orphans(lambda pid: False, stale_after_ms=60_000) == []
    clock.t += 60_000
    [changed] = store.recover_orphans(lambda pid: False, stale_after_ms=60_000, max_attempts=1)
    assert changed.status is Status.FAILED and "no heartbeat" in changed.message


def test_recover_is_compare_and_set(store):
    rec = add(store)
    store.transition(rec.instance_id, Status.RUNNING)
    store.set_runner(rec.instance_id, 111, host=this_host())

    def is_alive(pid):  # the job moves on while recovery is deciding
        store.set_runner(rec.instance_id, 222, host=this_host())
        return False

    assert store.recover_orphans(is_alive) == []
    assert store.find(rec.instance_id).status is Status.RUNNING


def _runner_that_hangs(db_path: str, ready) -> None:
    s = Store(db_path)
    job = s.claim_next_launching()
    s.transition(job.instance_id, Status.RUNNING, expected=Status.LAUNCHING)
    s.set_runner(job.instance_id, os.getpid())
    ready.set()
    time.sleep(600)


def test_sigkilled_runner_is_not_left_running(store):
    rec = add(store)
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Event()
    proc = ctx.Process(target=_runner_that_hangs, args=(str(store.db_path), ready))
    proc.start()
    try:
        assert ready.wait(60)
        assert store.find(rec.instance_id).status is Status.RUNNING
        assert store.recover_orphans() == []  # alive: left alone
        os.kill(proc.pid, signal.SIGKILL)
        proc.join(30)
    finally:
        if proc.is_alive():
            proc.kill()
    [changed] = Store(store.db_path).recover_orphans()  # "the next start"
    assert changed.instance_id == rec.instance_id and changed.status is Status.LAUNCHING  # resumed next
    assert f"pid {proc.pid}" in changed.message and "to be resumed in its folder" in changed.message


# --------------------------------------------------------------------------------------------
# Several processes at once


def _submit_many(db_path: str, worker: int, n: int, barrier) -> list[str]:
    s = Store(db_path)
    barrier.wait()
    ids = []
    for i in range(n):
        rec = new_record("p1", f"user{worker}", "cnvkit", {**REQUEST, "n": i})
        s.submit(rec)
        ids.append(rec.instance_id)
    return ids


def _claim_all(db_path: str, worker: int, barrier) -> list[str]:
    s = Store(db_path)
    barrier.wait()
    got = []
    while (job := s.claim_next_launching(f"w{worker}")) is not None:
        got.append(job.instance_id)
    return got


def test_200_concurrent_submissions_from_processes(tmp_path):
    db = str(tmp_path / "fresh" / "localgene.db")  # does not exist yet: all race to create it
    workers, each = 8, 25
    ctx = multiprocessing.get_context("spawn")
    with ctx.Manager() as manager, ctx.Pool(workers) as pool:
        barrier = manager.Barrier(workers)
        results = pool.starmap(_submit_many, [(db, w, each, barrier) for w in range(workers)])
    ids = [i for r in results for i in r]
    assert len(ids) == len(set(ids)) == 200
    store = Store(db)
    count, _ = store.list_jobs("p1", "cnvkit")
    assert count == 200
    assert {r.instance_id for r in store.list_jobs("p1", limit=100)[1]} <= set(ids)
    assert store.statistics("p1")["total_user_num"] == workers
    assert Store(db).schema_version() == SCHEMA_VERSION


def test_concurrent_claimers_never_share_a_job(store):
    ids = {add(store).instance_id for _ in range(60)}
    workers = 6
    ctx = multiprocessing.get_context("spawn")
    with ctx.Manager() as manager, ctx.Pool(workers) as pool:
        barrier = manager.Barrier(workers)
        results = pool.starmap(_claim_all, [(str(store.db_path), w, barrier) for w in range(workers)])
    claimed = [i for r in results for i in r]
    assert len(claimed) == len(set(claimed)), "a job was handed to two workers"
    assert set(claimed) == ids
    owners = {store.find(i).claimed_by for i in ids}
    assert owners <= {f"w{w}" for w in range(workers)}


def test_transition_adds_warnings_once_in_the_same_transaction(store, clock):
    rec = store.submit(new_record("p1", "alice", "RNA_DIFF_EXPR", {"job_type": "RNA_DIFF_EXPR"},
                                  warnings=["at submit"]))
    store.transition(rec.instance_id, Status.RUNNING)
    clock.t = 5_000
    done = store.transition(rec.instance_id, Status.FINISHED, message="",
                            add_warnings=["found", "at submit", "found", "also found"])
    assert done.warnings == ["at submit", "found", "also found"] and done.status is Status.FINISHED
    assert done.end_time == 5_000
    assert store.find(rec.instance_id) == done
    # a refused transition changes nothing, warnings included
    with pytest.raises(StateConflict):
        store.transition(rec.instance_id, Status.FAILED, add_warnings=["late"])
    assert store.find(rec.instance_id).warnings == ["at submit", "found", "also found"]
    # without add_warnings a transition keeps the warnings as they are
    other = add(store)
    assert store.transition(other.instance_id, Status.CANCELING).warnings == []

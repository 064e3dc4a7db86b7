"""Faults a running job survives, with real processes: its file system filling up (ENOSPC) and its
folder deleted under it. Each fails that job with a message naming what happened; the store
stays intact and other jobs run on."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import time

import pytest
from test_runner import Env, body, env, group_members, progress_at_least  # noqa: F401 (fixtures)

from localgene.jobs.status import Status

pytestmark = pytest.mark.workflow


def store_is_intact(env: Env) -> None:
    with sqlite3.connect(env.store.db_path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def wait_group_gone(pgid: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while group_members(pgid) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert group_members(pgid) == [], "a process of the failed job was left running"


@pytest.fixture
def tiny_fs(tmp_path):
    """Mount a 300 KiB tmpfs where asked (root only); unmounted at the end."""
    mounted = []

    def mount(folder):
        folder.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=300k", "tmpfs", str(folder)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            pytest.fail(f"cannot mount a small tmpfs (the test needs root): {proc.stderr.strip()}")
        mounted.append(folder)
        return folder

    yield mount
    for folder in mounted:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def test_a_full_disk_fails_that_job_naming_the_step_and_the_next_job_finishes(env, body, tiny_fs):
    full = env.submit(body)
    after = env.submit(body)
    tiny_fs(env.home / "jobs" / full)  # this job's folder is on a 300 KiB file system
    env.start_worker()
    failed = env.wait(full, lambda j: j.status.is_final, timeout=600, what="the job on the full disk")
    assert failed.status is Status.FAILED
    message = failed.message
    assert message.startswith("step '") and "no space left" in message.lower(), message
    assert "Traceback" not in message and "internal error" not in message
    wait_group_gone(failed.runner_pid)
    store_is_intact(env)
    done = env.wait(after, lambda j: j.status.is_final, timeout=900, what="the next job")
    assert done.status is Status.FINISHED, done.message


def test_a_job_folder_deleted_under_a_running_job_fails_it_with_a_message(env, body):
    instance_id = env.submit(body)
    env.start_worker()
    job = env.wait(instance_id, progress_at_least(5), what="job running")
    job_dir = env.home / "jobs" / instance_id
    shutil.rmtree(job_dir)
    failed = env.wait(instance_id, lambda j: j.status.is_final, timeout=300, what="the failure")
    assert failed.status is Status.FAILED
    assert failed.message == f"the job folder {job_dir} was deleted while the job ran"
    wait_group_gone(job.runner_pid)
    store_is_intact(env)

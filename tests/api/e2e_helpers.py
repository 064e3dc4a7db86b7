"""Helpers of the end-to-end pipeline tests (test_api_rna_e2e.py, test_api_dna_e2e.py): a clean
environment for real `localgene serve` / `localgene worker` processes, the CLI run in it, the
server waited for, submitted jobs watched to their end through the HTTP API (every poll checked
against the contract), and the cleanup that leaves no job running."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from spec_checks import check_job
from test_api_e2e import LOCALGENE, Processes

FINAL = ("FINISHED", "FAILED", "CANCELLED")
#: Variables of the calling shell that would point the processes elsewhere than the test's home.
FOREIGN_ENV = ("LOCALGENE_USERS", "LOCALGENE_SERVER", "LOCALGENE_WORKFLOW_DIR", "LOCALGENE_INDEX_CACHE_MAX_GB",
               "LOCALGENE_PROJECT", "LOCALGENE_USER")


def clean_env(home: Path) -> dict[str, str]:
    """This process's environment with LOCALGENE_HOME = ``home`` and nothing else of localgene's."""
    env = {**os.environ, "LOCALGENE_HOME": str(home)}
    for name in FOREIGN_ENV:
        env.pop(name, None)
    return env


def cli(env: dict[str, str], *args: str) -> str:
    """Run ``localgene *args`` in ``env``; its stdout (the test fails with its stderr if it fails)."""
    proc = subprocess.run([*LOCALGENE, *args], env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def data_roots(paths: Iterable[str]) -> list[str]:
    """The folders holding ``paths`` (resolved), as ``--data-root`` arguments."""
    roots = sorted({str(Path(p).resolve().parent) for p in paths})
    return [a for r in roots for a in ("--data-root", r)]


def start_serve(procs: Processes, port: int, *args: str, timeout: float = 120) -> str:
    """Start ``localgene serve --port port *args`` and wait until it answers with its users file;
    returns its base URL."""
    base = f"http://127.0.0.1:{port}"
    procs.start("serve", "serve", "--port", str(port), *args)
    deadline = time.monotonic() + timeout
    while True:
        assert procs.procs["serve"].poll() is None, procs.logs()
        try:
            if httpx.get(f"{base}/health", timeout=2).json()["identity"] == "users-file":
                return base
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, procs.logs()
        time.sleep(0.2)


@dataclass
class Watched:
    """What watching jobs saw: the last item of each, and every status and progress it showed."""

    items: dict[str, dict[str, Any]] = field(default_factory=dict)
    statuses: dict[str, set[str]] = field(default_factory=dict)
    progress: dict[str, set[str]] = field(default_factory=dict)


def watch_jobs(client: httpx.Client, jobs_url: str, ids: list[str], procs: Processes, timeout: float,
               on_poll: Callable[[dict[str, dict[str, Any]]], None] | None = None) -> Watched:
    """Poll ``GET jobs_url/<id>`` for every job until all have ended (bound: ``timeout`` s), each
    reply checked against the contract; ``on_poll(items)`` is called after every round."""
    seen = Watched(statuses={i: set() for i in ids}, progress={i: set() for i in ids})
    deadline = time.monotonic() + timeout
    while True:
        for job_id in ids:
            item = client.get(f"{jobs_url}/{job_id}").json()
            check_job(item)
            seen.statuses[job_id].add(item["status"])
            seen.progress[job_id].add(item["progress"])
            seen.items[job_id] = item
        if on_poll:
            on_poll(seen.items)
        if all(i["status"] in FINAL for i in seen.items.values()):
            return seen
        assert time.monotonic() < deadline, f"not done after {timeout} s: {seen.items}\n{procs.logs()}"
        time.sleep(2)


def cancel_unfinished(client: httpx.Client, jobs_url: str, ids: list[str], procs: Processes) -> None:
    """Cancel the jobs still queued or running (a failed test leaves none behind), wait while the
    worker is cancelling them, and stop the processes."""
    for job_id in ids:
        try:
            if client.get(f"{jobs_url}/{job_id}").json().get("status") in ("LAUNCHING", "RUNNING"):
                client.delete(f"{jobs_url}/{job_id}")
        except httpx.HTTPError:
            pass
    if procs.procs.get("worker") and procs.procs["worker"].poll() is None:
        for _ in range(60):
            try:
                states = [client.get(f"{jobs_url}/{j}").json().get("status") for j in ids]
            except httpx.HTTPError:
                break
            if "CANCELING" not in states:
                break
            time.sleep(1)
    procs.stop()

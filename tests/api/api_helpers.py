"""Helpers of the HTTP API tests: the test users, a tmp LOCALGENE_HOME with its store and users file,
tiny input files for valid CNVkit bodies, the application on uvicorn in a thread."""

from __future__ import annotations

import socket
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localgene import settings as settings_mod
from localgene.store import Store

#: (name, tenant, role, projects) of the users every test server knows.
USERS = (
    ("alice", "acme", "admin", ["p1", "p2"]),  # acme's administrator
    ("bob", "acme", "user", ["p1"]),
    ("bea", "acme", "user", ["p1", "p2"]),
    ("carol", "globex", "user", ["q1"]),
    ("dora", "globex", "admin", ["q1"]),
)


@dataclass
class Env:
    home: Path
    cfg: settings_mod.Settings
    users_path: Path
    tokens: dict[str, str]
    inputs: Path

    def headers(self, user: str) -> dict[str, str]:
        return {"X-Auth-Token": self.tokens[user]}

    def store(self) -> Store:
        return Store.open(self.cfg)

    def snapshot(self) -> tuple[list[tuple[Any, ...]], list[str]]:
        """Every row of the job table and every job folder: a refused request changes neither."""
        db = self.cfg.db_path
        rows: list[tuple[Any, ...]] = []
        if db.exists():
            with sqlite3.connect(db) as conn:
                rows = conn.execute("SELECT * FROM jobs ORDER BY seq").fetchall()
        folders = sorted(p.name for p in self.cfg.jobs_dir.iterdir()) if self.cfg.jobs_dir.exists() else []
        return rows, folders

    def body(self, **fields: Any) -> dict[str, Any]:
        """A valid CNVkit body over tiny files (submission only checks that they exist)."""
        d = self.inputs
        body: dict[str, Any] = {
            "experimental_inputs": [str(d / "T1.bam")],
            "control_inputs": [str(d / "N1.bam"), str(d / "N2.bam")],
            "output_dir": str(d / "output"),
            "ref": str(d / "genome.fa"),
            "bed": str(d / "targets.bed"),
            "has_annotate": True,
            "annotation_file": str(d / "refFlat.txt"),
            "target_conf": "--split",
            "coverage_conf": "-q 10",
            "segment_conf": "-m haar",  # no R needed to accept it
        }
        body.update(fields)
        return {k: v for k, v in body.items() if v is not ...}


def make_inputs(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, size in (("T1.bam", 1000), ("N1.bam", 2000), ("N2.bam", 3000), ("genome.fa", 400),
                       ("targets.bed", 50), ("refFlat.txt", 6)):
        (folder / name).write_bytes(b"x" * size)
    return folder


INPUT_SIZE = 1000 + 2000 + 3000 + 400 + 50 + 6


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """The application on uvicorn in a thread, on a free loopback port (for the httpx client)."""

    def __init__(self, app):
        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> "LiveServer":
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.should_exit = True
        self.thread.join(10)

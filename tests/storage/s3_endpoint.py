"""A real S3 endpoint on loopback for the storage tests: moto's server mode (helpers).

``s3_server`` runs moto's WSGI app in a thread of the test process (wrapped to count the bytes
every GET serves, so "downloaded once" is measured on the wire); ``moto_process`` starts
``python -m moto.server`` as a separate process, for tests that kill the endpoint mid-transfer
or switch IAM authentication on. Both listen on a free 127.0.0.1 port and are reached through
boto3 with ``endpoint_url``, exactly like a user's MinIO / OBS / Ceph endpoint, with fake
credentials in the environment.
"""

from __future__ import annotations

import collections
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from localgene.storage import S3Config

MiB = 1024 * 1024
logging.getLogger("werkzeug").setLevel(logging.ERROR)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class CountingApp:
    """WSGI middleware: bytes served by successful GETs, per request path."""

    def __init__(self, app) -> None:
        self.app = app
        self.lock = threading.Lock()
        self.get_bytes: collections.Counter[str] = collections.Counter()
        self.get_requests: collections.Counter[str] = collections.Counter()

    def __call__(self, environ, start_response):
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")

        def counting_start_response(status, headers, exc_info=None):
            if method == "GET" and status.startswith("2"):
                length = next((int(v) for k, v in headers if k.lower() == "content-length"), 0)
                with self.lock:
                    self.get_bytes[path] += length
                    self.get_requests[path] += 1
            return start_response(status, headers, exc_info)

        return self.app(environ, counting_start_response)

    def bytes_for(self, bucket: str, key: str) -> int:
        with self.lock:
            return self.get_bytes[f"/{bucket}/{key}"]


class ThreadServer:
    def __init__(self) -> None:
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        self.app = CountingApp(DomainDispatcherApplication(create_backend_app))
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True,
                                  request_handler=MotoRequestHandler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(timeout=10)


class ProcessServer:
    """``python -m moto.server`` on a free loopback port."""

    def __init__(self, log_dir: Path, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.log = open(log_dir / f"moto-{self.port}.log", "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=self.log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"moto server exited: see {self.log.name}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("moto server did not start in 30 s")

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.log.close()


def make_config(endpoint: str, **overrides) -> S3Config:
    values = dict(endpoint_url=endpoint, multipart_threshold=8 * MiB,
                  multipart_chunksize=8 * MiB, max_attempts=2, connect_timeout=2,
                  read_timeout=10, delivery_backoff=0.05)
    values.update(overrides)
    return S3Config(**values)


def random_bytes(size: int) -> bytes:
    return os.urandom(size)


def stage_in_child(fields, endpoint, cache_dir, job_dir, barrier=None, kill_after=None, queue=None):
    """Run in a separate process (spawn): stage ``fields``; optionally SIGKILL itself mid-way."""
    from localgene.storage import Cache, stage_inputs

    def progress(done, total):
        if kill_after is not None and done >= kill_after:
            os.kill(os.getpid(), signal.SIGKILL)

    cache = Cache(cache_dir)
    if barrier is not None:
        barrier.wait(timeout=60)
    result = stage_inputs(fields, make_config(endpoint), cache, job_dir, on_progress=progress)
    if queue is not None:
        queue.put(result)
    return result

"""Reading a run's Snakemake events (the JSON lines localgene.run.snakemake_events writes).

:class:`EventFile` follows the file while Snakemake writes it (complete lines only);
:class:`RunEvents` folds the events into what localgene asks of a run: progress, the steps
started and not finished, the failed steps and group jobs, and the executor's run IDs and job
ids. The format is described in docs/events.md.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from localgene.run.snakemake_events import EVENTS_PATH


def events_path(job_dir: str | Path) -> Path:
    return Path(job_dir) / EVENTS_PATH


class EventFile:
    """The events of one file, read incrementally: :meth:`new` returns the events appended
    since the last call (a line still being written is left for the next call)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._offset = 0
        self._partial = b""

    def skip_existing(self) -> None:
        """Start after what the file holds now (the events of an earlier run in the folder)."""
        try:
            self._offset = self.path.stat().st_size
        except OSError:
            self._offset = 0
        self._partial = b""

    def new(self) -> list[dict[str, Any]]:
        try:
            with open(self.path, "rb") as f:
                f.seek(self._offset)
                data = f.read()
        except OSError:
            return []
        self._offset += len(data)
        data = self._partial + data
        lines = data.split(b"\n")
        self._partial = lines.pop()
        out = []
        for line in lines:
            try:
                event = json.loads(line)
            except ValueError:
                continue  # not an event (a torn line of a killed writer)
            if isinstance(event, dict) and "event" in event:
                out.append(event)
        return out


def wildcards_text(wildcards: dict[str, str] | None) -> str:
    """Snakemake's way of writing wildcards: ``sample=T1, kind=target``."""
    return ", ".join(f"{k}={v}" for k, v in (wildcards or {}).items())


@dataclass
class RunEvents:
    """What the events of a run say so far."""

    done: int = 0
    total: int = 0
    #: jobid -> its job_info event (rule, wildcards, log)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    finished: set[str] = field(default_factory=set)
    #: job_error events of steps (not those listed again inside a failed group job)
    job_errors: list[dict[str, Any]] = field(default_factory=list)
    group_errors: list[dict[str, Any]] = field(default_factory=list)
    #: Snakemake's own errors (error events): the run could not start or went wrong
    errors: list[dict[str, Any]] = field(default_factory=list)
    #: executor run IDs (SLURM: the job name of every job of the run)
    run_ids: list[str] = field(default_factory=list)
    #: executor_job_submitted events in order
    submitted: list[dict[str, Any]] = field(default_factory=list)
    count: int = 0

    def add(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "logger_started":  # a new Snakemake run in the same folder (a resumed job)
            self.__init__()  # type: ignore[misc]  # back to every field's default; mypy refuses calling __init__ on an instance
        self.count += 1
        if kind == "run_info" and isinstance(event.get("total"), int):
            self.total = max(self.total, event["total"])
        elif kind == "progress":
            self.done, self.total = int(event["done"]), int(event["total"])
        elif kind == "job_info":
            self.jobs.setdefault(str(event["jobid"]), event)
        elif kind == "job_finished":
            self.finished.add(str(event["jobid"]))
        elif kind == "job_error" and not event.get("in_group"):
            self.job_errors.append(event)
        elif kind == "group_error":
            self.group_errors.append(event)
        elif kind == "error":
            self.errors.append(event)
        elif kind == "executor_run" and event["run_id"] not in self.run_ids:
            self.run_ids.append(event["run_id"])
        elif kind == "executor_job_submitted":
            self.submitted.append(event)

    def extend(self, events: list[dict[str, Any]]) -> RunEvents:
        for event in events:
            self.add(event)
        return self

    def wildcards(self, jobid: Any) -> str:
        info = self.jobs.get(str(jobid))
        return wildcards_text(info.get("wildcards")) if info else ""

    def running(self) -> list[str]:
        """``'rule' (wildcards)`` of the steps started and not finished (in start order)."""
        out = []
        for jobid, info in self.jobs.items():
            if jobid not in self.finished:
                wildcards = wildcards_text(info.get("wildcards"))
                out.append(f"'{info['rule']}'" + (f" ({wildcards})" if wildcards else ""))
        return out


def read(job_dir: str | Path) -> RunEvents | None:
    """The events of the run in ``job_dir``, or None if it has no events file (a job folder of
    a run without localgene's logger plugin)."""
    path = events_path(job_dir)
    if not path.is_file():
        return None
    return RunEvents().extend(EventFile(path).new())

"""localgene's Snakemake logger plugin: the run's events as JSON lines in the job folder.

Snakemake logs every step it starts, finishes or sees fail as a log record carrying the
facts as attributes (``event``, ``jobid``, ``rule_name``, ``wildcards``, ``log``...); its text
log is only a rendering of them. This plugin writes those facts, one JSON object per line,
flushed per event, into ``<job folder>/.snakemake/localgene/events.jsonl``
(:data:`EVENTS_PATH`); :mod:`localgene.run.events` reads them back for progress, failure
messages and SLURM cleanup. The format is described in docs/events.md.

Snakemake finds logger plugins as top-level modules named ``snakemake_logger_plugin_<name>``;
localgene ships none: :mod:`localgene.run.snakemake_main` registers this module under the name
``localgene`` before it hands over to Snakemake's command line (``--logger localgene``).
"""

import json
import logging
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from snakemake_interface_logger_plugins.base import LogHandlerBase
from snakemake_interface_logger_plugins.settings import LogHandlerSettingsBase

#: The plugin's name for ``--logger`` (registered by localgene.run.snakemake_main).
NAME = "localgene"
#: Where the events go, relative to the job folder.
EVENTS_PATH = Path(".snakemake") / "localgene" / "events.jsonl"
#: Bumped when a field changes meaning (docs/events.md).
FORMAT_VERSION = 1

# The SLURM executor plugin (snakemake-executor-plugin-slurm 2.x) logs its run ID and each
# submission only as message text, with no event attribute: these two are read from the text.
SLURM_SUBMITTED = re.compile(r"^Job (\S+) has been submitted with SLURM jobid (\d+) \(log: (\S+?)\)\.?$")
SLURM_RUN_ID = re.compile(r"^SLURM run ID: (\S+)$")


@dataclass
class LogHandlerSettings(LogHandlerSettingsBase):
    # no `from __future__ import annotations` here: Snakemake turns this type into argparse's type
    path: Optional[str] = field(  # noqa: UP045

        default=None,
        metadata={"help": f"File the events are written to (default: {EVENTS_PATH} in the working directory)",
                  "env_var": False, "required": False},
    )


def _strings(values: Any) -> list[str]:
    return [str(v) for v in values or ()]


def _jobid(job: Any) -> Any:
    return job if isinstance(job, (int, str)) else getattr(job, "jobid", str(job))


def _job_error(d: dict[str, Any]) -> dict[str, Any]:
    return {"jobid": d.get("jobid"), "rule": d.get("rule_name"), "message": d.get("rule_msg"),
            "log": _strings(d.get("log")), "aux": {str(k): str(v) for k, v in (d.get("aux") or {}).items()}}


def to_event(record: logging.LogRecord) -> dict[str, Any] | None:
    """The JSON-ready event of one Snakemake log record, or None for records of no interest."""
    d = record.__dict__
    kind = str(d.get("event") or "")
    if kind == "job_info":
        return {"event": "job_info", "jobid": d.get("jobid"), "rule": d.get("rule_name"),
                "wildcards": {str(k): str(v) for k, v in (d.get("wildcards") or {}).items()},
                "log": _strings(d.get("log")), "local": bool(d.get("local")),
                "in_group": bool(d.get("indent"))}
    if kind == "group_info":
        return {"event": "group_info", "group": str(d.get("group_id")),
                "jobs": [_jobid(j) for j in d.get("jobs") or ()]}
    if kind == "job_started":
        return {"event": "job_started", "jobs": [_jobid(j) for j in d.get("jobs") or ()]}
    if kind == "job_finished":
        return {"event": "job_finished", "jobid": d.get("job_id")}
    if kind == "job_error":
        return {"event": "job_error", **_job_error(d), "in_group": bool(d.get("indent"))}
    if kind == "group_error":
        extra = {k: str(v) for k, v in d.items()
                 if k in ("external_jobid",)}
        return {"event": "group_error", "group": str(d.get("groupid")), "message": d.get("msg"),
                "log": _strings(d.get("aux_logs")),
                "jobs": [_job_error(info) for info in d.get("job_error_info") or ()], "aux": extra}
    if kind == "progress":
        return {"event": "progress", "done": d.get("done"), "total": d.get("total")}
    if kind == "run_info":
        stats = d.get("stats") or {}
        return {"event": "run_info", "total": stats.get("total"),
                "jobs": {str(k): v for k, v in stats.items() if k != "total"}}
    if kind == "error":
        return {"event": "error", "exception": d.get("exception"), "message": record.getMessage()}
    if not kind:
        text = record.getMessage().strip()
        if m := SLURM_SUBMITTED.match(text):
            return {"event": "executor_job_submitted", "jobid": m.group(1), "external_jobid": m.group(2),
                    "log": m.group(3)}
        if m := SLURM_RUN_ID.match(text):
            return {"event": "executor_run", "run_id": m.group(1)}
    return None


class LogHandler(LogHandlerBase):
    """Writes :func:`to_event` of each record as one JSON line, flushed per event."""

    def __post_init__(self) -> None:
        path = getattr(self.settings, "path", None) or EVENTS_PATH
        self.path = Path(path).absolute()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._groups: dict[str, str] = {}  # Snakemake job id -> the group job it runs in
        self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - open for the run, closed in close()
        self._write({"event": "logger_started", "format": FORMAT_VERSION, "pid": os.getpid()})

    def _write(self, event: dict[str, Any]) -> None:
        event = {"time": round(time.time(), 3), **event}
        self._file.write(json.dumps(event, default=str) + "\n")
        self._file.flush()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            event = to_event(record)
            if event is None:
                return
            if event["event"] in ("group_info", "group_error"):  # logged before its steps' events
                for job in event["jobs"]:
                    self._groups[str(job["jobid"] if isinstance(job, dict) else job)] = event["group"]
            elif "jobid" in event and str(event["jobid"]) in self._groups:
                event["group"] = self._groups[str(event["jobid"])]
            self._write(event)
        except Exception:  # noqa: BLE001 - a logger must never stop the run
            self.handleError(record)

    def close(self) -> None:
        try:
            if not self._file.closed:
                self._file.close()
        finally:
            super().close()

    @property
    def writes_to_stream(self) -> bool:
        return False

    @property
    def writes_to_file(self) -> bool:
        return False  # Snakemake would list it as "Complete log"; the events are not a log

    @property
    def has_filter(self) -> bool:
        return True  # every event, whatever --quiet says

    @property
    def has_formatter(self) -> bool:
        return True

    @property
    def needs_rulegraph(self) -> bool:
        return False

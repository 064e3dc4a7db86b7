"""Events read back from a Snakemake *text* log, for a Snakemake that ran without localgene's logger plugin.

The Snakemake a SLURM group job runs inside its cluster job is started by the executor plugin
as ``python -m snakemake`` (no ``--logger localgene``): what it says exists only as text, in the
job's SLURM log. A job folder written before localgene had its plugin has only the text log too.
:func:`events_from_text` turns such text into the events of docs/events.md (as far as the text
holds them), so that one reader (localgene.run.step_failures) explains a failure either way.
"""

from __future__ import annotations

import re
from typing import Any

from localgene.run.snakemake_events import SLURM_RUN_ID, SLURM_SUBMITTED

_RULE = re.compile(r"^(?:local)?rule (\S+?):$")
_ERROR_RULE = re.compile(r"^Error in rule (\S+?):")
_ERROR_GROUP = re.compile(r"^(?:\s+message: )?Error in group (\S+?):?$")
_LOG_LINE = re.compile(r"^\s+log: (.+?)(?: \(check log file\(s\) for error details\))?$")
_WILDCARDS = re.compile(r"^\s+wildcards: (.+)$")
_JOBID = re.compile(r"^\s+jobid: (\d+)$")
_MESSAGE = re.compile(r"^\s+message: (.*)$")


def _wildcards(text: str) -> dict[str, str]:
    out = {}
    for part in text.split(", "):
        key, _, value = part.partition("=")
        out[key] = value
    return out


def _block(rows: list[str], start: int, limit: int | None = None) -> list[str]:
    """The indented lines after ``rows[start]`` (an error block ends at the next unindented line)."""
    out = []
    for follow in rows[start + 1 : None if limit is None else start + 1 + limit]:
        if follow.strip() and not follow[0].isspace():
            break
        out.append(follow)
    return out


def events_from_text(text: str) -> list[dict[str, Any]]:
    rows = text.splitlines()
    events: list[dict[str, Any]] = []
    jobid = None
    for row in rows:  # jobid -> wildcards from the blocks that start jobs
        if m := _JOBID.match(row):
            jobid = m.group(1)
        elif (w := _WILDCARDS.match(row)) and jobid is not None:
            events.append({"event": "job_info", "jobid": jobid, "rule": None, "wildcards": _wildcards(w.group(1))})
    for i, row in enumerate(rows):
        if m := SLURM_RUN_ID.match(row.strip()):
            events.append({"event": "executor_run", "run_id": m.group(1)})
        elif m := SLURM_SUBMITTED.match(row.strip()):
            events.append({"event": "executor_job_submitted", "jobid": m.group(1), "external_jobid": m.group(2),
                           "log": m.group(3)})
        elif m := _ERROR_RULE.match(row):
            error: dict[str, Any] = {"event": "job_error", "rule": m.group(1), "jobid": None, "message": None,
                                     "log": [], "aux": {}, "in_group": False}
            for follow in _block(rows, i, 14):
                if (mm := _MESSAGE.match(follow)) and error["message"] is None:
                    error["message"] = mm.group(1)
                if j := _JOBID.match(follow):
                    error["jobid"] = j.group(1)
                if w := _WILDCARDS.match(follow):
                    error["wildcards"] = _wildcards(w.group(1))
                if lg := _LOG_LINE.match(follow):
                    error["log"] = [p.strip() for p in lg.group(1).split(",")]
            events.append(error)
        elif m := _ERROR_GROUP.match(row):
            group: dict[str, Any] = {"event": "group_error", "group": m.group(1), "message": None, "log": [],
                                     "jobs": [], "aux": {}}
            rule = None
            for follow in _block(rows, i):
                if (mm := _MESSAGE.match(follow)) and group["message"] is None:
                    group["message"] = mm.group(1)
                if (lg := _LOG_LINE.match(follow)) and not group["log"]:
                    group["log"] = [p.strip() for p in lg.group(1).split(",")]
                if r := _RULE.match(follow.strip()):
                    rule = r.group(1)
                elif (j := _JOBID.match(follow)) and rule is not None:
                    group["jobs"].append({"jobid": j.group(1), "rule": rule, "log": []})
                    rule = None
            events.append(group)
    return events

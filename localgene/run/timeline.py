"""Where a job's time went: one record per step, gathered into ``results/job.json``.

Each step that runs (a CNVkit step or the coverage step through :mod:`localgene.cnvkit.step`, a
localgene step of :mod:`localgene.cnvkit.workflow_steps`) appends one JSON line to ``logs/timeline.jsonl`` in the job
folder when it ends::

    {"step": "call", "wildcards": {"sample": "T1"}, "log": "logs/call/T1.log",
     "start": 1764590000.12, "end": 1764590000.31, "wall_s": 0.19, "cpu_s": 0.17,
     "max_rss_mb": 212.4, "runner": "server"}

``start``/``end`` are epoch seconds; ``cpu_s`` is user + system CPU of the step's process and
everything it waited for (R, worker processes); ``max_rss_mb`` the peak resident memory of the
largest of them; ``runner`` says how the step ran (``server``: forked by the job's CNVkit step
server, ``process``: its own process, ``thread``: a thread of Snakemake's process, whose peak
memory ``max_rss_mb`` is then). The summary step reads the records back (:func:`read`),
the latest one per step and wildcards (a resumed job re-runs only some steps), in start order.

Standard library only: this also runs inside the conda environment of envs/cnvkit.yaml.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

#: The records, relative to the job folder (the working directory of every step).
TIMELINE = Path("logs", "timeline.jsonl")


def record(step: str, wildcards: dict[str, str], log: str, *, start: float, end: float,
           cpu_s: float, max_rss_mb: float, runner: str, path: str | os.PathLike = TIMELINE) -> None:
    """Append one step's record (one ``write`` of one line, so concurrent steps never mix)."""
    line = json.dumps({
        "step": step, "wildcards": dict(wildcards), "log": str(log),
        "start": round(start, 3), "end": round(end, 3), "wall_s": round(end - start, 3),
        "cpu_s": round(cpu_s, 3), "max_rss_mb": round(max_rss_mb, 1), "runner": runner,
    }) + "\n"
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def read(path: str | os.PathLike = TIMELINE) -> list[dict[str, Any]]:
    """The latest record of every step (by step and wildcards), sorted by start time."""
    latest: dict[tuple, dict[str, Any]] = {}
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        return []
    for line in text.splitlines():
        try:
            rec = json.loads(line)
            key = (rec["step"], tuple(sorted(rec["wildcards"].items())))
        except (ValueError, KeyError, TypeError, AttributeError):
            continue  # a line cut short by a killed step
        latest[key] = rec
    return sorted(latest.values(), key=lambda r: r["start"])

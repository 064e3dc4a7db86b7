"""Core settings of localgene, read from the environment when asked (never at import time).

``LOCALGENE_HOME``
    The folder that holds everything localgene keeps: the job database, one folder per job and a
    cache. Default ``~/.local/share/localgene``. ``~`` is expanded and the path made absolute.
``LOCALGENE_SLOTS``
    How many jobs may run at once on this machine. Default ``max(1, cores // 2)``, where
    ``cores`` is the number of CPUs this process may use (its affinity mask, not the whole
    machine). Each CNVkit step is a separate ~200 MB process, and Snakemake inside a job can use
    more than one core, so half the cores is a conservative default.
``LOCALGENE_MAX_ATTEMPTS``
    How many times a job is started before a dead runner (a job process or worker killed by
    SIGKILL, the OOM killer or a reboot) fails it for good. Each restart resumes the job in its
    own folder (finished steps are kept). Default 3; 1 means never resume.

Usage::

    from localgene import settings
    cfg = settings.load()          # reads os.environ now
    cfg.db_path, cfg.jobs_dir, cfg.cache_dir, cfg.slots
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from localgene.errors import InvalidRequest

ENV_HOME = "LOCALGENE_HOME"
ENV_SLOTS = "LOCALGENE_SLOTS"
ENV_CACHE_MAX_GB = "LOCALGENE_CACHE_MAX_GB"
ENV_COVERAGE_CACHE_MAX_GB = "LOCALGENE_COVERAGE_CACHE_MAX_GB"
ENV_INDEX_CACHE_MAX_GB = "LOCALGENE_INDEX_CACHE_MAX_GB"
ENV_MAX_ATTEMPTS = "LOCALGENE_MAX_ATTEMPTS"
DEFAULT_MAX_ATTEMPTS = 3
#: An upper bound for LOCALGENE_MAX_ATTEMPTS (a job that dies 100 times will not live).
MAX_ATTEMPTS_LIMIT = 100
DEFAULT_HOME = "~/.local/share/localgene"
DB_FILENAME = "localgene.db"
#: An upper bound for LOCALGENE_SLOTS, only to catch typos such as 40000 for 4.
MAX_SLOTS = 1024


def cpu_count() -> int:
    """CPUs this process may run on (affinity-aware), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)


def default_slots(cores: int | None = None) -> int:
    """The default number of concurrent jobs: ``max(1, cores // 2)``."""
    return max(1, (cpu_count() if cores is None else cores) // 2)


@dataclass(frozen=True)
class Settings:
    """Resolved settings. Paths are absolute; nothing is created until :meth:`ensure_dirs`."""

    home: Path
    slots: int
    #: bound of the object-store input cache (``LOCALGENE_CACHE_MAX_GB``); None: unbounded
    cache_max_bytes: int | None = None
    #: bound of the shared control-coverage cache (``LOCALGENE_COVERAGE_CACHE_MAX_GB``)
    coverage_cache_max_bytes: int | None = None
    #: bound of the shared reference-index cache (``LOCALGENE_INDEX_CACHE_MAX_GB``)
    index_cache_max_bytes: int | None = None
    #: starts of a job before a dead runner fails it (``LOCALGENE_MAX_ATTEMPTS``)
    max_attempts: int = DEFAULT_MAX_ATTEMPTS

    @property
    def db_path(self) -> Path:
        """The SQLite job database."""
        return self.home / DB_FILENAME

    @property
    def jobs_dir(self) -> Path:
        """Parent of the per-job folders ``jobs/<instance_id>/``."""
        return self.home / "jobs"

    @property
    def cache_dir(self) -> Path:
        """Downloaded inputs and other re-creatable files."""
        return self.home / "cache"

    def job_dir(self, instance_id: str) -> Path:
        """The folder of one job (config, logs, outputs)."""
        return self.jobs_dir / instance_id

    def ensure_dirs(self) -> "Settings":
        """Create home, jobs and cache folders if missing; returns ``self``."""
        for path in (self.home, self.jobs_dir, self.cache_dir):
            path.mkdir(parents=True, exist_ok=True)
        return self


def _parse_count(raw: str, field: str, top: int) -> int:
    text = raw.strip()
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= top:
        raise InvalidRequest(f"must be a whole number from 1 to {top}, got {raw!r}", field=field)
    return int(text)


def _parse_slots(raw: str) -> int:
    return _parse_count(raw, ENV_SLOTS, MAX_SLOTS)


def _parse_gb(raw: str, field: str) -> int | None:
    """A size in GB (2**30 bytes; decimals allowed) as bytes; empty: None (no bound)."""
    text = raw.strip()
    if not text:
        return None
    try:
        gb = float(text)
    except ValueError:
        gb = -1.0
    if not gb >= 0 or gb == float("inf"):
        raise InvalidRequest(f"must be a number of GB (e.g. 50 or 0.5), got {raw!r}", field=field)
    return int(gb * (1 << 30))


def load(env: Mapping[str, str] | None = None) -> Settings:
    """Read the settings from ``env`` (default: ``os.environ`` at call time).

    An empty variable counts as unset. A bad ``LOCALGENE_SLOTS``, ``LOCALGENE_CACHE_MAX_GB``,
    ``LOCALGENE_COVERAGE_CACHE_MAX_GB``, ``LOCALGENE_INDEX_CACHE_MAX_GB`` or ``LOCALGENE_MAX_ATTEMPTS`` raises :class:`~localgene.errors.InvalidRequest`
    naming the variable.
    """
    env = os.environ if env is None else env
    home_raw = env.get(ENV_HOME) or DEFAULT_HOME
    home = Path(os.path.expanduser(home_raw)).absolute()
    slots_raw = env.get(ENV_SLOTS, "")
    slots = _parse_slots(slots_raw) if slots_raw.strip() else default_slots()
    attempts_raw = env.get(ENV_MAX_ATTEMPTS, "")
    max_attempts = (_parse_count(attempts_raw, ENV_MAX_ATTEMPTS, MAX_ATTEMPTS_LIMIT)
                    if attempts_raw.strip() else DEFAULT_MAX_ATTEMPTS)
    return Settings(home=home, slots=slots, max_attempts=max_attempts,
                    cache_max_bytes=_parse_gb(env.get(ENV_CACHE_MAX_GB, ""), ENV_CACHE_MAX_GB),
                    coverage_cache_max_bytes=_parse_gb(env.get(ENV_COVERAGE_CACHE_MAX_GB, ""),
                                                       ENV_COVERAGE_CACHE_MAX_GB),
                    index_cache_max_bytes=_parse_gb(env.get(ENV_INDEX_CACHE_MAX_GB, ""), ENV_INDEX_CACHE_MAX_GB))

"""Every ``LOCALGENE_*`` environment variable, in one place: :class:`Environment` (pydantic-settings,
prefix ``LOCALGENE_``), one field per variable with its description; ``docs/settings.md`` is
generated from it (``python -m localgene.settings --docs``; a test keeps it up to date).

The environment is read **once per entry point** (the CLI, a job process, the server, the
worker, a Snakemake step process) by :func:`load`, and the :class:`Settings` it returns is passed
down (function arguments, the app's state): nothing re-reads it mid-job. Variables that must
reach child processes (Snakemake's step processes read ``LOCALGENE_WARM`` or
``LOCALGENE_CNVKIT_SERVER``) stay in the environment; a step process is an entry point of its
own and reads them through the same class.

The core settings, resolved (paths absolute, numbers checked):

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
    cfg = settings.load()          # reads os.environ now, once
    cfg.db_path, cfg.jobs_dir, cfg.cache_dir, cfg.slots, cfg.env.executor
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from localgene.errors import InvalidRequest

ENV_PREFIX = "LOCALGENE_"


def _var(description: str) -> str:
    return Field("", description=description)


class Environment(BaseSettings):
    """The ``LOCALGENE_*`` variables as given (text; empty = unset). Their meaning is each
    field's description; :class:`Settings` holds the resolved core ones."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    # where and how much
    home: str = _var("The folder that holds everything localgene keeps: the job database "
                     "(localgene.db), one folder per job (jobs/) and the caches (cache/). "
                     "Default ~/.local/share/localgene.")
    slots: str = _var("How many jobs may run at once on this machine (1-1024). "
                      "Default max(1, cores // 2), cores being the CPUs this process may use.")
    max_attempts: str = _var("How many times a job is started before a dead runner fails it for "
                             "good (1-100; each restart resumes the job in its folder). Default 3.")
    cache_max_gb: str = _var("Bound of the object-store input cache, GB (decimals allowed). "
                             "Default: no bound.")
    coverage_cache_max_gb: str = _var("Bound of the shared control-coverage cache, GB, pruned after "
                                      "each job (docs/batches.md). Default: no bound.")
    index_cache_max_gb: str = _var("Bound of the shared reference-index cache, GB (docs/pipelines.md). "
                                   "Default: no bound.")
    coverage_reuse: str = _var("0/false/no/off: never reuse cached control coverage (docs/batches.md). "
                               "Default: reuse.")
    # how steps run
    workflow_dir: str = _var("A folder with the Snakefile, rules/, config/ and envs/ to run instead "
                             "of the installed workflow.")
    executor: str = _var("Where a job's steps run: local (default) or slurm, or any X with "
                         "snakemake-executor-plugin-X and a profile config/X/ (docs/hpc.md). "
                         "--executor overrides it.")
    profile: str = _var("A site Snakemake profile folder laid over localgene's config/<executor>/ "
                        "profile key by key (docs/hpc.md).")
    cluster_jobs: str = _var("At most this many cluster jobs of one localgene job queued or running "
                             "at once (Snakemake --jobs). Default: the profile's jobs, else 50.")
    slurm_lost_seconds: str = _var("A SLURM job no longer queued or running whose end Snakemake has not "
                                   "read after this many seconds fails the job (default 300).")
    coverage_engine: str = _var("cnvkit: compute coverage with cnvkit.py coverage only; auto (default): "
                                "a faster engine (bincount, else mosdepth) where it is proven to give "
                                "CNVkit's numbers; bincount or mosdepth: that one (docs/coverage.md).")
    warm: str = _var("0/false/no/off: run every CNVkit step as its own cnvkit.py process instead of "
                     "through the job's CNVkit step server. Default: on.")
    cnvkit_server: str = _var("Set by localgene for Snakemake's step processes: the socket of the job's "
                              "CNVkit step server (not for users).")
    cnvkit_server_prefix: str = _var("Set by localgene beside LOCALGENE_CNVKIT_SERVER: sys.prefix of the "
                                     "server's Python; only steps of the same installation use it.")
    # object storage (docs/storage.md; AWS_* credentials are boto3's own)
    s3_endpoint_url: str = _var("The S3-compatible endpoint of s3:// and s3a:// inputs and outputs "
                                "(http(s):// URL). Default: AWS (or AWS_ENDPOINT_URL).")
    s3_region: str = _var("The object store's region. Default: boto3's (AWS_REGION, ~/.aws/config).")
    s3_addressing_style: str = _var("path, virtual or auto: how bucket names go into object URLs. "
                                    "Default: boto3's choice.")
    s3_verify: str = _var("true/false, or a CA bundle file: how the object store's TLS certificate "
                          "is checked. Default: true.")
    # who and where (CLI, server)
    project: str = _var("The CLI's project id (--project). Default local.")
    user: str = _var("The CLI's owner of submitted jobs (--owner). Default: the login name.")
    server: str = _var("The CLI talks to this server's API (--server URL) instead of the local store.")
    token: str = _var("The X-Auth-Token the CLI sends with --server (--token).")
    host: str = _var("Address localgene serve listens on (--host). Default 127.0.0.1.")
    port: str = _var("Port localgene serve listens on (--port). Default 8000.")
    users: str = _var("The server's users file (--users). Default $LOCALGENE_HOME/users.yaml.")
    allowed_paths: str = _var("Colon-separated folders a single-user server lets jobs read and write "
                              "(--allow-path).")
    data_roots: str = _var("Colon-separated data roots of a multi-user server (--data-root; "
                           "PROJECT=DIR for one project's).")

    @classmethod
    def variable(cls, name: str) -> str:
        """The environment variable of field ``name`` (``home`` -> ``LOCALGENE_HOME``)."""
        return ENV_PREFIX + name.upper()

    @classmethod
    def read(cls, env: Mapping[str, str] | None = None) -> "Environment":
        """The variables of ``env``, or of the process environment now (None)."""
        if env is None:
            return cls()
        values = {name: str(env[cls.variable(name)]) for name in cls.model_fields if cls.variable(name) in env}
        return cls.model_construct(None, **values)  # (validating would read os.environ too: all fields are text)

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
    #: every ``LOCALGENE_*`` variable as read when these settings were loaded
    env: Environment = field(default_factory=lambda: Environment.model_construct())

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
    raw = Environment.read(env)
    home = Path(os.path.expanduser(raw.home or DEFAULT_HOME)).absolute()
    slots = _parse_slots(raw.slots) if raw.slots.strip() else default_slots()
    max_attempts = (_parse_count(raw.max_attempts, ENV_MAX_ATTEMPTS, MAX_ATTEMPTS_LIMIT)
                    if raw.max_attempts.strip() else DEFAULT_MAX_ATTEMPTS)
    return Settings(home=home, slots=slots, max_attempts=max_attempts,
                    cache_max_bytes=_parse_gb(raw.cache_max_gb, ENV_CACHE_MAX_GB),
                    coverage_cache_max_bytes=_parse_gb(raw.coverage_cache_max_gb, ENV_COVERAGE_CACHE_MAX_GB),
                    index_cache_max_bytes=_parse_gb(raw.index_cache_max_gb, ENV_INDEX_CACHE_MAX_GB),
                    env=raw)


# --------------------------------------------------------------------------------------------
# docs/settings.md

DOCS_FILE = Path("docs") / "settings.md"


def docs_table() -> str:
    """``docs/settings.md``: every variable with its description, generated from :class:`Environment`."""
    rows = [f"| `{Environment.variable(name)}` | {info.description} |"
            for name, info in Environment.model_fields.items()]
    return ("# Settings: the environment variables\n\n"
            "Generated from `localgene.settings.Environment` by `python -m localgene.settings --docs`: "
            "do not edit. The variables are read through that one class when an entry point starts (a "
            "command, the server, the worker, a job process, a Snakemake step process) and what was read "
            "is passed down; an empty variable counts as unset. Command-line options, where a command "
            "has one, win over the variable.\n\n"
            "| variable | meaning |\n|---|---|\n" + "\n".join(rows) + "\n")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] != ["--docs"]:
        print("usage: python -m localgene.settings --docs [FILE]   (default docs/settings.md)", file=sys.stderr)
        return 2
    target = Path(args[1]) if len(args) > 1 else Path(__file__).resolve().parent.parent / DOCS_FILE
    target.write_text(docs_table())
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

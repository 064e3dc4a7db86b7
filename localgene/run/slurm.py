"""What localgene needs to know about a SLURM cluster, and the safety nets around the plugin.

* :func:`probe` asks the cluster once (``sinfo``, ``sacct``, ``scontrol show config``) whether
  its controller answers, whether accounting works, its partitions and default partition and
  whether accounts are enforced: :class:`ClusterFacts`. :func:`choose` turns the facts and the
  merged profile into the settings the plugin gets (status command, first status-check pause,
  partition) and one line for the job log. Cached per process; a worker hands its facts to
  each job process (``--cluster-facts``), which checks only that the controller still answers.
* :class:`LostJobWatch` fails a run whose SLURM job left ``squeue`` (or sits there in a final
  state) without Snakemake hearing of it for longer than ``LOCALGENE_SLURM_LOST_SECONDS``.
* :func:`cancel_run` scancels whatever of a run is still queued and waits until ``squeue``
  shows nothing of it (cancel's guarantee).
* :func:`refusal` explains an ``sbatch`` refusal for a missing account or partition.

docs/hpc.md describes the behaviour; the plugin is snakemake-executor-plugin-slurm.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

ENV_LOST = "LOCALGENE_SLURM_LOST_SECONDS"
DEFAULT_LOST_SECONDS = 300.0
#: The plugin's own default pause before its first status check (seconds).
PLUGIN_INIT_SECONDS = 40
#: How long one SLURM client command may take before it counts as "not answering".
COMMAND_TIMEOUT = 60.0
#: squeue states of a job that is still queued or running (anything else is final).
ACTIVE_STATES = frozenset({
    "PENDING", "RUNNING", "SUSPENDED", "COMPLETING", "CONFIGURING", "REQUEUED", "REQUEUE_FED",
    "REQUEUE_HOLD", "RESIZING", "SIGNALING", "STAGE_OUT", "STOPPED", "RESV_DEL_HOLD", "PREEMPTED",
    "POWER_UP_NODE", "SPECIAL_EXIT", "UPDATE_DB",
})
#: The plugin's account guess on a cluster without accounting: three warnings, no use.
_ACCOUNT_GUESS = re.compile(
    r"^(No SLURM account given, trying to guess\.|No account was given, not able to get a SLURM "
    r"account via sacct:.*|Unable to guess SLURM account\. Trying to proceed without\.|sacct: invalid option.*"
    r"|Try \"sacct --help\" for more information)\s*$")


class SlurmUnavailable(Exception):
    """SLURM cannot be used from this machine (message says why)."""


@dataclass(frozen=True)
class ClusterFacts:
    """What :func:`probe` found."""

    reachable: bool
    problem: str = ""                     # why not, when not reachable
    accounting: bool = False              # sacct answers (an accounting database exists)
    accounting_error: str = ""            # what sacct said when it did not
    partitions: tuple[str, ...] = ()
    default_partition: str | None = None
    accounts_enforced: bool = False       # AccountingStorageEnforce has associations/limits/safe
    min_job_age: int | None = None        # seconds squeue keeps finished jobs
    version: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ClusterFacts:
        data = json.loads(text)
        data["partitions"] = tuple(data.get("partitions") or ())
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


def _run(argv: list[str]) -> tuple[int, str, str]:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=COMMAND_TIMEOUT,
                              stdin=subprocess.DEVNULL, check=False)
    except subprocess.TimeoutExpired:
        return 124, "", f"{argv[0]} did not answer within {COMMAND_TIMEOUT:.0f} s"
    except OSError as exc:
        return 127, "", f"{argv[0]}: {exc.strerror}"
    return proc.returncode, proc.stdout, proc.stderr


def _first_line(text: str) -> str:
    rows = [r.strip() for r in text.splitlines() if r.strip()]
    return rows[-1] if rows else ""


def reachable() -> str:
    """'' when the controller answers ``sinfo``, else what is wrong (one sentence)."""
    if shutil.which("sinfo") is None:
        return ("SLURM's commands are not installed on this machine (no sinfo on PATH); "
                "--executor slurm needs a machine that can submit jobs (a login node)")
    code, out, err = _run(["sinfo", "-h", "-o", "%P"])
    if code != 0:
        said = _first_line(err) or _first_line(out) or f"exit code {code}"
        hint = ""
        if re.search(r"munge|credential|authentication", said, re.I):
            hint = " (munge authentication failed: is munged running with the cluster's key?)"
        elif re.search(r"contact|connect|controller|configuration", said, re.I):
            hint = (" (is slurmctld running, and does SLURM_CONF or /etc/slurm/slurm.conf name it?)")
        return f"the SLURM controller does not answer: {said}{hint}"
    return ""


def probe() -> ClusterFacts:
    """Ask the cluster what it offers (a handful of quick client commands, nothing submitted)."""
    problem = reachable()
    if problem:
        return ClusterFacts(reachable=False, problem=problem)
    code, out, _ = _run(["sinfo", "-h", "-o", "%P"])
    names = [p.strip() for p in out.split() if p.strip()]
    partitions = tuple(dict.fromkeys(p.rstrip("*") for p in names))
    default = next((p.rstrip("*") for p in names if p.endswith("*")), None)
    accounting, accounting_error = False, "sacct is not installed"
    if shutil.which("sacct"):
        code, out, err = _run(["sacct", "-n", "-X", "-j", "1", "-o", "JobID"])
        accounting = code == 0
        accounting_error = "" if accounting else (_first_line(err) or _first_line(out) or f"exit code {code}")
    config: dict[str, str] = {}
    code, out, _ = _run(["scontrol", "show", "config"])
    if code == 0:
        for row in out.splitlines():
            key, sep, value = row.partition("=")
            if sep:
                config[key.strip()] = value.strip()
    enforce = config.get("AccountingStorageEnforce", "none").lower()
    age = re.match(r"(\d+)\s*(\w*)", config.get("MinJobAge", ""))
    min_job_age = None
    if age:
        min_job_age = int(age.group(1)) * (3600 if age.group(2).lower() in ("h", "hour", "hours") else 1)
    return ClusterFacts(
        reachable=True, accounting=accounting, accounting_error=accounting_error, partitions=partitions,
        default_partition=default,
        accounts_enforced=any(w in enforce for w in ("associations", "limits", "safe")),
        min_job_age=min_job_age, version=config.get("SLURM_VERSION", ""),
    )


_cached: ClusterFacts | None = None
_lock = threading.Lock()


def facts(given: ClusterFacts | None = None) -> ClusterFacts:
    """The cluster's facts, probed once per process (or ``given`` by the worker), with the
    controller's reachability checked again each call. Raises :class:`SlurmUnavailable`."""
    global _cached
    with _lock:
        if given is not None and _cached is None:
            _cached = given
        if _cached is None or not _cached.reachable:
            _cached = probe()
        else:
            problem = reachable()
            if problem:
                _cached = ClusterFacts(reachable=False, problem=problem)
        found = _cached
    if not found.reachable:
        raise SlurmUnavailable(found.problem)
    return found


def no_accounting() -> bool:
    """Whether this process has found the cluster without accounting."""
    return _cached is not None and _cached.reachable and not _cached.accounting


@dataclass
class Choice:
    """The settings localgene adds to the merged profile, and what it tells the user."""

    profile: dict[str, Any]
    line: str
    quiet_account_guess: bool = False


def choose(profile: Mapping[str, Any], found: ClusterFacts, profile_name: str) -> Choice:
    """The profile with the status command, first status-check pause and partition chosen from
    the cluster's facts where the (site) profile does not set them; raises
    :class:`SlurmUnavailable` for a setting the cluster cannot honour."""
    out = dict(profile)
    resources = dict(out.get("default-resources") or {})
    said: list[str] = [
        f"controller answers (SLURM {found.version or '?'})",
        "accounting: " + ("yes (sacct works)" if found.accounting else f"none ({found.accounting_error})"),
        f"partitions: {', '.join(found.partitions) or 'none'} (default: {found.default_partition or 'none'})",
    ]
    chosen: list[str] = []
    account = resources.get("slurm_account")
    if account and not found.accounting:
        raise SlurmUnavailable(
            f"slurm_account is set ({account!r}) in {profile_name}, but this cluster has no accounting "
            f"database ({found.accounting_error}), so the SLURM plugin cannot check it: remove "
            "slurm_account from default-resources in that profile")
    if found.accounts_enforced and not account:
        chosen.append("account: cluster enforces accounts, none set (sbatch uses your default account; "
                      f"set slurm_account in {profile_name} if it refuses)")
    elif not account:
        chosen.append("account: none")
    partition = resources.get("slurm_partition")
    if partition and found.partitions and str(partition) not in found.partitions:
        raise SlurmUnavailable(
            f"slurm_partition {partition!r} (in {profile_name}) is not a partition of this cluster "
            f"({', '.join(found.partitions)}): set slurm_partition under default-resources in that profile")
    if not partition:
        if found.default_partition:
            resources["slurm_partition"] = found.default_partition
            chosen.append(f"partition: {found.default_partition} (the cluster's default)")
        else:
            raise SlurmUnavailable(
                "this cluster has no default partition and none is set: set slurm_partition under "
                f"default-resources in {profile_name} (one of: {', '.join(found.partitions) or 'none'})")
    out["default-resources"] = resources
    command = out.get("slurm-status-command")
    if command:
        chosen.append(f"status command: {command} (set in the profile)")
    elif found.accounting:
        out["slurm-status-command"] = "sacct"
        chosen.append("status command: sacct")
    else:
        out["slurm-status-command"] = "squeue"
        chosen.append("status command: squeue (no accounting)")
    if out["slurm-status-command"] == "squeue":
        # The plugin uses squeue only if MinJobAge >= 3 x the first status-check pause, else it
        # falls back to sacct, which waits forever where accounting is off.
        init = int(out.get("slurm-init-seconds-before-status-checks") or PLUGIN_INIT_SECONDS)
        age = found.min_job_age
        if age is not None and age < 3 * init:
            init = max(1, age // 3)
            out["slurm-init-seconds-before-status-checks"] = init
            chosen.append(f"first status check after {init} s (MinJobAge {age} s)")
    return Choice(profile=out, line="localgene: SLURM: " + "; ".join(said + chosen),
                  quiet_account_guess=not account and not found.accounting)


def is_account_guess_noise(line: str) -> bool:
    """A line of the plugin's futile account guess (dropped where there is no accounting)."""
    return bool(_ACCOUNT_GUESS.match(line.strip()))


def refusal(text: str, profile_name: str) -> str | None:
    """What to do about an ``sbatch`` refusal for a missing/invalid account or partition."""
    if m := re.search(r"sbatch: error: (?:Batch job submission failed: )?([^'\n]*account[^'\n]*)", text, re.I):
        return (f"SLURM refused the job: {m.group(1).strip()}; set slurm_account under default-resources "
                f"in {profile_name}")
    if m := re.search(r"sbatch: error: (?:Batch job submission failed: )?([^'\n]*partition[^'\n]*)", text, re.I):
        return (f"SLURM refused the job: {m.group(1).strip()}; set slurm_partition under default-resources "
                f"in {profile_name}")
    return None


def queued(run_id: str) -> list[str] | None:
    """Ids of the run's jobs squeue still shows as queued or running (None: squeue failed)."""
    code, out, _ = _run(["squeue", "-h", f"--name={run_id}", "-o", "%i"])
    return out.split() if code == 0 else None


def cancel_run(run_ids: Sequence[str], bound: float = 300.0, sleep: Callable[[float], None] = time.sleep
               ) -> list[str]:
    """scancel every job still queued under the run's name(s) (the run IDs of its events) and
    wait until squeue shows none.

    Returns the ids it cancelled. Waits on the condition (re-sending scancel each round), up to
    ``bound`` seconds; raises :class:`SlurmUnavailable` if jobs are still there then.
    """
    cancelled: list[str] = []
    for run_id in dict.fromkeys(run_ids):
        deadline = time.monotonic() + bound
        while True:
            ids = queued(run_id)
            if ids == []:
                break
            if ids:
                _run(["scancel", *ids])
                cancelled.extend(i for i in ids if i not in cancelled)
            if time.monotonic() > deadline:
                raise SlurmUnavailable(f"SLURM jobs of run {run_id} still queued {bound:.0f} s after scancel: "
                                       + (" ".join(ids) if ids else "squeue does not answer"))
            sleep(0.5)
    return cancelled


@dataclass
class _Submitted:
    members: set[str]          # Snakemake job ids it runs (one, or a group's jobs)
    step: str
    lost_since: float | None = None


@dataclass
class LostJobWatch:
    """Fails a run whose SLURM job Snakemake waits for although SLURM no longer runs it.

    Fed the run's events (:meth:`feed`); a thread (:meth:`start`) asks ``squeue`` about
    the run's jobs every ``every`` seconds. A submitted job Snakemake has not finished, which
    ``squeue`` shows in no active state (gone, or final but unread) for more than ``bound``
    seconds, or a ``squeue`` that fails that long, calls ``on_lost(message)`` once.
    """

    bound: float
    on_lost: Callable[[str], None]
    every: float = 5.0
    query: Callable[[str], dict[str, str] | None] | None = None
    clock: Callable[[], float] = time.monotonic
    jobs: dict[str, _Submitted] = field(default_factory=dict)   # SLURM id -> job
    run_id: str | None = None
    lost: str | None = None
    _group: list[str] | None = None   # job ids of the group block being read
    _group_name: str | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def feed(self, event: dict[str, Any]) -> None:
        """Take in one of the run's events (localgene.run.events)."""
        kind = event.get("event")
        with self._lock:
            if kind == "executor_run":
                self.run_id = str(event["run_id"])
            elif kind == "group_info":
                self._group = [str(j) for j in event.get("jobs") or ()]
                self._group_name = str(event.get("group"))
            elif kind == "executor_job_submitted":
                parts = str(event["log"]).split("/slurm_logs/", 1)[-1].split("/")
                kind_, _, name = parts[0].partition("_")
                step = f"step '{name}'" + (f" ({parts[1]})" if len(parts) > 2 else "")
                members = {str(event["jobid"])}
                if kind_ == "group":
                    step = f"group '{self._group_name or name}'"
                    members = set(self._group or ()) or members
                self._group = self._group_name = None
                self.jobs[str(event["external_jobid"])] = _Submitted(members, step)
            elif kind == "job_finished":
                for sid, job in list(self.jobs.items()):
                    job.members.discard(str(event["jobid"]))
                    if not job.members:
                        del self.jobs[sid]
            elif kind in ("job_error", "group_error") and (external := (event.get("aux") or {}).get("external_jobid")):
                self.jobs.pop(str(external), None)

    def check(self) -> str | None:
        """One round: ask squeue, update, return the message if a job is lost."""
        with self._lock:
            if not self.jobs or self.run_id is None or self.lost:
                return None
            run_id = self.run_id
        states = (self.query or _states)(run_id)
        now = self.clock()
        with self._lock:
            for sid, job in self.jobs.items():
                state = None if states is None else states.get(sid)
                if state in ACTIVE_STATES:
                    job.lost_since = None
                    continue
                if job.lost_since is None:
                    job.lost_since = now
                elif now - job.lost_since > self.bound:
                    if states is None:
                        what = "squeue stopped answering"
                    elif state is None:
                        what = "it left squeue"
                    else:
                        what = f"squeue shows it {state}"
                    self.lost = (
                        f"{job.step}: SLURM job {sid} is no longer queued or running ({what}) but "
                        f"Snakemake's SLURM plugin never read its final state; gave up after "
                        f"{self.bound:.0f} s ({ENV_LOST})")
                    break
            lost = self.lost
        if lost:
            self.on_lost(lost)
        return lost

    def start(self) -> LostJobWatch:
        def loop() -> None:
            while not self._stop.wait(self.every):
                try:
                    if self.check():
                        return
                except Exception:  # noqa: BLE001 - a watch must never kill the run; next round
                    continue

        threading.Thread(target=loop, daemon=True, name="slurm-lost-job-watch").start()
        return self

    def stop(self) -> None:
        self._stop.set()


def _states(run_id: str) -> dict[str, str] | None:
    code, out, _ = _run(["squeue", "-h", "--states=all", f"--name={run_id}", "-o", "%i|%T"])
    if code != 0:
        return None
    return dict(row.split("|", 1) for row in out.split() if "|" in row)

"""A real single-node SLURM cluster on loopback, for tests (Debian `slurm-wlm` 22.x + `munge`).

Everything lives in one scratch folder (default ``/tmp/localgene-slurm``, or
``$LOCALGENE_SLURM_DIR``): the munge key, socket and log, ``slurm.conf``, the controller's
state, slurmd's spool, the daemons' logs and pid files, and the job-completion log
(``jobcomp.log``: one line per finished job with its state and exit code).

Two things live outside it, because SLURM needs them there:

* ``/etc/slurm/slurm.conf`` becomes a symlink to the scratch ``slurm.conf``. Snakemake's
  ``slurm-jobstep`` executor (inside each job) removes every ``SLURM_*`` variable except the
  job's identity before it calls ``srun``, ``SLURM_CONF`` included, so ``srun`` inside a job
  only finds the compiled-in default path. The symlink is removed again by :func:`stop`;
  a real (non-symlink) ``/etc/slurm/slurm.conf`` is never touched: :func:`start` refuses.
* The daemons listen on 127.0.0.1, ports 6817 (slurmctld) and 6818 (slurmd) unless
  ``$LOCALGENE_SLURM_CTLD_PORT`` / ``$LOCALGENE_SLURMD_PORT`` say otherwise.

Must run as root (slurmd starts job steps as the submitting user). :func:`start` is
idempotent: a healthy cluster started earlier by this module with the same configuration is
reused. Every failure raises :class:`SlurmClusterError` with the daemons' log tails.

Command line: ``python tests/hpc/slurm_cluster.py start|stop|status``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_ROOT = Path(os.environ.get("LOCALGENE_SLURM_DIR", "/tmp/localgene-slurm"))
SYSTEM_CONF = Path("/etc/slurm/slurm.conf")
PARTITION = "debug"
CLUSTER_NAME = "localgene"
MARKER = "# managed by localgene tests/hpc/slurm_cluster.py"
#: Seconds SLURM keeps a finished job visible to `squeue --states=all` / `scontrol show job`.
#: Snakemake's SLURM plugin polls with `squeue` here (no accounting database), so finished jobs
#: must stay visible longer than 3x its first status-check interval.
MIN_JOB_AGE = 300
REQUIRED_COMMANDS = ("munged", "munge", "unmunge", "slurmctld", "slurmd", "sinfo", "squeue",
                     "sbatch", "srun", "scancel", "scontrol")
START_TIMEOUT = 30.0


class SlurmClusterError(RuntimeError):
    """The cluster could not be started, checked or stopped (message carries the log tails)."""


@dataclass
class SlurmCluster:
    """A running cluster: where its files are and how to talk to it."""

    root: Path
    host: str
    partition: str = PARTITION
    reused: bool = False
    pids: dict[str, int] = field(default_factory=dict)

    @property
    def conf(self) -> Path:
        return self.root / "slurm.conf"

    @property
    def jobcomp_log(self) -> Path:
        return self.root / "log" / "jobcomp.log"

    @property
    def env(self) -> dict[str, str]:
        """``os.environ`` plus ``SLURM_CONF`` pointing at this cluster's configuration."""
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    def run(self, *cmd: str, check: bool = True, timeout: float = 30, **kw) -> subprocess.CompletedProcess:
        """Run a SLURM client command against this cluster (text output captured)."""
        proc = subprocess.run(list(cmd), env=self.env, capture_output=True, text=True, timeout=timeout, **kw)
        if check and proc.returncode != 0:
            raise SlurmClusterError(
                f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr.strip() or proc.stdout.strip()}"
            )
        return proc

    def node_state(self) -> str:
        return self.run("sinfo", "-h", "-N", "-n", self.host, "-o", "%T").stdout.strip()

    def squeue(self, *args: str) -> list[dict[str, str]]:
        """Jobs `squeue` knows (pending/running by default; pass ``--states=all`` for finished
        ones still within MinJobAge), as dicts with id, state, name, comment, reason."""
        out = self.run("squeue", "-h", "-o", "%i|%T|%j|%k|%r", *args).stdout
        keys = ("id", "state", "name", "comment", "reason")
        return [dict(zip(keys, line.split("|", 4))) for line in out.splitlines() if line.strip()]

    def jobcomp(self) -> dict[str, dict[str, str]]:
        """The job-completion log, by job id: ``{"12": {"JobState": "COMPLETED", ...}}``."""
        return read_jobcomp(self.jobcomp_log)

    def log_tails(self, lines: int = 30) -> str:
        return _log_tails(self.root, lines)


def read_jobcomp(path: Path) -> dict[str, dict[str, str]]:
    """Parse ``jobcomp/filetxt`` lines (``Key=value`` pairs separated by spaces)."""
    records: dict[str, dict[str, str]] = {}
    if not path.exists():
        return records
    for line in path.read_text().splitlines():
        fields = dict(re.findall(r"(\w+)=(\S*)", line))
        if "JobId" in fields:
            records[fields["JobId"]] = fields
    return records


# --------------------------------------------------------------------------- helpers


def _host() -> str:
    return socket.gethostname().split(".")[0]


def _ncpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        return os.cpu_count() or 1


def _real_memory_mib() -> int:
    """A little under the machine's memory, so slurmd never reports less than configured
    (a node whose RealMemory exceeds the hardware is drained as "Low RealMemory")."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            total = int(line.split()[1]) // 1024
            return max(256, min(int(total * 0.9), total - 256))
    raise SlurmClusterError("cannot read MemTotal from /proc/meminfo")


def _ports() -> tuple[int, int]:
    return (int(os.environ.get("LOCALGENE_SLURM_CTLD_PORT", "6817")),
            int(os.environ.get("LOCALGENE_SLURMD_PORT", "6818")))


def _tail(path: Path, lines: int) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError as exc:
        return f"  ({path}: {exc.strerror})"
    return "\n".join("  " + line for line in text[-lines:]) or "  (empty)"


def _log_tails(root: Path, lines: int = 30) -> str:
    parts = []
    for name in ("log/slurmctld.log", "log/slurmd.log", "munge/munged.log"):
        parts.append(f"--- {root / name} (last {lines} lines)\n{_tail(root / name, lines)}")
    return "\n".join(parts)


def _pid_alive(pid: int, needle: str) -> bool:
    """Whether ``pid`` runs and its command line contains ``needle`` (guards against pid reuse)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return False
    state = ""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        pass
    return needle in cmdline and state != "Z"


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _daemons(root: Path) -> dict[str, tuple[Path, str]]:
    """name -> (pid file, text its command line must contain)."""
    conf = str(root / "slurm.conf")
    return {
        "slurmd": (root / "run" / "slurmd.pid", conf),
        "slurmctld": (root / "run" / "slurmctld.pid", conf),
        "munged": (root / "munge" / "munged.pid", str(root / "munge" / "munge.socket")),
    }


def _scan_proc(name: str, needle: str) -> int | None:
    """A live process whose command line names ``name`` and contains ``needle`` (for a daemon
    that has not written its pid file yet)."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and _pid_alive(int(entry.name), needle):
            try:
                argv0 = (entry / "cmdline").read_bytes().split(b"\0", 1)[0].decode()
            except OSError:
                continue
            if Path(argv0).name == name:
                return int(entry.name)
    return None


def _running_pids(root: Path, scan: bool = False) -> dict[str, int]:
    """Live daemons of the cluster in ``root`` by their pid files (``scan``: or by /proc)."""
    pids = {}
    for name, (pidfile, needle) in _daemons(root).items():
        pid = _read_pid(pidfile)
        if pid and _pid_alive(pid, needle):
            pids[name] = pid
        elif scan:
            found = _scan_proc(name, needle)
            if found:
                pids[name] = found
    return pids


def render_conf(root: Path, host: str, cpus: int, memory_mib: int) -> str:
    """The slurm.conf of the test cluster."""
    ctld_port, slurmd_port = _ports()
    return f"""{MARKER}
# A single-node SLURM cluster on loopback for localgene's tests; see docs/hpc.md.
ClusterName={CLUSTER_NAME}
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={root}/munge/munge.socket
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/run/slurmctld.pid
SlurmdPidFile={root}/run/slurmd.pid
SlurmctldLogFile={root}/log/slurmctld.log
SlurmdLogFile={root}/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
MailProg=/bin/true
MpiDefault=none
# No cgroups: processes are tracked through /proc, tasks are not confined.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# Jobs without --mem get 1000 MB per CPU instead of the whole node.
DefMemPerCPU=1000
# Memory limits without cgroups: slurmd samples every step's RSS each second and kills a step
# above its job's --mem ("StepId=N.M exceeded memory limit (X > Y), being killed").
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=task=1
JobAcctGatherParams=OverMemoryKill
# No accounting database (so no `sacct`); finished jobs stay in `squeue --states=all` for
# MinJobAge seconds, and every finished job gets a line in the job-completion log.
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc={root}/log/jobcomp.log
MinJobAge={MIN_JOB_AGE}
# Fast for tests: FIFO scheduling at submit time, short kill grace, node back at once.
SchedulerType=sched/builtin
KillWait=2
InactiveLimit=0
MessageTimeout=10
SlurmdTimeout=60
ReturnToService=2
NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={memory_mib} State=UNKNOWN
PartitionName={PARTITION} Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""


def _check_prerequisites() -> None:
    if os.geteuid() != 0:
        raise SlurmClusterError(
            "the test SLURM cluster must be started as root (slurmd runs job steps as the "
            "submitting user and munged/slurmd need root-owned state); run the tests as root"
        )
    missing = [c for c in REQUIRED_COMMANDS if shutil.which(c) is None and not Path("/usr/sbin", c).exists()]
    if missing:
        raise SlurmClusterError(
            f"SLURM/munge commands not found: {', '.join(missing)}; install the Debian packages "
            "`slurm-wlm munge` (`make sysdeps` does, as root)"
        )


def _which(cmd: str) -> str:
    found = shutil.which(cmd)
    if found:
        return found
    if Path("/usr/sbin", cmd).exists():
        return str(Path("/usr/sbin", cmd))
    raise SlurmClusterError(f"{cmd} not found")


def _is_ours(conf: Path) -> bool:
    try:
        return conf.read_text().startswith(MARKER)
    except OSError:
        return False


def _link_system_conf(conf: Path) -> None:
    """Point /etc/slurm/slurm.conf at ``conf`` (see the module docstring for why)."""
    if SYSTEM_CONF.is_symlink():
        target = Path(os.readlink(SYSTEM_CONF))
        if target == conf:
            return
        try:
            ours = target.read_text().startswith(MARKER)
        except OSError:
            ours = True  # dangling link left by an earlier test cluster
        if not ours:
            raise SlurmClusterError(
                f"{SYSTEM_CONF} links to {target}, which is not a localgene test configuration; "
                "refusing to replace it (is a real SLURM installed here?)"
            )
        if status(target.parent) is not None:
            raise SlurmClusterError(
                f"{SYSTEM_CONF} links to the test cluster running in {target.parent}; stop it "
                "first (python tests/hpc/slurm_cluster.py stop, with its LOCALGENE_SLURM_DIR)"
            )
        SYSTEM_CONF.unlink()
    elif SYSTEM_CONF.exists():
        raise SlurmClusterError(
            f"{SYSTEM_CONF} exists and is not a localgene test configuration; refusing to "
            "replace it (is a real SLURM installed here?). The test cluster needs that path "
            "because the slurm-jobstep executor drops SLURM_CONF before calling srun."
        )
    SYSTEM_CONF.parent.mkdir(parents=True, exist_ok=True)
    SYSTEM_CONF.symlink_to(conf)


def _unlink_system_conf(conf: Path) -> None:
    if SYSTEM_CONF.is_symlink() and Path(os.readlink(SYSTEM_CONF)) == conf:
        SYSTEM_CONF.unlink()


def _wait(predicate, timeout: float, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(interval)


def _start_daemon(argv: list[str], root: Path, what: str) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise SlurmClusterError(
            f"{what} failed to start ({' '.join(argv)} exited {proc.returncode}):\n"
            f"{proc.stderr.strip() or proc.stdout.strip()}\n{_log_tails(root)}"
        )


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("", port))
        except OSError:
            return True
    return False


def _healthy(cluster: SlurmCluster) -> bool:
    try:
        return cluster.node_state() in ("idle", "mixed", "allocated")
    except (SlurmClusterError, subprocess.TimeoutExpired):
        return False


# --------------------------------------------------------------------------- start / stop


def status(root: Path = DEFAULT_ROOT) -> SlurmCluster | None:
    """The cluster running in ``root`` if its three daemons are alive and the node answers."""
    state = _read_state(root)
    pids = _running_pids(root)
    if state is None or set(pids) != {"munged", "slurmctld", "slurmd"}:
        return None
    cluster = SlurmCluster(root=root, host=state["host"], reused=True, pids=pids)
    return cluster if _healthy(cluster) else None


def start(root: Path = DEFAULT_ROOT, timeout: float = START_TIMEOUT) -> SlurmCluster:
    """Start the cluster in ``root`` (or reuse the one already running there) and wait until
    its node is idle. Raises :class:`SlurmClusterError` with the daemons' log tails on failure."""
    _check_prerequisites()
    root = Path(root).resolve()
    host = _host()
    conf_text = render_conf(root, host, _ncpus(), _real_memory_mib())

    running = status(root)
    if running is not None and running.conf.read_text() == conf_text:
        _link_system_conf(running.conf)
        return running

    stop(root)  # leftovers of an earlier, dead or differently configured cluster
    busy = [port for port in _ports() if _port_in_use(port)]
    if busy:
        raise SlurmClusterError(
            f"port(s) {', '.join(map(str, busy))} on this machine are already in use (another "
            "SLURM, or a test cluster in a different folder?); stop it or set "
            "LOCALGENE_SLURM_CTLD_PORT / LOCALGENE_SLURMD_PORT"
        )
    if root.exists():
        if any(root.iterdir()) and _read_state(root) is None and not _is_ours(root / "slurm.conf"):
            raise SlurmClusterError(f"{root} exists and is not a localgene test cluster folder; "
                                    "refusing to empty it (set LOCALGENE_SLURM_DIR elsewhere)")
        shutil.rmtree(root)
    try:
        return _start_fresh(root, host, conf_text, timeout)
    except BaseException:
        stop(root)  # no half-started daemons, no /etc/slurm/slurm.conf link to a dead cluster
        raise


def _start_fresh(root: Path, host: str, conf_text: str, timeout: float) -> SlurmCluster:
    for sub in ("state", "spool", "log", "run", "munge-key"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    _write_state(root, {"host": host})
    # munged insists on a key readable only by its user, and on a socket folder that everyone
    # may traverse but only its user may write.
    (root / "munge-key").chmod(0o700)
    (root / "munge").mkdir(mode=0o755)
    key = root / "munge-key" / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o400)
    sock = root / "munge" / "munge.socket"
    _start_daemon([
        _which("munged"), f"--socket={sock}", f"--key-file={key}",
        f"--log-file={root}/munge/munged.log", f"--pid-file={root}/munge/munged.pid",
        f"--seed-file={root}/munge/munged.seed",
    ], root, "munged")
    check = subprocess.run(f"{_which('munge')} -n -S {sock} | {_which('unmunge')} -S {sock}",
                           shell=True, capture_output=True, text=True, timeout=30)
    if check.returncode != 0:
        raise SlurmClusterError(f"munge round trip failed: {check.stderr.strip()}\n{_log_tails(root)}")

    conf = root / "slurm.conf"
    conf.write_text(conf_text)
    _link_system_conf(conf)
    _start_daemon([_which("slurmctld"), "-f", str(conf)], root, "slurmctld")
    _start_daemon([_which("slurmd"), "-f", str(conf), "-N", host], root, "slurmd")

    cluster = SlurmCluster(root=root, host=host)

    def ready() -> bool:
        # a daemon is running if its pid file names a live process, or (before it has written
        # the file) if one with our configuration in its command line exists
        dead = {"munged", "slurmctld", "slurmd"} - set(_running_pids(root, scan=True))
        if dead:
            raise SlurmClusterError(f"{', '.join(sorted(dead))} exited during start-up\n{_log_tails(root)}")
        return _healthy(cluster)

    if not _wait(ready, timeout):
        # A node that came up "down" or "drained" once (e.g. after an unclean restart) is told
        # to resume; it is the same single node, nothing else could be running on it.
        cluster.run("scontrol", "update", f"nodename={host}", "state=resume", check=False)
        if not _wait(ready, 5):
            sinfo = cluster.run("sinfo", "-N", "-o", "%N %T %E", check=False)
            raise SlurmClusterError(
                f"SLURM node {host} did not become idle within {timeout:.0f}s.\n"
                f"sinfo: {sinfo.stdout.strip() or sinfo.stderr.strip()}\n{_log_tails(root)}"
            )
    cluster.pids = _running_pids(root, scan=True)
    return cluster


def stop(root: Path = DEFAULT_ROOT, timeout: float = 15.0) -> None:
    """Cancel the cluster's jobs, stop its daemons by their pid files and remove the
    /etc/slurm/slurm.conf link. Leaves the scratch folder (logs) in place."""
    root = Path(root).resolve()
    pids = _running_pids(root, scan=True)
    conf = root / "slurm.conf"
    if "slurmctld" in pids and conf.exists():
        env = {**os.environ, "SLURM_CONF": str(conf)}
        subprocess.run(["scancel", "--full", "--quiet", f"--partition={PARTITION}"], env=env,
                       capture_output=True, timeout=30)
        _wait(lambda: not subprocess.run(["squeue", "-h", "-o", "%i"], env=env, capture_output=True,
                                         text=True, timeout=30).stdout.strip(), 10)
    for name in ("slurmd", "slurmctld", "munged"):  # clients before servers
        pid = pids.get(name)
        if pid is None:
            continue
        needle = _daemons(root)[name][1]
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
        if not _wait(lambda pid=pid, needle=needle: not _pid_alive(pid, needle), timeout):
            os.kill(pid, signal.SIGKILL)
            _wait(lambda pid=pid, needle=needle: not _pid_alive(pid, needle), 5)
    _unlink_system_conf(conf)


def stop_controller(root: Path = DEFAULT_ROOT, timeout: float = 15.0) -> None:
    """Stop only slurmctld (jobs, slurmd and munged stay), e.g. to see how clients fail."""
    root = Path(root).resolve()
    pid = _running_pids(root, scan=True).get("slurmctld")
    if pid is None:
        return
    needle = _daemons(root)["slurmctld"][1]
    os.kill(pid, signal.SIGTERM)
    if not _wait(lambda: not _pid_alive(pid, needle), timeout):
        os.kill(pid, signal.SIGKILL)
        _wait(lambda: not _pid_alive(pid, needle), 5)


def start_controller(root: Path = DEFAULT_ROOT, timeout: float = START_TIMEOUT) -> SlurmCluster:
    """Start slurmctld again after :func:`stop_controller` (it recovers its jobs from its state
    folder) and wait until the node answers; a cluster in any other state is started afresh."""
    root = Path(root).resolve()
    state = _read_state(root)
    if state is None or "slurmctld" in _running_pids(root, scan=True):
        return start(root, timeout)
    _start_daemon([_which("slurmctld"), "-f", str(root / "slurm.conf")], root, "slurmctld")
    cluster = SlurmCluster(root=root, host=state["host"], reused=True)
    if not _wait(lambda: _healthy(cluster), timeout):
        raise SlurmClusterError(f"slurmctld did not come back within {timeout:.0f}s\n{_log_tails(root)}")
    cluster.pids = _running_pids(root, scan=True)
    return cluster


def _state_file(root: Path) -> Path:
    return root / "cluster.json"


def _read_state(root: Path) -> dict | None:
    try:
        return json.loads(_state_file(root).read_text())
    except (OSError, ValueError):
        return None


def _write_state(root: Path, state: dict) -> None:
    _state_file(root).write_text(json.dumps(state))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    action = argv[0] if argv else "status"
    try:
        if action == "start":
            t0 = time.monotonic()
            cluster = start()
            how = "reused" if cluster.reused else f"started in {time.monotonic() - t0:.1f}s"
            print(f"SLURM cluster {how}: {cluster.root} (export SLURM_CONF={cluster.conf})")
        elif action == "stop":
            stop()
            print(f"SLURM cluster in {DEFAULT_ROOT} stopped")
        elif action == "status":
            cluster = status()
            print(f"running: {cluster.root}, pids {cluster.pids}" if cluster else "not running")
            return 0 if cluster else 1
        else:
            print("usage: slurm_cluster.py start|stop|status", file=sys.stderr)
            return 2
    except SlurmClusterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Running recorded jobs: a worker that supervises, and one OS process per job.

* :func:`execute_job` runs one job to its end inside the current process: it prepares the job
  folder ``$LOCALGENE_HOME/jobs/<instance_id>/``, moves the job LAUNCHING → RUNNING, runs the
  Snakemake workflow as a child process while writing progress ``k/n`` and a heartbeat to the
  store, and records FINISHED or FAILED with the failing step's reason.
* :class:`~localgene.run.worker.Worker` takes queued jobs first come first served while it has free slots, starts
  each as ``python -m localgene.run.runner <instance_id>`` in its own session (so the job's whole
  process tree is one process group), and on every tick: ends the jobs whose runner is gone
  (crash recovery, :meth:`Store.recover_orphans`), and stops CANCELING jobs by sending SIGINT
  to their process group (Snakemake then stops its running steps), escalating to SIGTERM and
  SIGKILL if they do not stop. A job becomes CANCELLED only when no process of its group is
  left.

Job processes do not depend on the worker: a worker that dies leaves its jobs running, and the
next worker adopts them (cancel still works). A job whose process group is gone (SIGKILL, the
OOM killer, a reboot) is re-queued and **resumed in its own folder** by the next worker:
Snakemake reruns what was incomplete and keeps the finished steps (:func:`resume_note`), up to
``LOCALGENE_MAX_ATTEMPTS`` starts; then it is FAILED with every attempt listed.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable
from pathlib import Path

from localgene import settings as settings_mod
from localgene import storage
from localgene.cnvkit import coverage_cache
from localgene.cnvkit.server_early import EarlyServer
from localgene.errors import LocalgeneError, StateConflict
from localgene.jobs import pipeline_inputs, references
from localgene.jobs.bodies import PIPELINE_KINDS
from localgene.jobs.status import Status
from localgene.pipelines import index_cache
from localgene.run import events as run_events
from localgene.run import workflow
from localgene.run.execution import Execution
from localgene.run.execution import resolve as resolve_execution
from localgene.store import Store, this_host

log = logging.getLogger("localgene.run.runner")

HEARTBEAT_SECONDS = 5.0
CANCEL_ESCALATION = ((0.0, signal.SIGINT), (30.0, signal.SIGTERM), (60.0, signal.SIGKILL))


#: Where every workflow writes its summary of a job (``SUMMARY`` in rules/common.smk,
#: rules/rna_diff_expr/main.smk, rules/dna_common/common.smk), inside the job folder.
SUMMARY = Path("results") / "job.json"


def found_warnings(job_dir: Path) -> list[str]:
    """The warnings the workflow wrote into the job's summary while it ran (the RNA strandedness
    check, CNVkit's segment check, the DNA plan's notes); [] when there is no summary (a job that
    failed before its last step) or it cannot be read."""
    path = job_dir / SUMMARY
    try:
        found = json.loads(path.read_text()).get("warnings") or []
    except FileNotFoundError:
        return []
    except (OSError, ValueError, AttributeError) as exc:
        log.warning("%s: its warnings are not read (%s)", path, exc)
        return []
    return [str(w) for w in found] if isinstance(found, list) else []


def _finish(store: Store, instance_id: str, status: Status, message: str | None = None,
            job_dir: Path | None = None) -> None:
    """Record the job's end, with the warnings its workflow found (see :func:`found_warnings`)
    merged into the record's in the same transaction."""
    try:
        store.transition(instance_id, status, message=message,
                         add_warnings=found_warnings(job_dir) if job_dir is not None else ())
    except StateConflict:
        # Cancelled meanwhile (CANCELING): the worker finishes the cancel once we are gone.
        log.info("job %s: not moved to %s (%s)", instance_id, status, store.find_existing(instance_id).status)


def execute_job(store: Store, instance_id: str, *, cfg: settings_mod.Settings, cores: int,
                on_progress: Callable[[int, int], None] | None = None,
                extra_args: tuple[str, ...] = (), execution: Execution | None = None,
                on_staging: Callable[[int, int], None] | None = None,
                early_server: EarlyServer | None = None) -> Status:
    """Run one recorded job in this process; returns its final (or CANCELING) status.

    ``execution`` says where the steps run (default: this machine; see localgene.run.execution).
    ``on_staging(done_bytes, total_bytes)`` follows the download of object-store inputs,
    ``on_progress(k, n)`` the workflow's steps. ``early_server``: a CNVkit step server started
    before the job was recorded (localgene.cnvkit.server_early), for the workflow's steps; the
    caller that started it ends it if the job never reaches them.
    """
    record = store.find(instance_id)
    if record is None:
        raise LocalgeneError(f"no job {instance_id}")
    store.set_runner(instance_id, os.getpid(), this_host())
    job_dir = cfg.job_dir(instance_id)
    job_dir.mkdir(parents=True, exist_ok=True)
    resume_note(store, instance_id, job_dir)
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(HEARTBEAT_SECONDS):
            store.heartbeat(instance_id)

    threading.Thread(target=beat, daemon=True).start()
    cache = open_cache(cfg)
    try:
        body = stage(store, record, cache, job_dir, on_staging, home=cfg.home)
        workflow.prepare_job(body, job_dir, instance_id=instance_id, cores=cores,
                             index_cache=cfg.cache_dir / index_cache.SUBDIR, settings=cfg)
        store.transition(instance_id, Status.RUNNING, expected=Status.LAUNCHING)

        def progress(done: int, total: int) -> None:
            store.set_progress(instance_id, done, total)
            if on_progress:
                on_progress(done, total)

        workflow.run_workflow(job_dir, cores=cores, on_progress=progress, extra_args=extra_args,
                              execution=execution, early_server=early_server)
        _finish(store, instance_id, Status.FINISHED, "", job_dir)
    except workflow.WorkflowCancelled:
        pass  # the job is CANCELING; CANCELLED once every process of it has exited
    except StateConflict:
        pass  # cancelled before it started running
    except LocalgeneError as exc:
        _finish(store, instance_id, Status.FAILED, lost_folder(job_dir, exc) or str(exc), job_dir)
    except Exception as exc:
        reason = lost_folder(job_dir, exc)
        if reason is None:  # a bug of ours: keep the traceback in the job folder, not the message
            reason = f"internal error ({type(exc).__name__}); see logs/runner.log"
            try:
                (job_dir / "logs").mkdir(parents=True, exist_ok=True)
                (job_dir / "logs" / "runner.log").write_text(traceback.format_exc())
            except OSError:
                log.exception("job %s failed; its runner.log cannot be written", instance_id)
        _finish(store, instance_id, Status.FAILED, reason, job_dir)
    finally:
        stop.set()
        cache.release(instance_id)
        try:
            prune_coverage_cache(cfg)
        except OSError as exc:  # never fails a job: the bound is kept after the next one
            log.warning("coverage cache: not pruned (%s)", exc)
    return store.find_existing(instance_id).status


def resume_note(store: Store, instance_id: str, job_dir: Path) -> bool:
    """Prepare a job folder that an earlier attempt of the job left behind; True if there was one.

    The store lets one runner hold a job at a time, so Snakemake's locks in the folder belong to
    a runner that is gone (killed before it could remove them) and are removed; Snakemake's own
    incomplete-output records stay, so ``--rerun-incomplete`` reruns only the steps that were cut
    short. A line in ``logs/snakemake.log`` says which attempt this is and why the last one ended.
    """
    smk = job_dir / ".snakemake"
    if not smk.is_dir():
        return False
    locks = smk / "locks"
    for lock in locks.glob("*.lock") if locks.is_dir() else ():
        lock.unlink(missing_ok=True)
    attempts = store.attempts(instance_id)
    record = store.find(instance_id)
    why = (f"after: {attempts[-1]}" if attempts else
           record.message if record is not None and record.message.startswith("retried") else "")
    (job_dir / "logs").mkdir(parents=True, exist_ok=True)
    with open(job_dir / "logs" / "snakemake.log", "a") as log_file:
        log_file.write(f"localgene: attempt {len(attempts) + 1}: resuming in this folder (finished steps "
                       f"are kept){'; ' + why if why else ''}\n")
    return True


def lost_folder(job_dir: Path, exc: BaseException) -> str | None:
    """Why a job failed when its folder itself went wrong under it, or None.

    * the folder was deleted while the job ran (by hand, a cleanup script): Snakemake and its
      steps lose their working directory;
    * the file system of the folder is full (ENOSPC): writing a step's output or a log failed.
      The steps that had started and not finished are named, from Snakemake's log (what of it
      reached the disk).
    """
    if not job_dir.is_dir():
        return f"the job folder {job_dir} was deleted while the job ran"
    full = isinstance(exc, OSError) and exc.errno == errno.ENOSPC
    said = isinstance(exc, LocalgeneError) and ("No space left on device" in str(exc) or _device_full(job_dir))
    if not full and not said:
        return None
    if not full:  # a step failed on ENOSPC (its log says so, or could not): the message names the step
        return f"{exc} (no space left on the device of the job folder {job_dir})"
    steps = running_steps(job_dir)
    where = f"step {', '.join(steps)}" if steps else "the workflow"
    return f"{where} failed: no space left on the device of the job folder {job_dir}"


def _device_full(job_dir: Path) -> bool:
    """The file system of the job folder has (almost) no room left: a step that failed there
    may not have been able to write why (its log is on the same device)."""
    try:
        st = os.statvfs(job_dir)
    except OSError:
        return False
    free, total = st.f_bavail * st.f_frsize, st.f_blocks * st.f_frsize
    return free < max(64 * 1024, total // 200)


def running_steps(job_dir: Path) -> list[str]:
    """``'rule' (wildcards)`` of the steps the run's events show started and not finished."""
    events = run_events.read(job_dir)
    return events.running() if events is not None else []


def open_cache(cfg: settings_mod.Settings) -> storage.Cache:
    """The shared input cache; ``LOCALGENE_CACHE_MAX_GB`` bounds its size (default: no bound)."""
    return storage.Cache(cfg.cache_dir, max_bytes=cfg.cache_max_bytes)


def prune_coverage_cache(cfg: settings_mod.Settings) -> list[str]:
    """Keep the shared control-coverage cache within ``LOCALGENE_COVERAGE_CACHE_MAX_GB``."""
    if cfg.coverage_cache_max_bytes is None:
        return []
    cache = coverage_cache.CoverageCache(cfg.cache_dir / coverage_cache.SUBDIR)
    removed = cache.prune(cfg.coverage_cache_max_bytes)
    if removed:
        log.info("coverage cache: removed %d least recently used entries", len(removed))
    return removed


def stage(store: Store, record, cache: storage.Cache, job_dir: Path,
          on_staging: Callable[[int, int], None] | None = None, *, home: Path | None = None) -> dict:
    """The job body with every input replaced by a local path (objects fetched into the cache).

    While staging, the job stays LAUNCHING and its progress is the percentage of input bytes
    staged (``k/100``); a cancel stops the transfer.
    """
    instance_id = record.instance_id

    def progress(done: int, total: int) -> None:
        store.set_progress(instance_id, done * 100 // total if total else 100, 100)
        if on_staging:
            on_staging(done, total)
        if store.find_existing(instance_id).status is Status.CANCELING:
            raise workflow.WorkflowCancelled("cancelled while staging inputs")

    if record.kind in PIPELINE_KINDS:
        return stage_pipeline(record.request, cache, job_dir, progress, job_id=instance_id, home=home)
    local = storage.stage_inputs(storage.cnvkit_input_fields(record.request), storage.S3Config.from_env(),
                                 cache, job_dir, on_progress=progress, job_id=instance_id)
    return {**record.request, **local}


#: Where a multi-file registry entry's files are linked side by side inside a job folder.
REFERENCES_DIR = Path("inputs") / "references"


def stage_pipeline(request: dict, cache: storage.Cache, job_dir: Path,
                   on_progress: Callable[[int, int], None] | None = None, *, job_id: str,
                   home: Path | None = None) -> dict:
    """A pipeline body with every registry name resolved and every input a local absolute
    path (objects staged into the shared cache, ``file://`` stripped); outputs untouched.

    A registry entry with companion files (an index, a dictionary) is linked as
    ``inputs/references/<label>/<basename>`` for each of its files, so the companions sit
    beside the file the field names, wherever each one came from.
    """
    home = home or settings_mod.load().home
    resolved = references.resolve(pipeline_inputs.input_fields(request), references.load(home))
    staged = storage.stage_inputs(resolved.fields, storage.S3Config.from_env(), cache, job_dir,
                                  on_progress=on_progress, job_id=job_id)
    local: dict[str, str] = {}
    for name, path in staged.items():
        assert isinstance(path, str)  # input_fields names one file per field ("reads[0]"), never a list
        local[name] = path
    values = dict(local)
    for label in resolved.names:
        companions = resolved.companions(label)
        if not companions:
            continue
        folder = job_dir / REFERENCES_DIR / label.replace("[", "_").replace("]", "")
        folder.mkdir(parents=True, exist_ok=True)
        for item in (label, *companions):
            link = folder / Path(local[item]).name
            if link.is_symlink() or link.exists():
                link.unlink()
            link.symlink_to(Path(local[item]).resolve())
        values[label] = str(folder / Path(local[label]).name)
    return pipeline_inputs.with_values(request, values)


def main(argv: list[str] | None = None) -> int:
    """``python -m localgene.run.runner INSTANCE_ID``: one job process (started by a worker).

    SIGINT (a worker's cancel), SIGTERM and SIGHUP all cancel the job: its Snakemake, steps and
    SLURM jobs are stopped (localgene.run.workflow). A job stopped by a signal while nobody asked
    to cancel it is recorded CANCELLED with the signal as the reason.
    """
    import argparse

    from localgene.run.signals import signal_name, stop_signals
    from localgene.run.slurm import ClusterFacts

    ap = argparse.ArgumentParser(prog="python -m localgene.run.runner")
    ap.add_argument("instance_id")
    ap.add_argument("--cores", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--snakemake-arg", action="append", default=[])
    ap.add_argument("--executor", default=None)
    ap.add_argument("--cluster-facts", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    cfg = settings_mod.load()
    store = Store.open(cfg)
    execution = resolve_execution(args.executor)
    if args.cluster_facts:
        from dataclasses import replace

        execution = replace(execution, facts=ClusterFacts.from_json(args.cluster_facts))
    stopped_by = None
    with stop_signals() as received:
        try:
            status = execute_job(store, args.instance_id, cfg=cfg, cores=args.cores,
                                 extra_args=tuple(args.snakemake_arg), execution=execution)
        except KeyboardInterrupt as exc:  # before or after the workflow ran
            stopped_by = signal_name(exc)
            status = store.find_existing(args.instance_id).status
    if received and stopped_by is None:
        stopped_by = signal.Signals(received[0]).name
    if stopped_by and not status.is_final:
        status = record_stopped(store, args.instance_id, stopped_by)
    return 0 if status is Status.FINISHED else 1


def record_stopped(store: Store, instance_id: str, signame: str) -> Status:
    """Record a job whose process was stopped by ``signame`` (nothing of it runs any more).

    A job someone cancelled (CANCELING) is left to the worker, which finishes the cancel; any
    other becomes CANCELLED with the signal as the reason."""
    record = store.find_existing(instance_id)
    if record.status in (Status.LAUNCHING, Status.RUNNING):
        try:
            store.request_cancel(record.project_id, instance_id, None, kinds=None,
                                 message=f"cancelled: the job process got {signame}")
            store.transition(instance_id, Status.CANCELLED)
        except StateConflict:
            pass
    return store.find_existing(instance_id).status


if __name__ == "__main__":
    sys.exit(main())

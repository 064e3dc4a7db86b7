"""``python -m localgene.run.snakemake_main ARGS``: Snakemake's command line with localgene's logger plugin.

Snakemake discovers logger plugins only as top-level modules named
``snakemake_logger_plugin_<name>`` (``pkgutil.iter_modules``). localgene adds no top-level
module: this entry registers :mod:`localgene.run.snakemake_events` with Snakemake's logger plugin
registry under the name ``localgene``, then runs ``snakemake.cli.main`` with the arguments
unchanged, so ``--logger localgene`` (and ``--logger-localgene-path FILE``) work as for an
installed plugin. Everything else is plain Snakemake (same options, same output, same exit code).

A run that can only execute locally (no ``--executor``/``-e`` other than Snakemake's built-in
ones, no ``--profile`` or ``--workflow-profile`` given, no ``$SNAKEMAKE_PROFILE``; this
workflow's own profile, ``profiles/default``, names no executor) does not import the installed executor plugins:
Snakemake imports every one at start-up to offer its options, and the SLURM plugin alone costs
about 0.9 s (it imports pandas and asks ``sinfo``/``sacct``/``scontrol`` about the cluster), on
the critical path of every local job (docs/speed.md).

Snakemake's scheduler wakes itself up again after its job-rate timespan (``--max-jobs-per-timespan``,
1 s by default) with a ``threading.Timer``; the timer threads are not daemons, so the
interpreter waits for the last ones before it exits: about 1–2 s at the end of every run, after
the last step. This entry makes those timers daemon threads: they only wake a scheduler, and
there is none left to wake once Snakemake returns.

To tell whether a rule's ``params`` changed, Snakemake imports pandas (0.3–0.5 s) whenever it is
installed, in case a parameter is a data frame. A parameter can only be a pandas object if
pandas was imported before it was made; this entry imports pandas there only in that case (the
values are serialised the same way: Snakemake's pandas variant hands every other value to its
plain one).
"""

from __future__ import annotations

import os
import pkgutil
import sys
import threading
from collections.abc import Iterator, Sequence

#: Snakemake's own executors, which need no plugin module.
BUILTIN_EXECUTORS = frozenset({"local", "dryrun", "touch"})


def register() -> None:
    """Make ``--logger localgene`` known to Snakemake in this process (idempotent)."""
    from snakemake_interface_logger_plugins.common import logger_plugin_module_prefix
    from snakemake_interface_logger_plugins.registry import LoggerPluginRegistry

    from localgene.run import snakemake_events

    LoggerPluginRegistry().register_plugin(logger_plugin_module_prefix + snakemake_events.NAME, snakemake_events)


def runs_locally(argv: Sequence[str], env: dict[str, str] | os._Environ[str] = os.environ) -> bool:
    """Whether these Snakemake arguments can only use a built-in executor."""
    if env.get("SNAKEMAKE_PROFILE"):
        return False
    for i, arg in enumerate(argv):
        name, _, value = arg.partition("=")
        if name in ("--profile", "--workflow-profile"):
            chosen = value or (argv[i + 1] if i + 1 < len(argv) else "")
            if chosen != "none":  # a profile may name an executor
                return False
        if name in ("--executor", "-e"):
            chosen = value or (argv[i + 1] if i + 1 < len(argv) else "")
            if chosen not in BUILTIN_EXECUTORS:
                return False
        elif arg.startswith("-e") and not arg.startswith("--") and len(arg) > 2:
            if arg[2:].lstrip("=") not in BUILTIN_EXECUTORS:
                return False
    return True


def skip_executor_plugins() -> None:
    """Keep Snakemake's executor plugin registry from importing the installed plugins."""
    try:
        from snakemake_interface_executor_plugins.registry import ExecutorPluginRegistry
    except ImportError:
        return  # another Snakemake: left as it is
    collect = ExecutorPluginRegistry.collect_plugins
    if getattr(collect, "localgene_local_only", False):
        return

    def collect_builtin_only(self) -> None:
        real = pkgutil.iter_modules

        def without_executor_plugins(*args, **kwargs) -> Iterator[pkgutil.ModuleInfo]:
            return (m for m in real(*args, **kwargs) if not m.name.startswith(self.module_prefix))

        pkgutil.iter_modules = without_executor_plugins  # type: ignore[assignment]  # only while the registry collects
        try:
            collect(self)
        finally:
            pkgutil.iter_modules = real

    collect_builtin_only.localgene_local_only = True  # type: ignore[attr-defined]
    ExecutorPluginRegistry.collect_plugins = collect_builtin_only  # type: ignore[method-assign]


def daemon_scheduler_timers() -> None:
    """Make the scheduler's re-evaluation timers daemon threads (see the module's text)."""
    try:
        from snakemake.scheduling.job_scheduler import JobScheduler
    except ImportError:
        return  # another Snakemake: left as it is
    if not hasattr(JobScheduler, "_schedule_reevalutation") or getattr(
            JobScheduler._schedule_reevalutation, "localgene_daemon", False):
        return

    def schedule_reevaluation(self, delay: float) -> None:
        timer = threading.Timer(delay, self._open_jobs.release)
        timer.daemon = True
        timer.start()

    schedule_reevaluation.localgene_daemon = True  # type: ignore[attr-defined]
    JobScheduler._schedule_reevalutation = schedule_reevaluation  # type: ignore[method-assign]


def pandas_only_when_imported() -> None:
    """Snakemake's params check imports pandas only if it is already imported (module text)."""
    try:
        from snakemake.persistence import PersistenceBase
    except ImportError:
        return  # another Snakemake: left as it is
    serialize = PersistenceBase.__dict__.get("_serialize_param")
    if not isinstance(serialize, property) or not hasattr(PersistenceBase, "_serialize_param_pandas") \
            or not hasattr(PersistenceBase, "_serialize_param_builtin"):
        return

    def serialize_param(self):
        if "pandas" in sys.modules:
            return self._serialize_param_pandas
        return self._serialize_param_builtin

    PersistenceBase._serialize_param = property(serialize_param)  # type: ignore[method-assign,assignment]


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    register()
    if runs_locally(args):
        skip_executor_plugins()
    daemon_scheduler_timers()
    pandas_only_when_imported()
    from snakemake.cli import main as snakemake_main

    snakemake_main(args)


def exit_now(code: object) -> None:
    """End the process with ``code`` (a ``SystemExit`` code) as the interpreter would, without
    its teardown of every module and object (0.1–0.3 s after a run): exit handlers run, the
    logging handlers and the standard streams are flushed, then ``os._exit``."""
    import atexit
    import logging

    from localgene.cnvkit.server import exit_status

    status = exit_status(code)
    try:
        atexit._run_exitfuncs()
        logging.shutdown()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(status)


if __name__ == "__main__":
    try:
        main()
    except SystemExit as exc:
        exit_now(exc.code)
    exit_now(0)

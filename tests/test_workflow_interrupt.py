"""How a job process waits for Snakemake after it was interrupted (cancel, Ctrl-C).

A cancel signals the whole process group, Snakemake included; a second SIGINT from the job
process while Snakemake cancels its cluster jobs would cut that short. So one is forwarded only
when Snakemake has not stopped within the grace period (only the job process was signalled).
"""

from __future__ import annotations

import io
import subprocess
import sys
import time

from localgene import workflow

# Stands in for Snakemake: says when it got SIGINT, then stops after `delay` seconds
# (or never stops on its own when delay < 0).
CHILD = """
import signal, sys, time
delay = float(sys.argv[1])
def on_int(signum, frame):
    print("child: got SIGINT", flush=True)
    sys.exit(130)
signal.signal(signal.SIGINT, on_int)
print("child: running", flush=True)
if delay >= 0:
    time.sleep(delay)
    print("child: stopped on its own", flush=True)
    sys.exit(0)
time.sleep(60)
"""


def _child(delay: float) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(delay)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    assert proc.stdout.readline() == "child: running\n"
    return proc


def test_snakemake_that_stops_by_itself_gets_no_second_sigint(monkeypatch):
    monkeypatch.setattr(workflow, "INTERRUPT_GRACE_SECONDS", 5.0)
    log = io.StringIO()
    started = time.monotonic()
    code = workflow._wait_after_interrupt(_child(0.5), log)
    assert code == 0 and time.monotonic() - started < 5.0
    assert log.getvalue() == "child: stopped on its own\n"  # its output still reaches the log


def test_snakemake_not_signalled_with_the_job_gets_one_after_the_grace(monkeypatch):
    monkeypatch.setattr(workflow, "INTERRUPT_GRACE_SECONDS", 0.5)
    log = io.StringIO()
    code = workflow._wait_after_interrupt(_child(-1), log)
    assert code == 130
    assert log.getvalue() == "child: got SIGINT\n"

"""How a job process stops Snakemake after it got a stop signal (cancel, Ctrl-C, SIGTERM, SIGHUP).

A cancel or Ctrl-C signals the whole process group, Snakemake included; a second SIGINT from the
job process while Snakemake cancels its cluster jobs would cut that short. So after SIGINT one is
sent only when Snakemake has not said it is terminating within the grace period (the job process
alone was signalled). SIGTERM and SIGHUP are turned into one SIGINT at once: Snakemake answers
SIGTERM by waiting for its running steps, and has no SIGHUP handler at all.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from localgene.run import workflow
from localgene.run.execution import Execution
from localgene.run.signals import Stopped, group_members, signal_name, stop_signals

# Stands in for Snakemake: on SIGINT says what Snakemake says and stops; stops on its own after
# `delay` seconds (never when delay < 0); `announce` prints the cancel line at once (it got the
# group's SIGINT already).
CHILD = """
import signal, sys, time
delay, announce = float(sys.argv[1]), sys.argv[2] == "1"
def on_int(signum, frame):
    print("child: got SIGINT", flush=True)
    sys.exit(130)
signal.signal(signal.SIGINT, on_int)
print("child: running", flush=True)
if announce:
    print("Terminating processes on user request, this might take some time.", flush=True)
if delay >= 0:
    time.sleep(delay)
    print("child: stopped on its own", flush=True)
    sys.exit(0)
time.sleep(60)
"""


def _child(delay: float, announce: bool = False) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(delay), "1" if announce else "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    assert proc.stdout.readline() == "child: running\n"
    return proc


def _stop(proc, tmp_path: Path, signame: str, *, own_group: bool) -> tuple[int, str]:
    log = io.StringIO()
    code = workflow._stop_after_interrupt(proc, log, signame, pgid=proc.pid, own_group=own_group,
                                          execution=Execution(), log_path=tmp_path / "snakemake.log")
    return code, log.getvalue()


def test_snakemake_that_heard_the_group_sigint_gets_no_second_one(monkeypatch, tmp_path):
    monkeypatch.setattr(workflow, "INTERRUPT_GRACE_SECONDS", 30.0)
    code, text = _stop(_child(2.0, announce=True), tmp_path, "SIGINT", own_group=True)
    assert code == 0
    assert "child: stopped on its own" in text and "child: got SIGINT" not in text  # output reached the log


def test_snakemake_not_signalled_with_the_job_gets_one_after_the_grace(monkeypatch, tmp_path):
    monkeypatch.setattr(workflow, "INTERRUPT_GRACE_SECONDS", 0.5)
    code, text = _stop(_child(-1), tmp_path, "SIGINT", own_group=True)
    assert code == 130
    assert "child: got SIGINT" in text


@pytest.mark.parametrize("signame", ["SIGTERM", "SIGHUP"])
def test_sigterm_and_sighup_become_one_sigint_at_once(monkeypatch, tmp_path, signame):
    monkeypatch.setattr(workflow, "INTERRUPT_GRACE_SECONDS", 600.0)  # never waited for
    code, text = _stop(_child(-1), tmp_path, signame, own_group=True)
    assert code == 130 and f"localgene: got {signame}: cancelling the job" in text
    assert "child: got SIGINT" in text


def test_snakemake_in_its_own_group_gets_the_sigint_at_once(monkeypatch, tmp_path):
    monkeypatch.setattr(workflow, "INTERRUPT_GRACE_SECONDS", 600.0)
    code, text = _stop(_child(-1), tmp_path, "SIGINT", own_group=False)
    assert code == 130 and "child: got SIGINT" in text


def test_processes_left_in_the_group_are_ended(tmp_path):
    # Snakemake (the child) exits at once, leaving a grandchild in its group that ignores SIGTERM.
    script = ("import os, signal, subprocess, sys, time\n"
              "subprocess.Popen([sys.executable, '-c', 'import signal, time; "
              "signal.signal(signal.SIGTERM, signal.SIG_IGN); print(1, flush=True); time.sleep(600)'])\n"
              "print('child: running', flush=True)\n"
              "signal.signal(signal.SIGINT, lambda s, f: sys.exit(130))\ntime.sleep(600)\n")
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    assert "running" in proc.stdout.readline() + proc.stdout.readline()
    assert len(group_members(proc.pid)) == 2
    workflow.STRAGGLER_BOUND_SECONDS, saved = 1.0, workflow.STRAGGLER_BOUND_SECONDS
    try:
        code, _ = _stop(proc, tmp_path, "SIGTERM", own_group=False)
    finally:
        workflow.STRAGGLER_BOUND_SECONDS = saved
    assert code == 130
    assert group_members(proc.pid) == []


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_stop_signals_raise_stopped_naming_the_signal(sig):
    before = signal.getsignal(sig)
    with stop_signals() as received:
        with pytest.raises(Stopped) as caught:
            os.kill(os.getpid(), sig)
            time.sleep(5)
    assert received == [sig] and signal_name(caught.value) == signal.Signals(sig).name
    assert signal.getsignal(sig) == before
    assert signal_name(KeyboardInterrupt()) == "SIGINT"


def test_a_shared_group_counts_only_the_job_processes_own(tmp_path):
    # L leads the group (as a shell's pipeline: `localgene run ... | tee`); A stands for the job
    # process, A1 for its Snakemake. Seen from A, only A1 is the job's: L is spared.
    script = ("import subprocess, sys, time\n"
              "a = subprocess.Popen([sys.executable, '-c', 'import subprocess, sys, time; "
              "c = subprocess.Popen([sys.executable, \"-c\", \"import time; time.sleep(600)\"]); "
              "print(c.pid, flush=True); time.sleep(600)'], stdout=subprocess.PIPE, text=True)\n"
              "print(a.pid, a.stdout.readline().strip(), flush=True)\ntime.sleep(600)\n")
    lead = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        a, a1 = (int(v) for v in lead.stdout.readline().split())
        assert sorted(group_members(lead.pid)) == sorted([lead.pid, a, a1])
        assert group_members(lead.pid, exclude=a) == [a1]
    finally:
        os.killpg(lead.pid, signal.SIGKILL)
        lead.wait()

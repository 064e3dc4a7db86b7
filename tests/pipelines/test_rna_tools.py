"""localgene.pipelines.rna.tools: a step's tools run as argument lists, their exact command logged, their
failures named, and their peak memory read from the kernel when they exit."""

from __future__ import annotations

import sys

import pytest

from localgene.errors import WorkflowFailed
from localgene.pipelines.rna import tools

#: A child that holds about this many MiB for a second (the tools' memory is sampled while they run).
HOLD = "import time; b = bytearray({mb} * 2**20); b[::4096] = b'x' * len(b[::4096]); time.sleep(1)"


def test_run_logs_the_command_and_returns_the_tools_peak_rss(tmp_path):
    with open(tmp_path / "step.log", "w") as log:
        peak_kb = tools.run([sys.executable, "-c", HOLD.format(mb=120)], log)
    assert (tmp_path / "step.log").read_text().startswith(f"$ {sys.executable} -c ")
    assert 120 * 1024 <= peak_kb < 400 * 1024


def test_pipe_sums_both_processes_and_peak_memory_keeps_the_largest_of_a_thread(tmp_path):
    log = open(tmp_path / "step.log", "w")
    with log, tools.peak_memory() as peak:
        one = tools.run([sys.executable, "-c", HOLD.format(mb=60)], log)
        both = tools.pipe([sys.executable, "-c", HOLD.format(mb=100) + "; print('x')"],
                          [sys.executable, "-c", HOLD.format(mb=100) + "; import sys; sys.stdin.read()"], log)
    assert both >= 200 * 1024 > one >= 60 * 1024  # both held their memory at the same time
    assert peak == [both]
    with open(tmp_path / "other.log", "w") as log:
        assert tools.run([sys.executable, "-c", "pass"], log) > 0  # outside the block: nothing noted
    assert peak == [both]


def test_a_failed_tool_is_named_with_its_exit_code(tmp_path):
    with open(tmp_path / "step.log", "w") as log, pytest.raises(WorkflowFailed, match=r"failed \(exit 3\); see"):
        tools.run([sys.executable, "-c", "import sys; sys.stderr.write('bad input\\n'); sys.exit(3)"], log)
    assert "bad input" in (tmp_path / "step.log").read_text()

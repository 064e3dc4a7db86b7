"""The progress bar of ``localgene run``: staged bytes first, then workflow steps."""

from __future__ import annotations

import io

from localgene.cli.progress import ProgressBar


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_lines_when_not_a_terminal():
    out = io.StringIO()
    bar = ProgressBar(out)
    for done in range(0, 2_600_001, 26_000):  # ~every 1 %, as staging reports
        bar.staging(done, 2_600_000)
    bar.update(0, 38)
    bar.update(0, 38)  # repeated values are not printed again
    bar.update(1, 38)
    bar.close()
    lines = out.getvalue().splitlines()
    assert lines[0] == "staging inputs: 0% (0 B of 2.6 MB)"
    assert lines[10] == "staging inputs: 100% (2.6 MB of 2.6 MB)"
    assert len([line for line in lines if line.startswith("staging")]) == 11  # 10 % strides
    assert lines[11:] == ["progress: 0/38 steps", "progress: 1/38 steps"]


def test_one_redrawn_line_on_a_terminal():
    out = Terminal()
    bar = ProgressBar(out, width=10)
    bar.staging(500, 1000)
    bar.update(19, 38)
    bar.close()
    text = out.getvalue()
    assert text == ("\r[#####-----] staging inputs: 50% (500 B of 1.0 KB)\x1b[K"
                    "\r[#####-----] 19/38 steps\x1b[K\n")


def test_nothing_staged_prints_nothing():
    out = Terminal()
    bar = ProgressBar(out)
    bar.staging(0, 0)  # every input local: no bytes to fetch
    bar.close()
    assert out.getvalue() == ""

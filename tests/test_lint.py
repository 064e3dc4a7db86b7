"""The code passes the project's lint (ruff and mypy, configured in pyproject.toml): `make lint`."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_ruff_finds_nothing():
    ruff = Path(sys.executable).with_name("ruff")
    command = [str(ruff) if ruff.exists() else (shutil.which("ruff") or "ruff"), "check", "--no-cache",
               "localgene", "tests", "benchmarks"]
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


def test_mypy_finds_nothing():
    mypy = Path(sys.executable).with_name("mypy")
    command = [str(mypy) if mypy.exists() else (shutil.which("mypy") or "mypy"), "localgene"]
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-8000:] + proc.stderr[-2000:]

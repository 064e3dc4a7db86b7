"""One module per executor behind localgene.run.executors.Executor, and no import cycle between the
job runner (localgene.run.workflow) and the execution setting (localgene.run.execution)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from localgene.run import executors
from localgene.run.events import RunEvents
from localgene.run.execution import Execution
from localgene.run.executors.cluster import ClusterExecutor
from localgene.run.executors.local import LocalExecutor
from localgene.run.executors.slurm import SlurmExecutor

PACKAGE = Path(__file__).resolve().parents[2] / "localgene"


def _imports(path: Path) -> set[str]:
    """Every localgene module a file imports, at module level or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return {m for m in found if m.startswith("localgene")}


@pytest.mark.parametrize("module, never", [
    ("localgene.run.execution", "localgene.run.workflow"),
    ("localgene.run.executors.slurm", "localgene.run.workflow"),
    ("localgene.run.executors.slurm", "localgene.run.execution"),
    ("localgene.run.step_failures", "localgene.run.workflow"),
    ("localgene.run.events", "localgene.run.workflow"),
])
def test_a_module_imported_alone_does_not_load_the_other(module, never):
    code = f"import sys, {module}; print({never!r} in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "False"


def test_the_execution_setting_never_imports_the_job_runner():
    for path in [PACKAGE / "run" / "execution.py", *sorted((PACKAGE / "run" / "executors").glob("*.py"))]:
        assert "localgene.run.workflow" not in _imports(path), path
        assert not {m for m in _imports(path) if m.startswith("localgene.run.workflow.")}, path


def test_each_executor_name_has_its_module():
    assert isinstance(executors.for_name("local"), LocalExecutor)
    assert isinstance(executors.for_name("slurm"), SlurmExecutor)
    assert type(executors.for_name("other")) is ClusterExecutor
    assert Execution().backend.job_overhead_mb == 0
    assert Execution(executor="slurm").backend.job_overhead_mb > 0


def test_local_execution_passes_cores_and_has_nothing_to_clean_up(tmp_path):
    assert Execution().snakemake_args(tmp_path, 3) == ["--cores", "3"]
    events = RunEvents().extend([{"event": "executor_run", "run_id": "r-1"}])
    assert Execution().stop_leftovers(events) == [] and Execution().sweep(events) == []
    assert Execution().watch(lambda message: None) is None


def test_a_plugin_executor_gets_the_merged_profile_written_into_the_job_folder(tmp_path):
    base = tmp_path / "base"
    base.mkdir()
    (base / "config.yaml").write_text("jobs: 7\ndefault-resources:\n  mem_mb: 100\n")
    args = Execution(executor="other", base_profile=base).snakemake_args(tmp_path / "job", 2)
    assert args == ["--executor", "other", "--profile", str(tmp_path / "job" / "logs" / "profile"), "--jobs", "7",
                    "--cores", "2"]
    written = (tmp_path / "job" / "logs" / "profile" / "config.yaml").read_text()
    assert written.startswith("# Written by localgene for this job: config/other.\n")
    assert "mem_mb: 100" in written and "executor: other" in written

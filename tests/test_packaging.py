"""A built wheel carries the workflow: installed without the checkout, it runs the demo job.

The wheel is built from this checkout (hatchling, no build isolation) and installed with
``--no-deps`` into a fresh virtual environment; its dependencies (CNVkit, Snakemake, …) come
from the test environment's site-packages through ``PYTHONPATH``, which Python reads without
processing ``.pth`` files, so the editable install's link to the checkout is not on the path.
Everything runs from a folder outside the checkout.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from workflow_helpers import read_table

CHECKOUT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel_env(tmp_path_factory):
    root = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "-w", str(root / "dist"), str(CHECKOUT)], check=True, capture_output=True)
    (wheel,) = (root / "dist").glob("localgene-*.whl")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-deps", "--no-index",
                    str(wheel)], check=True, capture_output=True)
    deps = sysconfig.get_paths()["purelib"]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "LOCALGENE_WORKFLOW_DIR")}
    env.update(PYTHONPATH=deps, LOCALGENE_HOME=str(root / "home"),
               PATH=f"{venv / 'bin'}:{env.get('PATH', '')}:{Path(sys.executable).parent}")
    work = root / "work"
    work.mkdir()
    return venv, env, work


def run_in(wheel_env, *args: str) -> subprocess.CompletedProcess:
    venv, env, work = wheel_env
    return subprocess.run([str(venv / "bin" / "localgene"), *args], cwd=work, env=env,
                          capture_output=True, text=True, timeout=3600)


def test_the_wheel_holds_the_workflow_and_not_the_checkout(wheel_env):
    venv, env, work = wheel_env
    probe = subprocess.run(
        [str(venv / "bin" / "python"), "-c",
         "import localgene, localgene.run.workflow as w; print(localgene.__file__); print(w.workflow_dir())"],
        cwd=work, env=env, capture_output=True, text=True, check=True)
    package, folder = probe.stdout.split()
    assert Path(package).is_relative_to(venv), package
    assert Path(folder).is_relative_to(venv) and Path(folder).name == "workflow_files", folder
    for name in ("Snakefile", "rules/common.smk", "rules/scripts/run_cnvkit.py", "config/schema.yaml",
                 "envs/cnvkit.yaml", "profiles/default/config.yaml"):
        assert (Path(folder) / name).is_file(), name


@pytest.mark.workflow
def test_the_installed_wheel_checks_and_runs_the_demo_job(wheel_env, demo_data, tmp_path):
    body = json.loads((demo_data / "job.json").read_text())
    body["output_dir"] = str(tmp_path / "delivered")
    job = tmp_path / "job.json"
    job.write_text(json.dumps(body))
    checked = run_in(wheel_env, "check", str(job))
    assert checked.returncode == 0, checked.stderr
    assert json.loads(checked.stdout)["experimental"], checked.stdout
    ran = run_in(wheel_env, "run", str(job), "--cores", "2")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    (delivered,) = (tmp_path / "delivered").iterdir()
    calls = sorted((delivered / "samples").glob("*.call.cns"))
    assert calls, list(delivered.rglob("*"))
    assert all(len(read_table(c)) > 0 for c in calls)

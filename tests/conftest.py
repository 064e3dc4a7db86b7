"""Fixtures shared by the whole test suite."""

from __future__ import annotations

from pathlib import Path

import pytest

#: Generated test data (gitignored); reused across runs.
DATA_DIR = Path(__file__).resolve().parent / ".data"


@pytest.fixture(scope="session")
def demo_data() -> Path:
    """The seeded demo data set of :mod:`localgene.demodata` (default seed), as a folder.

    Generated once into ``tests/.data/demo`` (about a minute on two cores: bwa and samtools
    are needed); later sessions find its manifest complete and reuse it at once.
    """
    from localgene.demodata import generate

    return generate(DATA_DIR / "demo").parent


@pytest.fixture(scope="session")
def cnvkit_job(demo_data, tmp_path_factory):
    """One demo CNVkit job run to the end with ``localgene run`` (once per session), for the
    tests that look at a finished job's results, report and job pages. Its LOCALGENE_HOME is
    ``run.job_dir.parent.parent``."""
    import json

    from workflow_helpers import run_job

    body = json.loads((demo_data / "job.json").read_text())
    body["output_dir"] = str(tmp_path_factory.mktemp("delivered"))
    return run_job(body, tmp_path_factory.mktemp("home"))

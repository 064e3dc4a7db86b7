"""Fixtures shared by the whole test suite."""

from __future__ import annotations

from pathlib import Path

import pytest

#: Generated test data (gitignored); reused across runs.
DATA_DIR = Path(__file__).resolve().parent / ".data"


@pytest.fixture(scope="session")
def demo_data() -> Path:
    """The seeded demo data set of :mod:`localgene.demo.cnvkit` (default seed), as a folder.

    Generated once into ``tests/.data/demo`` (about a minute on two cores: bwa and samtools
    are needed); later sessions find its manifest complete and reuse it at once.
    """
    from localgene.demo.cnvkit import generate

    return generate(DATA_DIR / "demo").parent


@pytest.fixture(scope="session")
def rna_demo_data() -> Path:
    """The seeded RNA demo data set of :mod:`localgene.demo.rna` (default seed, dUTP).

    Generated once into ``tests/.data/rna/fr-firststrand`` (about 20 s; no external tool);
    later sessions find its manifest complete and reuse it.
    """
    from localgene.demo.rna import DEFAULT_LIBRARY_TYPE, generate

    return generate(DATA_DIR / "rna" / DEFAULT_LIBRARY_TYPE).parent


@pytest.hookimpl(tryfirst=True)  # before xdist reads the marks
def pytest_collection_modifyitems(config, items):
    """Under ``pytest -n N --dist loadgroup`` (pytest-xdist), keep each test module on one
    worker, so a module's shared fixtures (one demo run, one server) are built once, and every
    test of the shared SLURM cluster (tests/hpc) on the same worker, so two workers never start
    or reconfigure it at once. Without xdist the marks do nothing."""
    for item in items:
        if item.get_closest_marker("xdist_group") is not None:
            continue
        path = Path(str(item.fspath))
        group = "hpc" if "hpc" in path.parts else path.stem
        item.add_marker(pytest.mark.xdist_group(group))


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


@pytest.fixture(scope="session")
def dna_germline_data() -> Path:
    """localgene.demo.dna's germline set (default seed) in tests/.data/dna/germline."""
    from localgene.demo.dna import generate_germline

    return generate_germline(DATA_DIR / "dna" / "germline").parent


@pytest.fixture(scope="session")
def dna_somatic_data() -> Path:
    """localgene.demo.dna's tumor/normal set (default seed) in tests/.data/dna/somatic."""
    from localgene.demo.dna import generate_somatic

    return generate_somatic(DATA_DIR / "dna" / "somatic").parent

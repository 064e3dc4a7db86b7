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
def dna_germline_data() -> Path:
    """localgene.demodata_dna's germline set (default seed) in tests/.data/dna_germline."""
    from localgene.demodata_dna import generate_germline

    return generate_germline(DATA_DIR / "dna_germline").parent


@pytest.fixture(scope="session")
def dna_somatic_data() -> Path:
    """localgene.demodata_dna's tumor/normal set (default seed) in tests/.data/dna_somatic."""
    from localgene.demodata_dna import generate_somatic

    return generate_somatic(DATA_DIR / "dna_somatic").parent

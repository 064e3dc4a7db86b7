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
def rna_demo_data() -> Path:
    """The seeded RNA demo data set of :mod:`localgene.demodata_rna` (default seed, dUTP).

    Generated once into ``tests/.data/rna/fr-firststrand`` (about 20 s; no external tool);
    later sessions find its manifest complete and reuse it.
    """
    from localgene.demodata_rna import DEFAULT_LIBRARY_TYPE, generate

    return generate(DATA_DIR / "rna" / DEFAULT_LIBRARY_TYPE).parent

"""The real single-node SLURM cluster (tests/hpc/slurm_cluster.py) as a session fixture.

Tests under tests/hpc/ that need SLURM take the ``slurm_cluster`` fixture. If the cluster
cannot start (not root, packages missing, a daemon dies) the fixture FAILS with the daemons'
log tails; it never skips. A cluster already running in the scratch folder (e.g. started by
``python tests/hpc/slurm_cluster.py start``) is reused and left running; one this session
started is stopped at the end unless ``LOCALGENE_SLURM_KEEP=1``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import slurm_cluster as sc  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line("markers", "slurm: needs the real single-node SLURM cluster (root, slurm-wlm, munge)")


@pytest.fixture(scope="session")
def slurm_cluster():
    try:
        cluster, error = sc.start(), None
    except sc.SlurmClusterError as exc:
        cluster, error = None, exc
    if error is not None:
        pytest.fail(f"the test SLURM cluster could not start:\n{error}", pytrace=False)
    previous = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = str(cluster.conf)
    yield cluster
    if previous is None:
        os.environ.pop("SLURM_CONF", None)
    else:
        os.environ["SLURM_CONF"] = previous
    if not cluster.reused and os.environ.get("LOCALGENE_SLURM_KEEP") != "1":
        sc.stop(cluster.root)

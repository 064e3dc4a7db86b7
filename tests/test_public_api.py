"""The public surface of ``import localgene``: the client, the job-service interface and every
error, and nothing heavy imported just to get them."""

from __future__ import annotations

import json
import subprocess
import sys

import localgene
from localgene import errors

HEAVY = ("cnvlib", "pandas", "numpy", "snakemake", "boto3", "botocore", "httpx", "fastapi", "pysam",
         "localgene.client", "localgene.store", "localgene.jobs.interface")


def test_import_localgene_loads_nothing_heavy():
    code = ("import json, sys, localgene; "
            f"print(json.dumps([m for m in {list(HEAVY)!r} if m in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == []


def test_every_public_name_resolves_and_the_errors_are_all_there():
    assert set(localgene._LAZY) <= set(localgene.__all__)
    for name in localgene.__all__:
        assert getattr(localgene, name) is not None, name
    error_classes = {n for n, v in vars(errors).items() if isinstance(v, type) and issubclass(v, Exception)}
    assert error_classes <= set(localgene.__all__)
    assert localgene.InvalidRequest is errors.InvalidRequest
    from localgene.client import Client
    from localgene.jobs.interface import JobService, LocalJobService

    assert localgene.Client is Client and localgene.JobService is JobService
    assert localgene.LocalJobService is LocalJobService
    assert set(dir(localgene)) >= set(localgene.__all__)


def test_an_unknown_name_is_an_attribute_error():
    try:
        localgene.NoSuchThing  # noqa: B018
    except AttributeError as exc:
        assert "NoSuchThing" in str(exc)
    else:
        raise AssertionError("localgene.NoSuchThing resolved")

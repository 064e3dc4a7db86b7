"""End to end on the real DNA_SOMATIC workflow: `localgene serve` and `localgene worker` as real
processes (LOCALGENE_HOME in a tmp folder), the reference, panel of normals, germline resource
and intervals named through the registry, ONE job submitted over HTTP (`POST /gene/jobs`): the
demo tumor/normal body of `localgene demo-data --dna somatic` (1 Mb genome, 30-40x; every
somatic feature on, so every step of the workflow runs).

It must finish, be listed with the contract's shapes (the request as submitted, with the
registry names), show progress k/k where k is the number of steps the workflow ran, carry its
warnings in the job record (what differs from Mutect2), and deliver the VCF (sample columns
tumor_sample_name then normal_sample_name) and the tumor BAM to the paths the body names; the
planted somatic variants (the generator's truth) must be called and PASS with the issue's recall
and precision, and no planted germline variant may be called somatic.
"""

from __future__ import annotations

import copy
import json
import os
import re
from pathlib import Path

import httpx
import pysam
import pytest
from api_helpers import free_port
from e2e_helpers import (
    cancel_unfinished,
    clean_env,
    cli,
    data_roots,
    start_serve,
    watch_jobs,
)
from pipelines.dna_truth import load_truth, read_calls
from spec_checks import check_statistics
from test_api_e2e import Processes, _users_add

from localgene import settings as settings_mod
from localgene.pipelines.dna import MUTECT_BAM_WARNING, SOMATIC_WARNING

#: The job takes 2-4 minutes on 2 idle cores; allow for a busy machine.
JOB_TIMEOUT = 1800
#: The registry names the body uses instead of paths, and the kind each is registered as.
NAMES = {"ref": ("demo-genome", "fasta"), "pon": ("demo-pon.vcf.gz", "pon"),
         "germline_resource": ("demo-gnomad.vcf.gz", "germline-resource"),
         "intervals": ("demo-targets.interval_list", "intervals")}  # the contract: names end as files do


def _key(v: dict) -> tuple:
    return (v["chrom"], v["pos"], v["ref"], v["alt"])


def _steps_run(snakemake_log: Path) -> int:
    """The step count of Snakemake's own last "k of n steps (100%) done" line."""
    done = re.findall(r"^(\d+) of (\d+) steps \(100%\) done", snakemake_log.read_text(), re.MULTILINE)
    assert done, snakemake_log.read_text()[-3000:]
    k, n = map(int, done[-1])
    assert k == n
    return n


@pytest.mark.workflow
def test_dna_somatic_job_through_serve_and_worker(dna_somatic_data: Path, tmp_path: Path):
    demo = json.loads((dna_somatic_data / "job.json").read_text())
    truth = load_truth(dna_somatic_data)
    home = tmp_path / "home"
    env = clean_env(home)
    cfg = settings_mod.load({"LOCALGENE_HOME": str(home)})
    token = _users_add(env, "alice", "admin")
    for field, (name, kind) in NAMES.items():
        path = demo[field][0] if field == "intervals" else demo[field]
        cli(env, "references", "add", name, path, "--kind", kind)
    delivered = tmp_path / "delivered"
    body = dict(copy.deepcopy(demo), ref=NAMES["ref"][0], pon=NAMES["pon"][0],
                germline_resource=NAMES["germline_resource"][0], intervals=[NAMES["intervals"][0]],
                output=str(delivered / "somatic.vcf.gz"), mutect_bam_output=str(delivered / "tumor.bam"))
    reads = [p for s in demo["inputs"] for p in s["sample_inputs"]]

    port = free_port()
    procs = Processes(tmp_path, env)
    alice = httpx.Client(headers={"X-Auth-Token": token}, timeout=60)
    ids: list[str] = []
    jobs = ""
    try:
        base = start_serve(procs, port, *data_roots(reads), "--data-root", str(tmp_path))
        jobs = f"{base}/v2.0/demo/gene/jobs"
        reply = alice.post(jobs, json=body)
        assert reply.status_code == 201, reply.text
        assert set(reply.json()) == {"job_id"}
        ids.append(job_id := reply.json()["job_id"])
        procs.start("worker", "worker", "--slots", "1", "--cores", "2")
        seen = watch_jobs(alice, jobs, ids, procs, JOB_TIMEOUT)

        item = seen.items[job_id]
        assert item["status"] == "FINISHED", f"{item['message']}\n{procs.logs()}"
        assert seen.statuses[job_id] <= {"LAUNCHING", "RUNNING", "FINISHED"} and "RUNNING" in seen.statuses[job_id]
        # progress counts the workflow's steps: k/k with k what Snakemake ran, and moved on the way
        steps = _steps_run(cfg.job_dir(job_id) / "logs" / "snakemake.log")
        assert item["progress"] == f"{steps}/{steps}" and steps > 10, (item["progress"], steps)
        assert len(seen.progress[job_id]) >= 2, seen.progress[job_id]

        # the listing: the contract's shapes, the request as submitted (registry names kept)
        listing = alice.get(jobs).json()
        assert set(listing) == {"job_count", "jobs"} and listing["job_count"] == 1
        (listed,) = listing["jobs"]
        request = json.loads(listed["request"])
        assert request == {**{k: None for k in request}, **body}
        assert listed["job_id"] == job_id and listed["owner"] == "alice" and listed["status"] == "FINISHED"
        assert listed["message"] in ("", None) and listed["duration"] >= 1
        assert alice.get(jobs, params={"job_type": "DNA_SOMATIC"}).json()["job_count"] == 1
        assert alice.get(jobs, params={"job_type": "DNA_GERMLINE"}).json() == {"job_count": 0, "jobs": []}
        stats = alice.get(f"{base}/v2.0/demo/gene/statistics").json()
        check_statistics(stats, admin=True)
        assert stats["total_finished_num"] == 1
        # the input size: the reads and the files the registry names stand for (not their indexes)
        named = [demo["ref"], demo["pon"], demo["germline_resource"], *demo["intervals"]]
        assert stats["total_input_size"] == sum(map(os.path.getsize, reads + named))

        # the job record's warnings: what differs from Mutect2, said where users look
        shown = json.loads(cli(env, "show", job_id, "--project", "demo"))
        assert shown["warnings"] == [SOMATIC_WARNING, MUTECT_BAM_WARNING], shown["warnings"]
        summary = json.loads((cfg.job_dir(job_id) / "results" / "job.json").read_text())
        assert summary["warnings"] == shown["warnings"]

        # delivered to exactly the paths the body names
        vcf = delivered / "somatic.vcf.gz"
        for path in (vcf, Path(f"{vcf}.tbi"), delivered / "tumor.bam", delivered / "tumor.bam.bai"):
            assert path.is_file() and path.stat().st_size > 0, path
        with pysam.VariantFile(str(vcf)) as vf:
            assert list(vf.header.samples) == [demo["tumor_sample_name"], demo["normal_sample_name"]]
            assert {"SOMATIC", "TLOD", "NLOD"} <= set(vf.header.info)
        with pysam.AlignmentFile(str(delivered / "tumor.bam")) as bam:
            assert [rg["SM"] for rg in bam.header.to_dict()["RG"]] == [demo["tumor_sample_name"]]

        # the biology: planted somatic variants called and PASS, no germline variant somatic
        calls = read_calls(vcf, demo["tumor_sample_name"], passing_only=False)
        called = {k for k, c in calls.items() if c["somatic"] and c["filters"] == ["PASS"]}
        expected = {_key(v) for v in truth["somatic"] if v["expected_filter"] == "PASS"}
        assert len(expected) > 60
        recall = len(expected & called) / len(expected)
        precision = len(expected & called) / len(called)
        assert recall >= 0.9, f"recall {recall:.3f}: missed {sorted(expected - called)[:10]}"
        assert precision >= 0.95, f"precision {precision:.3f}: false calls {sorted(called - expected)[:10]}"
        chrom, start, end = truth["excluded_region"]
        germline = {_key(v) for v in truth["germline"] if not (v["chrom"] == chrom and start <= v["pos"] <= end)}
        assert len(germline & set(calls)) / len(germline) > 0.95  # reported by freebayes ...
        assert not [k for k in germline & set(calls) if calls[k]["somatic"]]  # ... and not called somatic
    finally:
        if jobs:
            cancel_unfinished(alice, jobs, ids, procs)
        else:
            procs.stop()
        alice.close()

"""End to end on the real RNA_DIFF_EXPR workflow: `localgene serve` and `localgene worker` as real
processes (LOCALGENE_HOME in a tmp folder), references named through the registry, two RNA jobs
submitted over HTTP (`POST /gene/jobs`) and run one after the other by the worker (one slot).

The first job is the demo body (six samples, adapter trimming, QC): it must finish, be listed
with the contract's shapes and progress k/k, have its results delivered to `output`, and the
planted differentially expressed genes (the generator's truth) must be found in the delivered
CSV with the right sign and few false calls. The second job, on the same reference, is the
smallest the demo data allows (two samples per group, no trimming, no QC, a CSV `output`): its
HISAT2 index must come from the shared index cache the first job filled, not be built again.
"""

from __future__ import annotations

import copy
import csv
import json
import os
from pathlib import Path

import httpx
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
from spec_checks import check_job, check_statistics
from test_api_e2e import Processes, _users_add

from localgene import settings as settings_mod
from localgene.demo import rna as demodata_rna
from localgene.pipelines import index_cache
from localgene.pipelines.rna.plan import DE_COLUMNS

#: The demo job takes about a minute on 2 idle cores, the second job less; allow for a busy machine.
JOB_TIMEOUT = 1800


def _significant(csv_path: Path, alpha: float = 0.05) -> tuple[list[str], dict[str, float]]:
    with open(csv_path, newline="") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
    found = {r["gene_id"]: float(r["log2FoldChange"]) for r in rows if r["padj"] != "NA" and float(r["padj"]) < alpha}
    return list(reader.fieldnames or []), found


@pytest.mark.workflow
def test_two_rna_jobs_through_serve_and_worker_share_the_hisat2_index(rna_demo_data: Path, tmp_path: Path):
    demo = json.loads((rna_demo_data / demodata_rna.JOB).read_text())
    truth = json.loads((rna_demo_data / demodata_rna.TRUTH).read_text())
    home = tmp_path / "home"
    env = clean_env(home)
    cfg = settings_mod.load({"LOCALGENE_HOME": str(home)})
    tokens = {"alice": _users_add(env, "alice", "admin"), "bob": _users_add(env, "bob", "user")}
    # the references by name, as a client of the service names them
    cli(env, "references", "add", "hg38", demo["ref"])
    cli(env, "references", "add", "gencode.v17.annotation.gtf", demo["gtf"])
    cli(env, "references", "add", "rrna", demo["bed"], "--kind", "bed")

    first = dict(copy.deepcopy(demo), ref="hg38", gtf="gencode.v17.annotation.gtf", bed="rrna",
                 output=str(tmp_path / "delivered") + "/")
    second = copy.deepcopy(first)
    for group in second["inputs"]:
        group["group_inputs"] = group["group_inputs"][:2]
    for key in ("adapt", "bed", "is_export_qc"):
        second.pop(key)
    second["output"] = str(tmp_path / "second" / "de.csv")

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    jobs = f"{base}/v2.0/demo/gene/jobs"
    procs = Processes(tmp_path, env)
    alice = httpx.Client(headers={"X-Auth-Token": tokens["alice"]}, timeout=60)
    bob = httpx.Client(headers={"X-Auth-Token": tokens["bob"]}, timeout=60)
    ids: list[str] = []
    try:
        demo_reads = [p for g in demo["inputs"] for s in g["group_inputs"] for p in s["files"]]
        start_serve(procs, port, *data_roots(demo_reads), "--data-root", str(tmp_path))

        for client, body in ((alice, first), (bob, second)):
            reply = client.post(jobs, json=body)
            assert reply.status_code == 201, reply.text
            assert set(reply.json()) == {"job_id"}
            ids.append(reply.json()["job_id"])
        first_id, second_id = ids
        procs.start("worker", "worker", "--slots", "1", "--cores", "2")

        # Watch both jobs to their end. With one slot the second starts only when the first has
        # ended, so the first job's cache entry is seen (and remembered) before the second runs.
        cache_entry: dict | None = None
        lease_checked = False
        record = cfg.job_dir(first_id) / "inputs" / "index" / "hisat2" / "index.json"

        def on_poll(items: dict[str, dict]) -> None:
            nonlocal cache_entry, lease_checked
            if cache_entry is None and record.is_file():
                entry = Path(json.loads(record.read_text())["cache_entry"])
                st = (entry / "meta.json").stat()
                cache_entry = {"path": entry, "ino": st.st_ino, "mtime_ns": st.st_mtime_ns,
                               "built_at": json.loads((entry / "meta.json").read_text())["built_at"]}
                assert items[second_id]["status"] == "LAUNCHING", "one slot: the second job waits"
                # while the first job runs, its lease on the entry is live: no bound may remove it
                leased = index_cache.live_leases(home / "cache" / "indexes", "hisat2", entry.name)
                if alice.get(f"{jobs}/{first_id}").json()["status"] == items[first_id]["status"] == "RUNNING":
                    assert leased == [str(cfg.job_dir(first_id))], leased
                    lease_checked = True

        seen = watch_jobs(alice, jobs, ids, procs, JOB_TIMEOUT, on_poll)
        items = seen.items
        for job_id in ids:
            assert items[job_id]["status"] == "FINISHED", f"{items[job_id]['message']}\n{procs.logs()}"
            assert seen.statuses[job_id] <= {"LAUNCHING", "RUNNING", "FINISHED"} and "RUNNING" in seen.statuses[job_id]
            done, total = map(int, items[job_id]["progress"].split("/"))
            assert done == total > 10, items[job_id]["progress"]
            assert len(seen.progress[job_id]) >= 2, seen.progress[job_id]

        # the listing: both jobs, newest first, the contract's shapes, the request as submitted
        listing = alice.get(jobs).json()
        assert set(listing) == {"job_count", "jobs"} and listing["job_count"] == 2
        assert [j["job_id"] for j in listing["jobs"]] == [second_id, first_id]
        for item, body, owner in zip(listing["jobs"], (second, first), ("bob", "alice")):
            request = check_job(item)
            assert request == {**{k: None for k in request}, **body}
            assert item["owner"] == owner and item["status"] == "FINISHED" and item["message"] in ("", None)
            assert item["duration"] >= 1
        assert [j["job_id"] for j in bob.get(jobs).json()["jobs"]] == [second_id]
        assert alice.get(jobs, params={"job_type": "DNA_GERMLINE"}).json() == {"job_count": 0, "jobs": []}
        stats = alice.get(f"{base}/v2.0/demo/gene/statistics").json()
        check_statistics(stats, admin=True)
        assert stats["total_finished_num"] == 2
        reads = [f for body in (first, second) for g in body["inputs"] for s in g["group_inputs"] for f in s["files"]]
        refs = [demo["ref"], demo["gtf"], demo["ref"], demo["gtf"], demo["bed"]]
        assert stats["total_input_size"] == sum(os.path.getsize(p) for p in reads + refs)

        # the first job's results, delivered to output/<job_id>/, and its biology
        delivered = tmp_path / "delivered" / first_id
        columns, found = _significant(delivered / "de" / "treated_vs_control.csv")
        assert tuple(columns) == DE_COLUMNS
        planted = {g["gene_id"]: g["log2fc"] for g in truth["genes"] if g["de"]}
        hits = set(found) & set(planted)
        assert len(hits) / len(planted) >= 0.9, sorted(set(planted) - set(found))
        assert len(set(found) - set(planted)) <= 0.1 * len(found), sorted(set(found) - set(planted))
        assert all((found[g] > 0) == (planted[g] > 0) for g in hits)
        summary = json.loads((delivered / "job.json").read_text())
        assert summary["reference_level"] == "control" and summary["warnings"] == []
        for name in ("counts/counts.tsv", "de/normalized_counts.tsv", "qc/qc.tsv"):
            assert (delivered / name).stat().st_size > 0, name
        for name in ("qc/qc.png", "plots/treated_vs_control-ma.png", "plots/treated_vs_control-volcano.png"):
            assert (delivered / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name

        # the second job: its main CSV at exactly `output`, everything beside it; the planted
        # genes it calls (two replicates, untrimmed) have the planted sign
        columns, found2 = _significant(tmp_path / "second" / "de.csv")
        assert tuple(columns) == DE_COLUMNS
        assert (tmp_path / "second" / second_id / "de" / "treated_vs_control.csv").is_file()
        hits2 = set(found2) & set(planted)
        assert len(hits2) >= 0.5 * len(planted) and all((found2[g] > 0) == (planted[g] > 0) for g in hits2)

        # the HISAT2 index: built by the first job, reused from the cache by the second
        assert cache_entry is not None, "the first job wrote no index record"
        assert lease_checked, "the first job's lease was not seen while it ran"
        logs = {job_id: alice.get(f"{jobs}/{job_id}/log", params={"step": "rna/hisat2_index.log",
                                                                    "tail": 1000}).json()["log"]
                for job_id in ids}
        assert "index cache: building hisat2 index" in logs[first_id], logs[first_id]
        assert "index cache: reusing hisat2 index" in logs[second_id], logs[second_id]
        assert "building" not in logs[second_id], logs[second_id]
        second_record = json.loads((cfg.job_dir(second_id) / "inputs" / "index" / "hisat2" / "index.json").read_text())
        assert Path(second_record["cache_entry"]) == cache_entry["path"]
        meta = cache_entry["path"] / "meta.json"
        assert (meta.stat().st_ino, meta.stat().st_mtime_ns) == (cache_entry["ino"], cache_entry["mtime_ns"])
        assert json.loads(meta.read_text())["built_at"] == cache_entry["built_at"]
        assert [p.name for p in (home / "cache" / "indexes" / "hisat2").iterdir()] == [cache_entry["path"].name]
        # both jobs have ended, so their leases are no longer live (a size bound may now remove it)
        assert index_cache.live_leases(home / "cache" / "indexes", "hisat2", cache_entry["path"].name) == []
    finally:
        cancel_unfinished(alice, jobs, ids, procs)
        alice.close()
        bob.close()

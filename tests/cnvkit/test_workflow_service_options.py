"""The service's sample body, every option string as real clients send it, end to end.

The annotation is the GENCODE-style GFF3, gzip-compressed (which CNVkit alone cannot read).
"""

from __future__ import annotations

import json

import pytest
from test_options import SERVICE_SAMPLE
from workflow_helpers import expected_cn_ok, overlap_cn, read_table, run_job

pytestmark = pytest.mark.workflow


@pytest.fixture(scope="module")
def service_run(demo_data, tmp_path_factory):
    body = json.loads((demo_data / "job.json").read_text())
    body.update(SERVICE_SAMPLE)
    body.update(has_annotate=True, annotation_file=str(demo_data / "genes.gff3.gz"),
                output_dir=str(tmp_path_factory.mktemp("delivered")))
    return run_job(body, tmp_path_factory.mktemp("home"))


def test_every_option_reaches_its_step(service_run):
    logs = service_run.job_dir / "logs"
    first_line = lambda path: path.read_text().splitlines()[0]  # noqa: E731  "$ cnvkit.py …"
    assert "--split" in first_line(logs / "target.log")
    assert first_line(logs / "antitarget.log").endswith("-a 100000 -o results/regions/targets.antitarget.bed")
    assert "-q 10 -p 5" in first_line(next((logs / "coverage").glob("*.target.log")))
    assert "--no-rmask" in first_line(logs / "reference.log")
    assert "--no-rmask" in first_line(next((logs / "fix").glob("*.log")))
    assert "-m cbs --drop-low-coverage -t 0.001 --drop-outliers 5" in first_line(next((logs / "segment").glob("*.log")))
    assert "--drop-low-coverage -a 0.001 -b 150 --mean" in first_line(next((logs / "genemetrics").glob("*.log")))
    assert "--center mean --center-at 0 --drop-low-coverage" in first_line(next((logs / "call").glob("*.log")))
    assert " -y " in first_line(logs / "sex.log")


def test_inert_and_inconsistent_options_are_recorded_as_warnings(service_run):
    warnings = "\n".join(service_run.summary()["warnings"])
    assert "-y (male reference) is set in sex_conf" in warnings
    assert "have no effect without --ci or --pi" in warnings
    assert "--center-at 0 has no effect" in warnings
    assert "warning: -y (male reference)" in service_run.stderr


def test_gff3_gz_annotation_gives_clean_gene_symbols(service_run, demo_data):
    symbols = {line.split("\t")[0] for line in (demo_data / "refFlat.txt").read_text().splitlines()}
    cnr = read_table(next((service_run.results / "samples").glob("*.cnr")))
    names = set(cnr[cnr.gene != "Antitarget"].gene)
    assert names - {"-"} <= symbols, sorted(names - symbols)[:5]
    assert not any(n.startswith(("ENSG", "ENST", "ENSE")) or "," in n for n in names)


def test_events_are_still_called_with_the_service_options(service_run, demo_data):
    truth = json.loads((demo_data / "truth.json").read_text())
    for sample in truth["experimental"]:
        calls = read_table(service_run.results / "samples" / f"{sample}.call.cns")
        for event in truth["samples"][sample]["events"]:
            if event["kind"] == "deep_loss":
                # segment --drop-low-coverage removes zero-coverage bins (warned about): the
                # homozygous deletion's bins are gone from the segments rather than mis-called.
                inside = calls[(calls.chromosome == event["chrom"]) & (calls.start >= event["start"])
                               & (calls.end <= event["end"])]
                assert (inside.cn < 2).all()
                continue
            cn = overlap_cn(calls, event["chrom"], event["start"], event["end"])
            assert expected_cn_ok(event["kind"], event["cn"], cn), (sample, event, cn)

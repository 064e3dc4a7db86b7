"""The RNA demo data generator (localgene.demo.rna): its data hold what the tests rely on."""

from __future__ import annotations

import gzip
import itertools
import json

import pytest

from localgene.demo import rna, rna_design

COMPLEMENT = str.maketrans("ACGT", "TGCA")


def revcomp(seq: str) -> str:
    return seq.translate(COMPLEMENT)[::-1]


@pytest.fixture(scope="module")
def truth(rna_demo_data):
    return json.loads((rna_demo_data / rna.TRUTH).read_text())


def fasta(path):
    seqs, name = {}, None
    for line in open(path):
        if line.startswith(">"):
            name = line[1:].strip()
            seqs[name] = []
        else:
            seqs[name].append(line.strip())
    return {k: "".join(v) for k, v in seqs.items()}


def reads(path, n):
    with gzip.open(path, "rt") as handle:
        return [rec[1].strip() for rec in itertools.islice(zip(*[handle] * 4), n)]


def test_genes_on_both_strands_multi_exon_with_planted_changes_both_ways(truth):
    coding = [g for g in truth["genes"] if g["biotype"] == "protein_coding"]
    assert {g["strand"] for g in coding} == {"+", "-"}
    assert min(len(g["exons"]) for g in coding) >= 2 and max(len(g["exons"]) for g in coding) >= 5
    up = [g for g in coding if g["de"] == "up"]
    down = [g for g in coding if g["de"] == "down"]
    assert len(up) == len(down) == rna_design.N_DE // 2
    assert all(g["log2fc"] > 0 for g in up) and all(g["log2fc"] < 0 for g in down)
    assert all(g["log2fc"] == 0 for g in truth["genes"] if g["de"] is None)
    assert truth["reference_group"] == "control" and truth["library_type"] == "fr-firststrand"


def test_gtf_and_rrna_bed_describe_the_genes(rna_demo_data, truth):
    exons = {}
    for line in open(rna_demo_data / rna.GTF):
        if line.startswith("#"):
            continue
        f = line.rstrip("\n").split("\t")
        if f[2] == "exon":
            gid = f[8].split('gene_id "')[1].split('"')[0]
            exons.setdefault(gid, []).append([int(f[3]) - 1, int(f[4])])
    assert {g["gene_id"]: sorted(g["exons"]) for g in truth["genes"]} == {k: sorted(v) for k, v in exons.items()}
    bed = [line.split("\t") for line in open(rna_demo_data / rna.RRNA_BED).read().splitlines()]
    rrna = [g for g in truth["genes"] if g["biotype"] == "rRNA"]
    assert [(b[0], int(b[1]), int(b[2])) for b in bed] == [(g["chrom"], g["start"], g["end"]) for g in rrna]


def test_dutp_reads_read2_sense_read1_antisense_with_adapter_readthrough(rna_demo_data, truth):
    genome = fasta(rna_demo_data / rna.GENOME)
    sense = []
    for g in truth["genes"]:
        tx = "".join(genome[g["chrom"]][s:e] for s, e in g["exons"])
        sense.append(tx if g["strand"] == "+" else revcomp(tx))
    sense = "|".join(sense)
    r1 = reads(rna_demo_data / "C1_R1.fastq.gz", 400)
    r2 = reads(rna_demo_data / "C1_R2.fastq.gz", 400)
    k = 24
    # a 24-mer with no error is found on the transcripts' sense strand for read 2, antisense for read 1
    on_sense_r2 = sum(r[:k] in sense for r in r2)
    on_sense_r1 = sum(revcomp(r[:k]) in sense for r in r1)
    assert on_sense_r2 > 0.85 * len(r2) and on_sense_r1 > 0.85 * len(r1)
    assert sum(r[:k] in sense for r in r1) < 0.02 * len(r1)  # read 1 is never sense (dUTP)
    # reads of fragments shorter than a read run on into the adapter (13+ bases of it where the
    # fragment is at most 87 bp long), then poly-A
    tail = rna.ADAPTER_R1 + "A" * rna.READ_LENGTH
    hits = [r for r in reads(rna_demo_data / "C1_R1.fastq.gz", 20000) if rna.ADAPTER in r]
    planted = truth["samples"]["C1"]["readthrough_pairs"] / truth["samples"]["C1"]["pairs"]
    assert planted > 0.04 and 0.5 * planted < len(hits) / 20000 <= planted
    whole = [r for r in hits if r[r.index(rna.ADAPTER):] == tail[: len(r) - r.index(rna.ADAPTER)]]
    assert len(whole) > 0.9 * len(hits)


def test_deterministic_for_a_seed():
    g1 = rna._make_genes(3, rna._make_genome(3))
    g2 = rna._make_genes(3, rna._make_genome(3))
    g3 = rna._make_genes(4, rna._make_genome(4))
    assert g1 == g2 and g1 != g3
    assert (rna_design._counts(3, g1, "T1") == rna_design._counts(3, g2, "T1")).all()


def test_job_body_is_valid_for_the_service(rna_demo_data):
    from localgene.jobs.bodies import parse_pipeline_body

    body = json.loads((rna_demo_data / rna.JOB).read_text())
    parsed = parse_pipeline_body(body)
    assert parsed.library_type == "fr-firststrand" and parsed.adapt == rna.ADAPTER and parsed.is_export_qc
    assert [g.group_name for g in parsed.inputs] == ["control", "treated"]


def test_cli_reuses_the_rna_data_and_says_where_it_is(rna_demo_data, capsys):
    from localgene.cli import main as cli_main

    assert cli_main(["demo-data", "--rna", str(rna_demo_data)]) == 0
    out = capsys.readouterr().out
    assert "seed 7, fr-firststrand" in out and str(rna_demo_data / "job.json") in out

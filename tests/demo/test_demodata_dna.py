"""localgene.demo.dna: seeded, coherent truth for the DNA pipelines."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys

import pysam

from localgene.demo import dna as demodata_dna
from localgene.demo import dna_design


def test_germline_set_is_deterministic_and_its_truth_matches_the_genome(tmp_path):
    a = demodata_dna.generate_germline(tmp_path / "a").parent
    b = demodata_dna.generate_germline(tmp_path / "b").parent
    truth = json.loads((a / "truth.json").read_text())
    assert truth["variants"] == json.loads((b / "truth.json").read_text())["variants"]
    assert (a / "sample_R1.fastq.gz").read_bytes() == (b / "sample_R1.fastq.gz").read_bytes()
    fasta = pysam.FastaFile(str(a / "genome.fa"))
    kinds = {"snv": 0, "indel": 0}
    zygosities = {"0/1": 0, "1/1": 0}
    for v in truth["variants"]:
        assert fasta.fetch(v["chrom"], v["pos"] - 1, v["pos"] - 1 + len(v["ref"])) == v["ref"]
        assert v["ref"][0] == v["alt"][0] or v["kind"] == "snv"
        kinds[v["kind"]] += 1
        zygosities[v["genotype"]] += 1
    assert kinds["snv"] >= 600 and kinds["indel"] >= 100 and min(zygosities.values()) >= 200
    with pysam.VariantFile(str(a / "truth.vcf.gz")) as vf:
        assert sum(1 for _ in vf) == len(truth["variants"])
    known = {(r.chrom, r.pos, r.ref, r.alts[0]): r.id for r in pysam.VariantFile(str(a / "knownsites.vcf.gz"))}
    for v in truth["variants"]:
        assert known.get((v["chrom"], v["pos"], v["ref"], v["alt"])) == v["known_id"]
    body = json.loads((a / "job.json").read_text())
    assert body["job_type"] == "DNA_GERMLINE" and body["input"][0] == str(a / "sample_R1.fastq.gz")


def test_a_complete_set_is_reused(tmp_path):
    manifest = demodata_dna.generate_germline(tmp_path)
    before = (tmp_path / "sample_R1.fastq.gz").stat().st_mtime_ns
    assert demodata_dna.generate_germline(tmp_path) == manifest
    assert (tmp_path / "sample_R1.fastq.gz").stat().st_mtime_ns == before


def test_somatic_truth(dna_somatic_data):
    truth = json.loads((dna_somatic_data / "truth.json").read_text())
    expected = {}
    for v in truth["somatic"]:
        expected.setdefault(v["expected_filter"], []).append(v)
        assert v["genotype"] == "0/1"
    assert len(expected["PASS"]) > 60 and len(expected["panel_of_normals"]) == demodata_dna.N_PON
    assert len(expected["germline"]) == demodata_dna.N_GERMLINE_RESOURCE and expected["outside_intervals"]
    germline = {(v["chrom"], v["pos"]) for v in truth["germline"]}
    assert not germline & {(v["chrom"], v["pos"]) for v in truth["somatic"]}
    assert truth["expected_vaf"] == 0.3
    assert truth["read_pairs"]["tumor"] > 1.25 * truth["read_pairs"]["normal"]  # 40x vs 30x


def test_somatic_paralog_and_its_alignment_artifact(dna_somatic_data):
    truth = json.loads((dna_somatic_data / "truth.json").read_text())
    (artifact,) = truth["alignment_artifacts"]
    paralog = artifact["paralog"]
    (src_chrom, src), (dst_chrom, dst), length = paralog["source"], paralog["copy"], paralog["length"]
    fasta = pysam.FastaFile(str(dna_somatic_data / "genome.fa"))
    source = fasta.fetch(src_chrom, src - 1, src - 1 + length)
    copy = fasta.fetch(dst_chrom, dst - 1, dst - 1 + length)
    differences = [dst + i for i, (a, b) in enumerate(zip(source, copy)) if a != b]
    assert differences == paralog["psvs"]  # the copy is the source but for the planted PSVs ...
    gaps = {b - a for a, b in itertools.pairwise(differences)}
    assert gaps == {dna_design.PARALOG_PSV_SPACING} and min(gaps) >= 500  # fragments <= 500 bp: a pair holds at most one
    assert artifact["chrom"] == dst_chrom and dst + 500 < artifact["pos"] < dst + length - 500
    assert artifact["pos"] not in differences and fasta.fetch(dst_chrom, artifact["pos"] - 1, artifact["pos"]) == artifact["ref"]
    near = [v for v in truth["somatic"] + truth["germline"] + truth["orientation_artifacts"]
            for chrom, start in ((src_chrom, src), (dst_chrom, dst))
            if v["chrom"] == chrom and start - 500 <= v["pos"] <= start + length + 500]  # fmt: skip
    assert not near  # nothing else planted in or next to either copy


def test_cli_flag_writes_the_set(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "localgene", "demo-data", "--dna-germline", str(tmp_path)],
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert f"DNA_GERMLINE job body: {tmp_path / 'job.json'}" in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "localgene", "demo-data"], capture_output=True, text=True, check=False)
    assert proc.returncode == 2 and "give DIR, --dna-germline DIR or --dna-somatic DIR" in proc.stderr

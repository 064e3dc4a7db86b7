"""The demo data generator (localgene.demo.cnvkit): its output keeps the promises tests rely on.

Fast checks on the session's demo data set (``demo_data`` in conftest.py) plus a few cheap
re-runs of the reference part; running CNVkit on the data is the workflow tests' business.
"""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import numpy as np
import pysam
import pytest

from localgene.cli import main as cli_main
from localgene.demo import cnvkit as demodata
from localgene.demo import genome as demo_genome
from localgene.errors import EnvironmentProblem

SAMPLES = ("N1", "N2", "N3", "T1", "T2")
AUTOSOMES = ("chr1", "chr2", "chr3", "chr4")


# --- helpers ----------------------------------------------------------------------------------


def read_bed(path: Path) -> list[tuple[str, int, int]]:
    rows = []
    for line in path.read_text().splitlines():
        chrom, start, end = line.split("\t")
        rows.append((chrom, int(start), int(end)))
    return rows


def read_refflat(path: Path) -> list[dict]:
    genes = []
    for line in path.read_text().splitlines():
        f = line.split("\t")
        assert len(f) == 11, line
        starts = [int(x) for x in f[9].rstrip(",").split(",")]
        ends = [int(x) for x in f[10].rstrip(",").split(",")]
        genes.append(
            dict(symbol=f[0], name=f[1], chrom=f[2], strand=f[3], tx=(int(f[4]), int(f[5])),
                 cds=(int(f[6]), int(f[7])), count=int(f[8]), exons=list(zip(starts, ends)))
        )
    return genes


def read_gff3(path: Path) -> list[dict]:
    rows = []
    for line in path.read_text().splitlines():
        if line.startswith("#"):
            continue
        f = line.split("\t")
        assert len(f) == 9, line
        attrs = dict(kv.split("=", 1) for kv in f[8].split(";"))
        rows.append(dict(chrom=f[0], type=f[2], start=int(f[3]), end=int(f[4]), strand=f[6], attrs=attrs))
    return rows


@pytest.fixture(scope="module")
def truth(demo_data):
    return json.loads((demo_data / "truth.json").read_text())


@pytest.fixture(scope="module")
def refflat(demo_data):
    return read_refflat(demo_data / "refFlat.txt")


@pytest.fixture(scope="module")
def fasta(demo_data):
    with pysam.FastaFile(str(demo_data / "genome.fa")) as fa:
        yield {name: fa.fetch(name) for name in fa.references}


def usable(read) -> bool:
    return not (read.is_duplicate or read.is_unmapped or read.is_secondary or read.mapping_quality < 10)


def reads_in(bam, regions) -> int:
    return sum(bam.count(c, s, e, read_callback=usable) for c, s, e in regions)


# --- the reference part: genome and design ---------------------------------------------------


def test_reference_is_deterministic_for_a_seed(demo_data, tmp_path):
    demo_genome.write_reference(tmp_path / "a")
    demo_genome.write_reference(tmp_path / "b", seed=demodata.DEFAULT_SEED + 1)
    for name in ("genome.fa", "targets.bed", "refFlat.txt", "genes.gff3", "genes.gff3.gz", "refFlat.txt.gz"):
        assert (tmp_path / "a" / name).read_bytes() == (demo_data / name).read_bytes(), name
    assert (tmp_path / "b" / "genome.fa").read_bytes() != (demo_data / "genome.fa").read_bytes()
    assert (tmp_path / "b" / "targets.bed").read_bytes() != (demo_data / "targets.bed").read_bytes()


def test_genome_layout(fasta, truth, demo_data):
    assert list(fasta) == ["chr1", "chr2", "chr3", "chr4", "chrX", "chrY"]
    lengths = {c: len(s) for c, s in fasta.items()}
    assert lengths == truth["genome"]["chromosomes"]
    assert 10e6 <= sum(lengths.values()) <= 14e6
    assert all(lengths[a] > lengths["chrY"] for a in AUTOSOMES)
    fai = [line.split("\t") for line in (demo_data / "genome.fa.fai").read_text().splitlines()]
    assert {f[0]: int(f[1]) for f in fai} == lengths


def test_n_gaps_telomeres_and_centromere(fasta, truth):
    for chrom, seq in fasta.items():
        runs = [(m.start(), m.end()) for m in re.finditer("N+", seq)]
        assert runs == [tuple(g) for g in truth["genome"]["gaps"][chrom]], chrom
        assert runs[0][0] == 0 and runs[-1][1] == len(seq), chrom  # telomeres
        assert any(s > 0 and e < len(seq) and e - s >= 50_000 for s, e in runs), chrom  # centromere
        assert "n" not in seq  # gaps are uppercase N only (what CNVkit's access counts)


def test_soft_masked_repeats_and_gc_variation(fasta):
    seq = "".join(fasta.values())
    lower = sum(seq.count(b) for b in "acgt")
    assert 0.01 < lower / len(seq) < 0.08
    chrom = fasta["chr1"].upper()
    gc = []
    for i in range(0, len(chrom) - 50_000, 50_000):
        window = chrom[i : i + 50_000]
        acgt = len(window) - window.count("N")
        if acgt > 45_000:
            gc.append((window.count("G") + window.count("C")) / acgt)
    assert 0.34 < min(gc) and max(gc) < 0.62
    assert max(gc) - min(gc) > 0.12  # isochores, not one flat GC


def test_chry_is_not_a_copy_of_chrx(fasta):
    x, y = fasta["chrX"].upper(), fasta["chrY"]
    rng = np.random.default_rng(0)
    kmers = []
    while len(kmers) < 300:
        i = int(rng.integers(0, len(y) - 32))
        if re.fullmatch("[ACGT]{32}", y[i : i + 32]):  # unique sequence: not N, not soft-masked
            kmers.append(y[i : i + 32])
    assert not any(k in x for k in kmers)


def test_targets_are_the_exons_of_the_annotation(demo_data, refflat, fasta):
    targets = read_bed(demo_data / "targets.bed")
    assert targets == sorted(targets, key=lambda t: (list(fasta).index(t[0]), t[1]))
    for (c1, _, e1), (c2, s2, _) in zip(targets, targets[1:]):
        assert c1 != c2 or e1 <= s2
    for chrom, start, end in targets:
        assert 100 <= end - start <= 300
        assert "N" not in fasta[chrom][start:end]
    exons = sorted((g["chrom"], s, e) for g in refflat for s, e in g["exons"])
    assert sorted(targets) == exons
    assert len(refflat) >= 250 and len(targets) >= 3 * len(refflat)
    chroms = {g["chrom"] for g in refflat}
    assert {"chrX", "chrY"} <= chroms  # sex inference needs targets on both


def test_refflat_is_well_formed(demo_data, refflat):
    symbols = [g["symbol"] for g in refflat]
    assert len(set(symbols)) == len(symbols)
    assert all(re.fullmatch(r"[A-Z][A-Z0-9]+", s) for s in symbols)
    assert len({g["name"] for g in refflat}) == len(refflat)
    for g in refflat:
        assert g["name"].startswith("NM_") and g["strand"] in "+-"
        assert g["count"] == len(g["exons"]) >= 3
        assert g["tx"] == (g["exons"][0][0], g["exons"][-1][1])
        assert g["tx"][0] <= g["cds"][0] < g["cds"][1] <= g["tx"][1]
    with gzip.open(demo_data / "refFlat.txt.gz", "rt") as gz:
        assert gz.read() == (demo_data / "refFlat.txt").read_text()
    genes_bed = [line.split("\t") for line in (demo_data / "genes.bed").read_text().splitlines()]
    assert [(c, int(s), int(e), n) for c, s, e, n in genes_bed] == [
        (g["chrom"], *g["tx"], g["symbol"]) for g in refflat
    ]


def test_gff3_is_gencode_style_and_matches_refflat(demo_data, refflat):
    rows = read_gff3(demo_data / "genes.gff3")
    assert (demo_data / "genes.gff3").read_text().startswith("##gff-version 3\n")
    with gzip.open(demo_data / "genes.gff3.gz", "rt") as gz:
        assert gz.read() == (demo_data / "genes.gff3").read_text()
    by_symbol = {g["symbol"]: g for g in refflat}
    genes = [r for r in rows if r["type"] == "gene"]
    transcripts = {r["attrs"]["ID"]: r for r in rows if r["type"] == "transcript"}
    exons = [r for r in rows if r["type"] == "exon"]
    assert [g["attrs"]["gene_name"] for g in genes] == [g["symbol"] for g in refflat]
    ids = [r["attrs"]["ID"] for r in rows]
    assert len(set(ids)) == len(ids)
    for g in genes:
        a = g["attrs"]
        assert a["ID"] == a["gene_id"] and a["gene_id"].startswith("ENSG")
        assert a["gene_type"] == "protein_coding"
        ref = by_symbol[a["gene_name"]]
        assert (g["chrom"], g["start"] - 1, g["end"], g["strand"]) == (ref["chrom"], *ref["tx"], ref["strand"])
    for t in transcripts.values():
        assert t["attrs"]["transcript_id"].startswith("ENST") and t["attrs"]["Parent"].startswith("ENSG")
    got: dict[str, list] = {}
    for e in exons:
        a = e["attrs"]
        assert a["Parent"] in transcripts and a["exon_id"].startswith("ENSE")
        assert a["gene_type"] == "protein_coding" and a["transcript_id"] == a["Parent"]
        got.setdefault(a["gene_name"], []).append((e["start"] - 1, e["end"]))
    assert {s: sorted(v) for s, v in got.items()} == {g["symbol"]: g["exons"] for g in refflat}


# --- truth.json -------------------------------------------------------------------------------


def test_truth_is_consistent_with_the_design(truth, refflat, demo_data):
    assert truth["seed"] == demodata.DEFAULT_SEED
    assert truth["generator_version"] == demodata.GENERATOR_VERSION
    assert truth["controls"] == ["N1", "N2", "N3"] and truth["experimental"] == ["T1", "T2"]
    assert {s: v["sex"] for s, v in truth["samples"].items()} == {
        "N1": "female", "N2": "male", "N3": "female", "T1": "female", "T2": "male"
    }
    targets = read_bed(demo_data / "targets.bed")
    kinds = {}
    for sample, info in truth["samples"].items():
        assert info["role"] == ("control" if sample in truth["controls"] else "experimental")
        assert (demo_data / info["bam"]).is_file()
        for ev in info["events"]:
            inside = [g["symbol"] for g in refflat
                      if g["chrom"] == ev["chrom"] and ev["start"] <= g["tx"][0] and g["tx"][1] <= ev["end"]]
            assert ev["genes"] == inside, (sample, ev["kind"])
            touching = [g for g in refflat
                        if g["chrom"] == ev["chrom"] and g["tx"][0] < ev["end"] and ev["start"] < g["tx"][1]]
            assert len(touching) == len(inside)  # no gene is cut by a breakpoint
            n_exons = sum(1 for c, s, e in targets if c == ev["chrom"] and ev["start"] <= s and e <= ev["end"])
            assert n_exons == ev["n_exons"]
            assert len(inside) >= 3 and n_exons >= (10 if ev["kind"] == "deep_loss" else 15)
            gaps = truth["genome"]["gaps"][ev["chrom"]]
            assert not any(s < ev["end"] and ev["start"] < e for s, e in gaps)
            kinds[(sample, ev["kind"])] = ev
    assert set(kinds) == {("T1", "loss"), ("T1", "gain"), ("T2", "deep_loss"), ("T2", "amplification")}
    assert kinds[("T1", "loss")]["cn"] == 1 and kinds[("T1", "gain")]["cn"] == 3
    assert kinds[("T2", "deep_loss")]["cn"] == 0 and 6 <= kinds[("T2", "amplification")]["cn"] <= 10
    deep = kinds[("T2", "deep_loss")]
    assert 200_000 <= deep["end"] - deep["start"] <= 400_000
    assert all(ev["chrom"] in AUTOSOMES for ev in kinds.values())
    assert len({ev["chrom"] for ev in kinds.values()}) == 4


# --- BAMs -------------------------------------------------------------------------------------


@pytest.mark.parametrize("sample", SAMPLES)
def test_bam_is_sorted_indexed_marked_with_its_read_group(demo_data, sample):
    path = demo_data / f"{sample}.bam"
    assert (demo_data / f"{sample}.bam.bai").is_file()
    with pysam.AlignmentFile(str(path)) as bam:
        header = bam.header.to_dict()
        assert header["HD"]["SO"] == "coordinate"
        assert [(rg["ID"], rg["SM"]) for rg in header["RG"]] == [(sample, sample)]
        assert [sq["SN"] for sq in header["SQ"]] == ["chr1", "chr2", "chr3", "chr4", "chrX", "chrY"]
        assert {pg["ID"].split(".")[0] for pg in header["PG"]} >= {"bwa", "samtools"}
        assert bam.check_index()
        total = dup = low_mapq = 0
        last = (-1, -1)
        for read in bam.fetch(until_eof=True):
            key = (read.reference_id, read.reference_start)
            assert key >= last
            last = key
            total += 1
            dup += read.is_duplicate
            low_mapq += read.mapping_quality < 10
            if total == 1:
                assert read.get_tag("RG") == sample and read.has_tag("MC") and read.has_tag("ms")  # fixmate -m
                assert read.is_paired and read.query_length == demodata.READ_LENGTH
        stats = bam.get_index_statistics()
    assert 0.01 < dup / total < 0.06  # PCR duplicates, flagged by samtools markdup
    assert 0 < low_mapq / total < 0.03  # a few multi-mapping reads in young repeats
    assert sum(s.mapped for s in stats) == total


def test_on_target_fraction_and_depth(demo_data):
    targets = read_bed(demo_data / "targets.bed")
    target_bases = sum(e - s for _, s, e in targets)
    with pysam.AlignmentFile(str(demo_data / "N1.bam")) as bam:
        total = sum(1 for r in bam.fetch() if usable(r))
        on = reads_in(bam, targets)  # reads overlapping a target (a read may count twice)
        depth = sum(sum(a) for c, s, e in targets
                    for a in bam.count_coverage(c, s, e, quality_threshold=0, read_callback=usable))
    assert 0.55 < on / total < 0.85  # ~79% of fragments are captured; a read may miss its exon
    assert 70 < depth / target_bases < 200


def test_read_depth_follows_copy_number(demo_data, truth):
    """Exon read counts inside each event, relative to the rest of the autosomes, against N1."""
    targets = read_bed(demo_data / "targets.bed")

    def inside(ev, t):
        return t[0] == ev["chrom"] and ev["start"] <= t[1] and t[2] <= ev["end"]

    all_events = [ev for info in truth["samples"].values() for ev in info["events"]]
    rest = [t for t in targets if t[0] in AUTOSOMES and not any(inside(ev, t) for ev in all_events)]
    with pysam.AlignmentFile(str(demo_data / "N1.bam")) as control:
        control_rest = reads_in(control, rest)
        for sample in truth["experimental"]:
            with pysam.AlignmentFile(str(demo_data / f"{sample}.bam")) as bam:
                rest_reads = reads_in(bam, rest)
                for ev in truth["samples"][sample]["events"]:
                    exons = [t for t in targets if inside(ev, t)]
                    ratio = (reads_in(bam, exons) / rest_reads) / (reads_in(control, exons) / control_rest)
                    expected = ev["cn"] / 2
                    assert ratio == pytest.approx(expected, rel=0.15, abs=0.01), (sample, ev["kind"], ratio)


def test_sex_chromosome_depth_follows_sex(demo_data, truth):
    targets = read_bed(demo_data / "targets.bed")
    for sample, info in truth["samples"].items():
        per_chrom = {c: [t for t in targets if t[0] == c] for c in ("chrX", "chrY")}
        per_chrom["auto"] = [  # autosomal exons at copy number 2
            t for t in targets if t[0] in AUTOSOMES
            and not any(t[0] == ev["chrom"] and t[2] > ev["start"] and t[1] < ev["end"] for ev in info["events"])
        ]
        with pysam.AlignmentFile(str(demo_data / f"{sample}.bam")) as bam:
            n = {c: reads_in(bam, ts) / sum(e - s for _, s, e in ts) for c, ts in per_chrom.items()}
        x, y = n["chrX"] / n["auto"], n["chrY"] / n["auto"]
        if info["sex"] == "female":
            assert x == pytest.approx(1.0, rel=0.2) and y == 0, sample
        else:
            assert x == pytest.approx(0.5, rel=0.2) and y == pytest.approx(0.5, rel=0.25), sample


# --- manifest, job.json, CLI --------------------------------------------------------------------


def test_manifest_lists_every_file_and_makes_reruns_instant(demo_data):
    manifest = json.loads((demo_data / "manifest.json").read_text())
    assert manifest["seed"] == demodata.DEFAULT_SEED
    assert manifest["generator_version"] == demodata.GENERATOR_VERSION
    expected = {*demodata.REFERENCE_FILES, "truth.json", "job.json"} | {
        f"{s}.bam{ext}" for s in SAMPLES for ext in ("", ".bai")
    }
    assert set(manifest["files"]) == expected
    for name, size in manifest["files"].items():
        if name != "job.json":
            assert (demo_data / name).stat().st_size == size, name
    assert demodata.manifest_ok(demo_data)
    assert not demodata.manifest_ok(demo_data, seed=demodata.DEFAULT_SEED + 1)
    before = (demo_data / "T1.bam").stat().st_mtime_ns
    assert demodata.generate(demo_data) == demo_data / "manifest.json"
    assert (demo_data / "T1.bam").stat().st_mtime_ns == before
    assert not list(demo_data.glob(".scratch-*"))


def test_incomplete_or_changed_data_is_not_taken_for_complete(tmp_path, demo_data):
    (tmp_path / "genome.fa").write_text(">chr1\nACGT\n")
    assert not demodata.manifest_ok(tmp_path)  # no manifest: a crashed run
    manifest = json.loads((demo_data / "manifest.json").read_text())
    manifest["files"] = {"genome.fa": 11}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    assert demodata.manifest_ok(tmp_path)
    (tmp_path / "genome.fa").write_text(">chr1\nACG\n")
    assert not demodata.manifest_ok(tmp_path)  # a file of another size
    manifest["generator_version"] = "0"
    (tmp_path / "genome.fa").write_text(">chr1\nACGT\n")
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    assert not demodata.manifest_ok(tmp_path)  # another generator version


def test_job_json_is_a_service_job_body(demo_data):
    body = json.loads((demo_data / "job.json").read_text())
    assert body["experimental_inputs"] == [str(demo_data / "T1.bam"), str(demo_data / "T2.bam")]
    assert body["control_inputs"] == [str(demo_data / f"{s}.bam") for s in ("N1", "N2", "N3")]
    assert body["ref"] == str(demo_data / "genome.fa") and body["bed"] == str(demo_data / "targets.bed")
    assert body["has_annotate"] is True and body["annotation_file"] == str(demo_data / "refFlat.txt")
    assert body["output_dir"] == str(demo_data / "output")
    for key in ("experimental_inputs", "control_inputs"):
        assert all(Path(p).is_absolute() and Path(p).is_file() for p in body[key])
    assert {k: v for k, v in body.items() if k.endswith("_conf")} == {
        "target_conf": "--split", "antitarget_conf": "", "coverage_conf": "-q 10", "reference_conf": "",
        "fix_conf": "", "segment_conf": "-m cbs", "call_conf": "", "genemetrics_conf": "", "sex_conf": "",
    }


def test_write_job_takes_other_options_and_fields(tmp_path):
    path = demodata.write_job(tmp_path, {"segment_conf": "-m hmm"}, output_dir="/elsewhere", has_annotate=False)
    body = json.loads(path.read_text())
    assert path == tmp_path / "job.json"
    assert body["segment_conf"] == "-m hmm" and body["coverage_conf"] == "-q 10"
    assert body["output_dir"] == "/elsewhere" and body["has_annotate"] is False
    assert body["ref"] == str(tmp_path / "genome.fa")
    assert demodata.write_job(tmp_path, filename="other.json") == tmp_path / "other.json"
    with pytest.raises(ValueError, match="segment_cnf"):
        demodata.write_job(tmp_path, {"segment_cnf": "-m cbs"})


def test_cli_reuses_the_data_and_says_where_it_is(demo_data, capsys):
    assert cli_main(["demo-data", str(demo_data)]) == 0
    out = capsys.readouterr().out
    assert str(demo_data) in out and str(demo_data / "job.json") in out


def test_missing_tools_give_an_install_hint(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(EnvironmentProblem, match="apt-get install bwa samtools"):
        demodata.check_tools()
    assert cli_main(["demo-data", str(tmp_path / "data")]) == 2
    err = capsys.readouterr().err
    assert "bwa and samtools" in err and "Traceback" not in err
    assert not (tmp_path / "data" / "genome.fa").exists()  # refused before any work

"""localgene.pipelines.dna: what a DNA body means here, refused before anything runs."""

from __future__ import annotations

import pytest

from localgene.errors import InvalidRequest, UnsupportedOption
from localgene.jobs.bodies import parse_pipeline_body
from localgene.pipelines import dna, dna_regions

FASTQ = ["/d/NA12878_S1_R1_001.fastq.gz", "/d/NA12878_S1_R2_001.fastq.gz"]


def germline(**fields):
    body = {"job_type": "DNA_GERMLINE", "input": FASTQ, "output": "/o/x.vcf.gz", "file_type": "fastq",
            "ref": "/r/g.fa", "knownsites": ["/k/dbsnp.vcf.gz"], **fields}
    return parse_pipeline_body(body)


def somatic(**fields):
    body = {
        "job_type": "DNA_SOMATIC",
        "inputs": [{"sample_type": "tumor", "sample_inputs": ["/d/t.bam"]},
                   {"sample_type": "normal", "sample_inputs": ["/d/n.bam"]}],
        "output": "/o/s.vcf", "file_type": "BAM", "ref": "/r/g.fa",
        "tumor_sample_name": "T1", "normal_sample_name": "N1", **fields,
    }
    return parse_pipeline_body(body)


def test_default_engine_and_sample_name_from_the_fastq_name():
    plan = dna.plan(germline())
    assert plan["caller"] == "bcftools"
    (sample,) = plan["samples"]
    assert sample["name"] == "NA12878_S1"
    assert sample["read_group"] == {"ID": "NA12878_S1", "SM": "NA12878_S1", "LB": "NA12878_S1", "PL": "ILLUMINA"}
    assert dna.check_dna_body(germline()) == [dna.NO_BQSR_WARNING]


@pytest.mark.parametrize("engine, caller", [("freebayes", "freebayes"), ("BCFTOOLS", "bcftools"), ("GATK", "bcftools")])
def test_engines(engine, caller):
    assert dna.plan(germline(engine=engine))["caller"] == caller
    assert (dna.GATK_WARNING in dna.check_dna_body(germline(engine=engine))) == (engine == "GATK")


@pytest.mark.parametrize("engine", ["tensorflow", "deepvariant", "octopus"])
def test_an_engine_that_cannot_run_is_refused_naming_the_field(engine):
    with pytest.raises(UnsupportedOption) as err:
        dna.check_dna_body(germline(engine=engine))
    assert err.value.code == "DLI.0007" and err.value.http_status == 400
    assert str(err.value).startswith(f"engine: '{engine}' cannot run")


def test_conf_options_are_translated():
    plan = dna.plan(germline(
        fastq_to_sam_conf=["--SAMPLE_NAME NA1 -LB lib7", "PLATFORM_UNIT=HX.1"],
        bwaspark_conf=["--spark-master local[3]"],
        read_pipeline_spark_conf=["--remove-all-duplicates -mbq 15", "--minimum-mapping-quality=20",
                                  "-stand-call-conf 40 -ERC GVCF"],
    ))
    rg = plan["samples"][0]["read_group"]
    assert rg["SM"] == "NA1" and rg["LB"] == "lib7" and rg["PU"] == "HX.1"
    assert plan["align_threads"] == 3 and plan["call_threads"] is None
    assert plan["remove_duplicates"] and plan["min_base_quality"] == 15 and plan["min_mapping_quality"] == 20
    assert plan["min_qual"] == 40.0 and plan["gvcf"]
    assert any("<NON_REF>" in w for w in plan["warnings"])
    assert dna.read_group_line(rg).startswith("@RG\\tID:NA1\\tSM:NA1\\tLB:lib7")


@pytest.mark.parametrize(
    "field, item, message",
    [
        ("fastq_to_sam_conf", "--QUALITY_FORMAT Illumina", "option --QUALITY_FORMAT is not supported (it has no meaning here)"),
        ("read_pipeline_spark_conf", "--known-sites /x.vcf", "option --known-sites is not supported (give known sites in the knownsites field)"),
        ("bwaspark_conf", "--SAMPLE_NAME x", "option --SAMPLE_NAME is not supported (it belongs in fastq_to_sam_conf)"),
        ("bwaspark_conf", "--spark-master yarn", "option --spark-master: 'yarn' only local[N]"),
        ("read_pipeline_spark_conf", "-mbq high", "option -mbq: 'high' must be a whole number"),
        ("read_pipeline_spark_conf", "-mbq", "option -mbq needs a value"),
        ("fastq_to_sam_conf", "stray", "'stray' is not an option"),
    ],
)
def test_other_options_are_refused_naming_field_and_option(field, item, message):
    with pytest.raises(InvalidRequest) as err:
        dna.check_dna_body(germline(**{field: ["-LB x", item]} if field == "fastq_to_sam_conf" else {field: [item]}))
    where = f"{field}[1]" if field == "fastq_to_sam_conf" else f"{field}[0]"
    assert str(err.value).startswith(f"{where}: {message}"), str(err.value)


def test_unbalanced_quotes_are_a_clear_error():
    with pytest.raises(InvalidRequest, match=r"^fastq_to_sam_conf\[0\]: cannot split"):
        dna.check_dna_body(germline(fastq_to_sam_conf=["-SM 'x"]))


def test_somatic_names_samples_and_refuses_sm_and_mutect_options():
    plan = dna.plan(somatic(is_filter_by_orientationBias=True, artifact_modes=["G/T", "C/T"]))
    assert [(s["role"], s["name"]) for s in plan["samples"]] == [("tumor", "T1"), ("normal", "N1")]
    assert plan["caller"] == "freebayes" and plan["orientation_modes"] == ["G/T", "C/T"]
    assert dna.SOMATIC_WARNING in plan["warnings"] and dna.NO_BQSR_WARNING not in plan["warnings"]
    assert dna.plan(somatic())["orientation_modes"] == []
    with pytest.raises(UnsupportedOption, match=r"^fastq_to_sam_conf\[0\]: option -SM is not supported"):
        dna.check_dna_body(somatic(fastq_to_sam_conf=["-SM T1"]))
    with pytest.raises(UnsupportedOption, match=r"^read_pipeline_spark_conf\[0\]: option -stand-call-conf"):
        dna.check_dna_body(somatic(read_pipeline_spark_conf=["-stand-call-conf 30"]))
    with pytest.raises(UnsupportedOption, match=r"^mutect_calls_variant: '--f1r2-tar-gz'"):
        dna.check_dna_body(somatic(mutect_calls_variant="--f1r2-tar-gz x"))


def test_check_takes_a_plain_dict_too():
    assert dna.check_dna_body(germline().model_dump()) == dna.check_dna_body(germline())


@pytest.mark.parametrize(
    "path, name",
    [("/a/NA12878_S1_R1_001.fastq.gz", "NA12878_S1"), ("s_1.fq", "s"), ("x.R2.fastq", "x"), ("odd name.fq.gz", "odd_name")],
)
def test_sample_name_from_fastq(path, name):
    assert dna.sample_name_from_fastq(path) == name


def test_intervals_in_three_formats_merge_to_bed(tmp_path):
    lengths = {"chr1": 1000, "chr2": 500}
    (tmp_path / "a.bed").write_text("track name=x\nchr1\t10\t20\nchr1\t15\t30\n")
    (tmp_path / "b.interval_list").write_text("@HD\tVN:1.6\n@SQ\tSN:chr1\tLN:1000\nchr2\t1\t100\t+\tx\n")
    (tmp_path / "c.intervals").write_text("chr1:101-200\nchr2:450\nchr2\n")
    got = dna_regions.intervals_to_bed([str(tmp_path / n) for n in ("a.bed", "b.interval_list", "c.intervals")], lengths)
    assert got == [("chr1", 10, 30), ("chr1", 100, 200), ("chr2", 0, 500)]
    (tmp_path / "bad.bed").write_text("chr9\t1\t5\n")
    with pytest.raises(InvalidRequest, match=r"^intervals\[0\]: line 1: contig 'chr9' is not in the reference"):
        dna_regions.intervals_to_bed([str(tmp_path / "bad.bed")], lengths)
    (tmp_path / "bad.intervals").write_text("chr1:200-100\n")
    with pytest.raises(InvalidRequest, match=r"^intervals\[1\]: line 1: empty or negative interval"):
        dna_regions.intervals_to_bed([str(tmp_path / "a.bed"), str(tmp_path / "bad.intervals")], lengths)


def test_shards_balance_contig_lengths():
    chroms = [("chr1", 100), ("chr2", 90), ("chr3", 60), ("chr4", 40), ("chrM", 1)]
    groups = dna_regions.shards(chroms, 2)
    sizes = sorted(sum(n for _, n in g) for g in groups)
    assert sizes[1] - sizes[0] <= 10 and sorted(c for g in groups for c, _ in g) == sorted(c for c, _ in chroms)
    assert dna_regions.shards(chroms[:1], 4) == [[("chr1", 100)]]


def test_contigs_from_fai_or_fasta(tmp_path):
    fa = tmp_path / "g.fa"
    fa.write_text(">c1 desc\nACGT\nAC\n>c2\nAAA\n")
    assert dna_regions.contigs(fa) == [("c1", 6), ("c2", 3)]
    (tmp_path / "g.fa.fai").write_text("c1\t6\t9\t4\t5\n")
    assert dna_regions.contigs(fa) == [("c1", 6)]


def test_reference_contigs_come_from_the_cached_fai(tmp_path, monkeypatch):
    from localgene.pipelines import index_builders, index_cache

    fa = tmp_path / "g.fa"
    fa.write_text(">c1 desc\nACGT\nAC\n>c2\nAAA\n")
    cache = tmp_path / "cache"
    assert dna_regions.reference_contigs(str(fa), cache) == [("c1", 6), ("c2", 3)]
    assert not (tmp_path / "g.fa.fai").exists()  # the cache's .fai, not one next to the FASTA
    (entry,) = (cache / "faidx").iterdir()
    assert (entry / f"{index_cache.PREFIX}.fa.fai").is_file()

    def must_not_run(*args, **kwargs):
        raise AssertionError("the FASTA was read again")

    # Every later parse of the workflow: no hashing of the FASTA, no samtools faidx.
    monkeypatch.setattr(index_cache, "sha256_file", must_not_run)
    monkeypatch.setattr(index_builders, "run_tool", must_not_run)
    assert dna_regions.reference_contigs(str(fa), cache) == [("c1", 6), ("c2", 3)]


def test_reference_contigs_refuse_what_cannot_be_indexed(tmp_path):
    with pytest.raises(InvalidRequest, match=r"^ref: .*missing\.fa is not a file"):
        dna_regions.reference_contigs(str(tmp_path / "missing.fa"), tmp_path / "cache")
    with pytest.raises(InvalidRequest, match=r"^ref: a gzipped FASTA cannot be indexed here"):
        dna_regions.reference_contigs(str(tmp_path / "g.fa.gz"), tmp_path / "cache")


def _bam_with_samples(path, samples):
    import pysam

    header = {"HD": {"VN": "1.6", "SO": "coordinate"}, "SQ": [{"SN": "chr1", "LN": 1000}],
              "RG": [{"ID": f"rg{i}", "SM": s} for i, s in enumerate(samples)]}
    with pysam.AlignmentFile(str(path), "wb", header=header):
        pass
    return str(path)


def test_bam_samples_are_checked_at_submit_naming_the_field(tmp_path):
    from localgene.pipelines.dna import check_bam_samples

    tumor, normal = _bam_with_samples(tmp_path / "t.bam", ["T"]), _bam_with_samples(tmp_path / "n.bam", ["N"])
    body = {"job_type": "DNA_SOMATIC", "file_type": "BAM", "tumor_sample_name": "T", "normal_sample_name": "N",
            "inputs": [{"sample_type": "tumor", "sample_inputs": [tumor]},
                       {"sample_type": "normal", "sample_inputs": [normal]}]}
    local = {"inputs[0].sample_inputs[0]": tumor, "inputs[1].sample_inputs[0]": normal}
    check_bam_samples(body, local)  # as named
    with pytest.raises(InvalidRequest) as err:
        check_bam_samples({**body, "normal_sample_name": "NORMAL"}, local)
    assert err.value.field == "inputs[1].sample_inputs[0]"
    assert str(err.value).endswith("has sample 'N' (SM); the body names it 'NORMAL'")
    two = _bam_with_samples(tmp_path / "two.bam", ["A", "B"])
    germline = {"job_type": "DNA_GERMLINE", "file_type": "BAM", "input": [two]}
    with pytest.raises(InvalidRequest, match=r"holds several samples \(A, B\)") as err:
        check_bam_samples(germline, {"input[0]": two})
    assert err.value.field == "input[0]"
    (tmp_path / "bad.bam").write_bytes(b"not a bam")
    with pytest.raises(InvalidRequest) as err:
        check_bam_samples({**germline, "input": [str(tmp_path / "bad.bam")]}, {"input[0]": str(tmp_path / "bad.bam")})
    assert err.value.field == "input[0]" and "cannot be read as a BAM" in str(err.value)
    check_bam_samples({**body, "inputs": body["inputs"]}, {})  # objects: checked by the workflow's step

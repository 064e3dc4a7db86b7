"""Request validation corpus and the listing shapes built from job records."""

from __future__ import annotations

import copy
import json

import pytest

from localgene.errors import InvalidRequest, LimitExceeded
from localgene.jobs.bodies import (
    CONF_FIELDS,
    MAX_LIST_ITEMS,
    MAX_STRING_LENGTH,
    CnvkitBody,
    DnaGermlineBody,
    DnaSomaticBody,
    JobRecord,
    RnaDiffExprBody,
    cnvkit_instance_item,
    cnvkit_listing,
    new_record,
    parse_cnvkit_body,
    parse_pipeline_body,
    pipeline_job_item,
    pipeline_listing,
)
from localgene.jobs.status import Status

# The service's example body, verbatim from the spec.
SPEC_SAMPLE = json.loads(
    """{"experimental_inputs": ["s3a://genes/cnvkit/Son_S2_ALL.sort.mkdup.bam"],
 "control_inputs": ["s3a://genes/cnvkit/Father_S5_ALL.sort.mkdup.bam", "s3a://genes/cnvkit/Mather_S1_ALL.sort.mkdup.bam"],
 "output_dir": "s3a://genes/cnvkit/output/", "ref": "s3a://genes/cnvkit/hg38.filtered.fa",
 "bed": "s3a://genes/cnvkit/tEXOME2_ext50.bed", "has_annotate": false,
 "annotation_file": "s3a://genes/cnvkit/gencode.v29.annotation.gff3",
 "target_conf": "--split", "antitarget_conf": "-a 100000", "reference_conf": "--no-rmask",
 "coverage_conf": "-q 10 -p 5", "fix_conf": "--no-rmask",
 "segment_conf": "-m cbs --drop-low-coverage -t 0.001 --drop-outliers 5",
 "genemetrics_conf": "--drop-low-coverage -a 0.001 -b 150 --mean",
 "call_conf": "--center mean --center-at 0 --drop-low-coverage", "sex_conf": "-y"}"""
)
MINIMAL = {
    "experimental_inputs": ["t.bam"],
    "control_inputs": ["n.bam"],
    "output_dir": "out/",
    "ref": "hg38.fa",
    "bed": "targets.bed",
}


def with_(base, **changes):
    body = copy.deepcopy(base)
    for key, value in changes.items():
        if value is ...:
            body.pop(key, None)
        else:
            body[key] = value
    return body


def refused(body, parse=parse_cnvkit_body, cls=InvalidRequest):
    with pytest.raises(InvalidRequest) as info:
        parse(body)
    assert type(info.value) is cls, f"{type(info.value).__name__}: {info.value}"
    assert "\n" not in str(info.value)
    return info.value


# --------------------------------------------------------------------------------------------
# CNVkit body


def test_spec_sample_accepted():
    body = parse_cnvkit_body(SPEC_SAMPLE)
    assert isinstance(body, CnvkitBody)
    assert body.control_inputs == SPEC_SAMPLE["control_inputs"]
    assert body.has_annotate is False
    assert body.segment_conf == "-m cbs --drop-low-coverage -t 0.001 --drop-outliers 5"
    assert set(body.confs()) == set(CONF_FIELDS) and len(CONF_FIELDS) == 9


def test_minimal_body_defaults():
    body = parse_cnvkit_body(MINIMAL)
    assert body.has_annotate is False
    assert body.annotation_file == ""
    assert all(value == "" for value in body.confs().values())


def test_null_optional_counts_as_unsent():
    body = parse_cnvkit_body(with_(MINIMAL, target_conf=None, has_annotate=None))
    assert body.target_conf == "" and body.has_annotate is False


@pytest.mark.parametrize("field", ["experimental_inputs", "control_inputs", "output_dir", "ref", "bed"])
def test_missing_required_field(field):
    err = refused(with_(MINIMAL, **{field: ...}))
    assert err.field == field
    assert str(err) == f"{field}: is required"


def test_missing_several_fields_named_together():
    err = refused({"ref": "x.fa"})
    assert "experimental_inputs: is required" in str(err)
    for field in ("control_inputs", "output_dir", "bed"):
        assert field in str(err)


@pytest.mark.parametrize(
    "changes,field,text",
    [
        ({"control_inputs": ["a.bam", 1]}, "control_inputs[1]", "control_inputs[1]: must be a string"),
        ({"experimental_inputs": "t.bam"}, "experimental_inputs", "must be a list"),
        ({"experimental_inputs": [["t.bam"]]}, "experimental_inputs[0]", "must be a string"),
        ({"output_dir": 5}, "output_dir", "must be a string"),
        ({"ref": None}, "ref", "must be a string"),
        ({"has_annotate": "true"}, "has_annotate", "must be true or false"),
        ({"has_annotate": 1}, "has_annotate", "must be true or false"),
        ({"target_conf": 1}, "target_conf", "must be a string"),
        ({"segment_conf": ["-m", "cbs"]}, "segment_conf", "must be a string"),
        ({"bed": {"path": "x"}}, "bed", "must be a string"),
    ],
)
def test_wrong_types_not_coerced(changes, field, text):
    err = refused(with_(MINIMAL, **changes))
    assert err.field == field
    assert text in str(err)


def test_unknown_field_refused_with_hint():
    err = refused(with_(MINIMAL, contol_inputs=["x.bam"]))
    assert err.field == "contol_inputs"
    assert "unknown field" in str(err) and "control_inputs" in str(err)
    err = refused(with_(MINIMAL, instance_id="abc"))
    assert err.field == "instance_id"


def test_has_annotate_requires_annotation_file():
    err = refused(with_(MINIMAL, has_annotate=True))
    assert err.field == "annotation_file"
    assert "required when has_annotate is true" in str(err)
    refused(with_(MINIMAL, has_annotate=True, annotation_file="  "))
    ok = parse_cnvkit_body(with_(MINIMAL, has_annotate=True, annotation_file="refFlat.txt"))
    assert ok.input_paths()[-1] == "refFlat.txt"


@pytest.mark.parametrize("field", ["experimental_inputs", "control_inputs"])
def test_empty_lists_refused(field):
    err = refused(with_(MINIMAL, **{field: []}))
    assert str(err) == f"{field}: must not be empty"


@pytest.mark.parametrize(
    "changes,field",
    [
        ({"control_inputs": ["a.bam", ""]}, "control_inputs[1]"),
        ({"output_dir": ""}, "output_dir"),
        ({"ref": "   "}, "ref"),
    ],
)
def test_empty_strings_refused(changes, field):
    err = refused(with_(MINIMAL, **changes))
    assert err.field == field and "must not be empty" in str(err)


def test_duplicate_inputs_refused():
    err = refused(with_(MINIMAL, control_inputs=["n.bam", "m.bam", "n.bam"]))
    assert err.field == "control_inputs[2]" and "control_inputs[0]" in str(err)


def test_control_characters_refused():
    err = refused(with_(MINIMAL, output_dir="out\n/x"))
    assert err.field == "output_dir" and "control characters" in str(err)


@pytest.mark.parametrize("n", [MAX_LIST_ITEMS + 1, 100_000])
def test_huge_arrays_limit_exceeded(n):
    err = refused(with_(MINIMAL, control_inputs=[f"n{i}.bam" for i in range(n)]), cls=LimitExceeded)
    assert err.code == "DLI.0009" and err.http_status == 400
    assert err.field == "control_inputs"
    assert str(MAX_LIST_ITEMS) in str(err)


def test_limit_is_reported_before_other_problems():
    body = with_(MINIMAL, ref=1, experimental_inputs=[1] * (MAX_LIST_ITEMS + 5))
    err = refused(body, cls=LimitExceeded)
    assert err.field == "experimental_inputs"


def test_list_at_the_limit_accepted():
    body = parse_cnvkit_body(with_(MINIMAL, control_inputs=[f"n{i}.bam" for i in range(MAX_LIST_ITEMS)]))
    assert len(body.control_inputs) == MAX_LIST_ITEMS


def test_huge_string_limit_exceeded():
    err = refused(with_(MINIMAL, coverage_conf="-q " * MAX_STRING_LENGTH), cls=LimitExceeded)
    assert err.field == "coverage_conf"


@pytest.mark.parametrize("data", [[], "body", 3, None, [MINIMAL]])
def test_body_must_be_an_object(data):
    err = refused(data)
    assert "must be a JSON object" in str(err)


# --------------------------------------------------------------------------------------------
# Pipeline bodies

GERMLINE = {
    "job_type": "DNA_GERMLINE",
    "input": ["s_R1.fastq.gz", "s_R2.fastq.gz"],
    "output": "out/s.vcf",
    "file_type": "fastq",
    "ref": "hg38",
    "knownsites": ["dbsnp_146.hg38.vcf"],
}
SOMATIC = {
    "job_type": "DNA_SOMATIC",
    "inputs": [
        {"sample_type": "tumor", "sample_inputs": ["t_1.fq", "t_2.fq"]},
        {"sample_type": "normal", "sample_inputs": ["n_1.fq", "n_2.fq"]},
    ],
    "output": "out/somatic.vcf",
    "file_type": "FASTQ",
    "ref": "hg38",
    "tumor_sample_name": "T-01",
    "normal_sample_name": "N_01",
    "expect_time": "1h",
    "conf": {"threads": 4},
    "access_encoded_key": "AKxx",
    "secret_encoded_key": "SKxx",
    "fastq_ubam_conf": ["-X"],
}
RNA = {
    "job_type": "RNA_DIFF_EXPR",
    "inputs": [
        {
            "group_name": "control",
            "group_inputs": [{"sample_name": "c1", "files": ["c1_R1.fastq.gz", "c1_R2.fastq.gz"]}],
        },
        {
            "group_name": "treated",
            "group_inputs": [{"sample_name": "t1", "files": ["t1_R1.fastq.gz", "t1_R2.fastq.gz"]}],
        },
    ],
    "output": "out/",
    "ref": "hg38",
    "gtf": "gencode.gtf",
}


def test_pipeline_bodies_accepted():
    g = parse_pipeline_body(GERMLINE)
    assert isinstance(g, DnaGermlineBody) and g.file_type == "FASTQ"  # case-insensitive
    assert isinstance(parse_pipeline_body(with_(GERMLINE, file_type="Bam", input=["s.BAM"])), DnaGermlineBody)
    s = parse_pipeline_body(SOMATIC)
    assert isinstance(s, DnaSomaticBody) and s.artifact_modes == ["G/T"]
    assert s.conf == {"threads": 4} and s.secret_encoded_key == "SKxx"
    r = parse_pipeline_body(RNA)
    assert isinstance(r, RnaDiffExprBody) and r.library_type == "fr-unstranded"


@pytest.mark.parametrize(
    "body,field,text",
    [
        (with_(GERMLINE, job_type=...), "job_type", "is required"),
        (with_(GERMLINE, job_type="DNA_OTHER"), "job_type", "must be one of"),
        (with_(GERMLINE, job_type="dna_germline"), "job_type", "must be one of"),
        (with_(GERMLINE, input=["a.fastq.gz"]), "input", "two FASTQ"),
        (with_(GERMLINE, input=["a.txt", "b.fq"]), "input[0]", "must end with"),
        (with_(GERMLINE, file_type="BAM"), "input", "one BAM"),
        (with_(GERMLINE, file_type="cram"), "file_type", "FASTQ or BAM"),
        (with_(GERMLINE, output="out/s.txt"), "output", "VCF"),
        (with_(GERMLINE, knownsites=[]), "knownsites", "must not be empty"),
        (with_(GERMLINE, knownsites=...), "knownsites", "is required"),
        (with_(GERMLINE, is_export_bam=True), "bam_output", "required when is_export_bam"),
        (with_(GERMLINE, bwaspark_conf="-x"), "bwaspark_conf", "must be a list"),
        (with_(GERMLINE, is_output_gvcf="yes"), "is_output_gvcf", "true or false"),
        (with_(GERMLINE, extra=1), "extra", "unknown field"),
        (with_(SOMATIC, tumor_sample_name="T 1"), "tumor_sample_name", "letters, digits"),
        (with_(SOMATIC, normal_sample_name="N" * 129), "normal_sample_name", "1-128"),
        (with_(SOMATIC, normal_sample_name=...), "normal_sample_name", "is required"),
        (with_(SOMATIC, inputs=[SOMATIC["inputs"][0]]), "inputs", "one tumor and one normal"),
        (
            with_(SOMATIC, inputs=[{"sample_type": "Tumor", "sample_inputs": ["t.bam"]}]),
            "inputs[0].sample_type",
            "tumor",
        ),
        (
            with_(
                SOMATIC, inputs=[SOMATIC["inputs"][0], {"sample_type": "normal", "sample_inputs": ["n.bam"]}]
            ),
            "inputs[1].sample_inputs",
            "two FASTQ",
        ),
        (with_(SOMATIC, intervals=["x.txt"]), "intervals[0]", ".interval-list"),
        (with_(SOMATIC, artifact_modes=["G/T", "GT"]), "artifact_modes[1]", "G/T"),
        (with_(SOMATIC, mutect_is_export_bam=True), "mutect_bam_output", "required"),
        (with_(SOMATIC, bogus=1), "bogus", "unknown field"),
        (with_(RNA, inputs=[RNA["inputs"][0]]), "inputs", "at least two groups"),
        (with_(RNA, gtf=...), "gtf", "is required"),
        (with_(RNA, library_type="unstranded"), "library_type", "fr-firststrand"),
        (with_(RNA, is_export_qc=True), "bed", "required when is_export_qc"),
        (with_(RNA, adapt="AGAT-CG"), "adapt", "adapter"),
    ],
)
def test_pipeline_refusals(body, field, text):
    err = refused(body, parse=parse_pipeline_body)
    assert err.field == field, str(err)
    assert text in str(err)


def test_rna_names_and_pairs():
    bad_group = copy.deepcopy(RNA)
    bad_group["inputs"][1]["group_name"] = "1treated"
    err = refused(bad_group, parse=parse_pipeline_body)
    assert err.field == "inputs[1].group_name" and "start with a letter" in str(err)
    dup = copy.deepcopy(RNA)
    dup["inputs"][1]["group_inputs"][0]["sample_name"] = "c1"
    err = refused(dup, parse=parse_pipeline_body)
    assert err.field == "inputs[1].group_inputs[0].sample_name"
    one_file = copy.deepcopy(RNA)
    one_file["inputs"][0]["group_inputs"][0]["files"] = ["c1_R1.fastq.gz"]
    err = refused(one_file, parse=parse_pipeline_body)
    assert err.field == "inputs[0].group_inputs[0].files"


def test_pipeline_huge_list_limit():
    err = refused(
        with_(GERMLINE, knownsites=["k.vcf"] * (MAX_LIST_ITEMS + 1)),
        parse=parse_pipeline_body,
        cls=LimitExceeded,
    )
    assert err.field == "knownsites"


# --------------------------------------------------------------------------------------------
# Records and listing shapes


def test_record_duration_seconds():
    rec = new_record("p", "alice", "cnvkit", MINIMAL, start_time=1_000)
    assert rec.status is Status.LAUNCHING
    assert rec.duration_at(now=4_999) == 3  # whole seconds, still running: to now
    rec.status, rec.end_time = Status.FINISHED, 61_500
    assert rec.duration_at(now=10**12) == 60  # final: to end_time, now ignored
    assert rec.model_dump()["duration"] == 60


def test_record_rejects_bad_ids_and_progress():
    with pytest.raises(ValueError):
        JobRecord(
            instance_id="not-a-uuid", owner="a", project_id="p", kind="cnvkit", start_time=0, request={}
        )
    rec = new_record("p", "a", "cnvkit", {})
    with pytest.raises(ValueError):
        rec.progress = "3/2"


def test_cnvkit_instance_item_echoes_request():
    rec = new_record("p", "alice", "cnvkit", SPEC_SAMPLE, start_time=1_000)
    item = cnvkit_instance_item(rec, now=3_500)
    for key in ("instance_id", "owner", "status", "start_time", "duration", "message"):
        assert key in item
    assert item["instance_id"] == rec.instance_id and item["owner"] == "alice"
    assert item["status"] == "LAUNCHING" and item["duration"] == 2 and item["message"] == ""
    for key, value in SPEC_SAMPLE.items():
        assert item[key] == value
    listing = cnvkit_listing(7, [rec], now=3_500)
    assert listing["count"] == 7 and listing["instances"] == [item]
    json.dumps(listing)  # plain JSON


def test_cnvkit_item_fills_unsent_optionals():
    item = cnvkit_instance_item(new_record("p", "a", "cnvkit", MINIMAL), now=0)
    assert item["has_annotate"] is False and item["call_conf"] == "" and item["annotation_file"] == ""


def test_pipeline_item_request_is_json_string_with_nulls():
    rec = new_record("p", "bob", "DNA_GERMLINE", GERMLINE, start_time=0)
    rec.progress = "1/4"
    item = pipeline_job_item(rec, now=16_731_000)
    assert list(item) == [
        "job_id",
        "owner",
        "status",
        "progress",
        "start_time",
        "duration",
        "message",
        "request",
    ]
    assert item["job_id"] == rec.instance_id and item["progress"] == "1/4" and item["duration"] == 16_731
    assert isinstance(item["request"], str)
    request = json.loads(item["request"])
    assert request["file_type"] == "fastq"  # as submitted, not normalised
    for unsent in ("engine", "bam_output", "is_export_bam", "bwaspark_conf", "is_output_gvcf"):
        assert unsent in request and request[unsent] is None
    assert next(iter(request)) == "job_type"
    listing = pipeline_listing(1, [rec])
    assert listing["job_count"] == 1 and len(listing["jobs"]) == 1


def test_somatic_item_echoes_stored_extras():
    rec = new_record("p", "bob", "DNA_SOMATIC", SOMATIC)
    request = json.loads(pipeline_job_item(rec)["request"])
    assert request["expect_time"] == "1h" and request["conf"] == {"threads": 4}
    assert request["fastq_ubam_conf"] == ["-X"] and request["pon"] is None

"""The pipeline bodies of ``POST /v2.0/{project_id}/gene/jobs`` (spec section 3): a union
discriminated by ``job_type``; :func:`parse_pipeline_body` validates one (errors as
:func:`localgene.jobs.bodies.parse_cnvkit_body`'s). Re-exported by :mod:`localgene.jobs.bodies`.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Union

from pydantic import AfterValidator, Field, StringConstraints, TypeAdapter, ValidationError, model_validator

from localgene.errors import InvalidRequest
from localgene.jobs.body_base import (
    CONF,
    MAX_LIST_ITEMS,
    MAX_STRING_LENGTH,
    OUTPUT,
    REFERENCE,
    Name,
    NameList,
    OptionList,
    Text,
    _Body,
    _check_size,
    _duplicates,
    _has_ext,
    _raise_from,
    _rule,
)

FASTQ_EXTENSIONS: tuple[str, ...] = (".fastq", ".fq", ".fastq.gz", ".fq.gz")
BAM_EXTENSIONS: tuple[str, ...] = (".bam",)
VCF_EXTENSIONS: tuple[str, ...] = (".vcf", ".vcf.gz")
INTERVAL_EXTENSIONS: tuple[str, ...] = (".bed", ".intervals", ".interval-list", ".interval_list")
LIBRARY_TYPES: tuple[str, ...] = ("fr-unstranded", "fr-firststrand", "fr-secondstrand")

_SOMATIC_NAME = re.compile(r"[A-Za-z0-9_-]{1,128}")
_RNA_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,127}")
_ARTIFACT_MODE = re.compile(r"[ACGT]/[ACGT]")
_ADAPTER = re.compile(r"[ACGTNacgtn]+")


def _file_type(value: str) -> str:
    upper = value.upper()
    if upper not in ("FASTQ", "BAM"):
        raise _rule(None, f"must be FASTQ or BAM (any case), got {value!r}")
    return upper


#: ``FASTQ`` or ``BAM``, compared case-insensitively; the model keeps it upper-case.
FileType = Annotated[str, StringConstraints(max_length=16), AfterValidator(_file_type)]


def _check_reads(field: str, files: list[str], file_type: str) -> None:
    """Two FASTQ files (FASTQ) or one BAM (BAM)."""
    if file_type == "FASTQ":
        if len(files) != 2:
            raise _rule(field, f"file_type is FASTQ: needs exactly two FASTQ files, got {len(files)}")
        for i, path in enumerate(files):
            if not _has_ext(path, FASTQ_EXTENSIONS):
                raise _rule(
                    f"{field}[{i}]",
                    "file_type is FASTQ: must end with " + ", ".join(FASTQ_EXTENSIONS),
                )
        _duplicates(field, files)
    else:
        if len(files) != 1:
            raise _rule(field, f"file_type is BAM: needs exactly one BAM file, got {len(files)}")
        if not _has_ext(files[0], BAM_EXTENSIONS):
            raise _rule(f"{field}[0]", "file_type is BAM: must end with .bam")


class DnaGermlineBody(_Body):
    job_type: Literal["DNA_GERMLINE"]
    input: Annotated[list[Name], Field(min_length=1, max_length=MAX_LIST_ITEMS)]
    output: Annotated[Name, OUTPUT]
    file_type: FileType
    ref: Annotated[Name, REFERENCE]
    knownsites: Annotated[NameList, REFERENCE]
    engine: Text | None = None
    fastq_to_sam_conf: Annotated[OptionList | None, CONF] = None
    bwaspark_conf: Annotated[OptionList | None, CONF] = None
    read_pipeline_spark_conf: Annotated[OptionList | None, CONF] = None
    is_export_bam: bool = False
    bam_output: Annotated[Text | None, OUTPUT] = None
    is_output_gvcf: bool = False

    @model_validator(mode="after")
    def _rules(self) -> "DnaGermlineBody":
        _check_reads("input", self.input, self.file_type)
        if not _has_ext(self.output, VCF_EXTENSIONS):
            raise _rule("output", "must be a VCF path ending with .vcf or .vcf.gz")
        if self.is_export_bam:
            if not (self.bam_output or "").strip():
                raise _rule("bam_output", "is required when is_export_bam is true")
            if not _has_ext(self.bam_output or "", BAM_EXTENSIONS):
                raise _rule("bam_output", "must end with .bam")
        return self


class SomaticSample(_Body):
    sample_type: Literal["tumor", "normal"]
    sample_inputs: Annotated[list[Name], Field(min_length=1, max_length=MAX_LIST_ITEMS)]


def _somatic_name(value: str) -> str:
    if not _SOMATIC_NAME.fullmatch(value):
        raise _rule(None, "must be 1-128 letters, digits, '_' or '-'")
    return value


SomaticName = Annotated[str, StringConstraints(max_length=MAX_STRING_LENGTH), AfterValidator(_somatic_name)]


def _artifact_modes(values: list[str]) -> list[str]:
    for i, value in enumerate(values):
        if not _ARTIFACT_MODE.fullmatch(value):
            raise _rule(f"[{i}]", f"must be a base change such as 'G/T', got {value!r}")
    return values


class DnaSomaticBody(_Body):
    job_type: Literal["DNA_SOMATIC"]
    inputs: Annotated[list[SomaticSample], Field(min_length=1, max_length=MAX_LIST_ITEMS)]
    output: Annotated[Name, OUTPUT]
    file_type: FileType
    ref: Annotated[Name, REFERENCE]
    tumor_sample_name: SomaticName
    normal_sample_name: SomaticName
    knownsites: Annotated[Annotated[list[Name], Field(max_length=MAX_LIST_ITEMS)] | None, REFERENCE] = None
    intervals: Annotated[Annotated[list[Name], Field(max_length=MAX_LIST_ITEMS)] | None, REFERENCE] = None
    pon: Annotated[Text | None, REFERENCE] = None
    germline_resource: Annotated[Text | None, REFERENCE] = None
    mutect_calls_variant: Text | None = None
    mutect_is_export_bam: bool = False
    mutect_bam_output: Annotated[Text | None, OUTPUT] = None
    is_filter_by_orientationBias: bool = False
    artifact_modes: Annotated[
        list[Text], Field(min_length=1, max_length=16), AfterValidator(_artifact_modes)
    ] = ["G/T"]
    is_filter_by_alignmentArtifacts: bool = False
    fastq_to_sam_conf: Annotated[OptionList | None, CONF] = None
    bwaspark_conf: Annotated[OptionList | None, CONF] = None
    read_pipeline_spark_conf: Annotated[OptionList | None, CONF] = None
    # Keys that the service's stored requests carry: accepted and echoed, not interpreted.
    expect_time: Any = None
    conf: Any = None
    access_encoded_key: Any = None
    secret_encoded_key: Any = None
    fastq_ubam_conf: Any = None

    @model_validator(mode="after")
    def _rules(self) -> "DnaSomaticBody":
        kinds = [s.sample_type for s in self.inputs]
        if kinds.count("tumor") != 1 or kinds.count("normal") != 1:
            raise _rule(
                "inputs",
                "needs exactly one tumor and one normal sample, got "
                f"{kinds.count('tumor')} tumor and {kinds.count('normal')} normal",
            )
        for i, sample in enumerate(self.inputs):
            _check_reads(f"inputs[{i}].sample_inputs", sample.sample_inputs, self.file_type)
        if self.tumor_sample_name == self.normal_sample_name:
            raise _rule("normal_sample_name", "must differ from tumor_sample_name")
        for i, path in enumerate(self.intervals or []):
            if not _has_ext(path, INTERVAL_EXTENSIONS):
                raise _rule(f"intervals[{i}]", "must end with " + ", ".join(INTERVAL_EXTENSIONS))
        if self.mutect_is_export_bam:
            if not (self.mutect_bam_output or "").strip():
                raise _rule("mutect_bam_output", "is required when mutect_is_export_bam is true")
            if not _has_ext(self.mutect_bam_output or "", BAM_EXTENSIONS):
                raise _rule("mutect_bam_output", "must end with .bam")
        return self


def _rna_name(value: str) -> str:
    if not _RNA_NAME.fullmatch(value):
        raise _rule(None, "must start with a letter, then letters, digits, '_' or '-' (1-128 characters)")
    return value


RnaName = Annotated[str, StringConstraints(max_length=MAX_STRING_LENGTH), AfterValidator(_rna_name)]


class RnaSample(_Body):
    sample_name: RnaName
    files: Annotated[list[Name], Field(min_length=1, max_length=MAX_LIST_ITEMS)]

    @model_validator(mode="after")
    def _rules(self) -> "RnaSample":
        _check_reads("files", self.files, "FASTQ")
        return self


class RnaGroup(_Body):
    group_name: RnaName
    group_inputs: Annotated[list[RnaSample], Field(min_length=1, max_length=MAX_LIST_ITEMS)]


def _adapter(value: str) -> str:
    if not _ADAPTER.fullmatch(value):
        raise _rule(None, "must be an adapter sequence of A, C, G, T, N")
    return value


class RnaDiffExprBody(_Body):
    job_type: Literal["RNA_DIFF_EXPR"]
    inputs: Annotated[list[RnaGroup], Field(min_length=1, max_length=MAX_LIST_ITEMS)]
    output: Annotated[Name, OUTPUT]
    ref: Annotated[Name, REFERENCE]
    gtf: Annotated[Name, REFERENCE]
    adapt: Annotated[str, StringConstraints(max_length=256), AfterValidator(_adapter)] | None = None
    is_export_qc: bool = False
    bed: Annotated[Text | None, REFERENCE] = None
    library_type: Literal["fr-unstranded", "fr-firststrand", "fr-secondstrand"] = "fr-unstranded"

    @model_validator(mode="after")
    def _rules(self) -> "RnaDiffExprBody":
        if len(self.inputs) < 2:
            raise _rule("inputs", "differential expression needs at least two groups")
        groups: dict[str, int] = {}
        samples: dict[str, str] = {}
        for g, group in enumerate(self.inputs):
            if group.group_name in groups:
                raise _rule(
                    f"inputs[{g}].group_name", f"repeats inputs[{groups[group.group_name]}].group_name"
                )
            groups[group.group_name] = g
            for s, sample in enumerate(group.group_inputs):
                here = f"inputs[{g}].group_inputs[{s}].sample_name"
                if sample.sample_name in samples:
                    raise _rule(here, f"repeats {samples[sample.sample_name]}")
                samples[sample.sample_name] = here
        if self.is_export_qc and not (self.bed or "").strip():
            raise _rule("bed", "is required when is_export_qc is true")
        return self


PipelineBody = Annotated[
    Union[DnaGermlineBody, DnaSomaticBody, RnaDiffExprBody], Field(discriminator="job_type")
]
PIPELINE_MODELS: dict[str, type[_Body]] = {
    "DNA_GERMLINE": DnaGermlineBody,
    "DNA_SOMATIC": DnaSomaticBody,
    "RNA_DIFF_EXPR": RnaDiffExprBody,
}
_PIPELINE_ADAPTER: TypeAdapter[Any] = TypeAdapter(PipelineBody)


def parse_pipeline_body(data: Any) -> DnaGermlineBody | DnaSomaticBody | RnaDiffExprBody:
    """Validate a pipeline submit body; ``job_type`` picks the model. Errors as above."""
    if not isinstance(data, dict):
        raise InvalidRequest("the request body must be a JSON object")
    job_type = data.get("job_type")
    model = PIPELINE_MODELS.get(job_type) if isinstance(job_type, str) else None
    try:
        body = _PIPELINE_ADAPTER.validate_python(data)
    except ValidationError as exc:
        _raise_from(exc, model.model_fields if model else ("job_type",), strip_tag=True)
    _check_size(data)
    return body

"""Request bodies and the job record, with the exact field names of the gene API.

* :class:`CnvkitBody` — ``POST /v2.0/{project_id}/gene/tools/cnvkit``; :func:`parse_cnvkit_body`.
* :class:`DnaGermlineBody`, :class:`DnaSomaticBody`, :class:`RnaDiffExprBody` — the pipeline
  bodies of ``POST /v2.0/{project_id}/gene/jobs``, a union discriminated by ``job_type``;
  :func:`parse_pipeline_body`.
* :class:`JobRecord` — what the store keeps for every job, and the listing shapes built from it:
  :func:`cnvkit_instance_item`, :func:`pipeline_job_item`, :func:`cnvkit_listing`,
  :func:`pipeline_listing`.

Validation is strict: no coercion (``1`` is not ``"1"``, ``"true"`` is not ``true``), unknown
fields are refused, and every problem becomes one :class:`~localgene.errors.InvalidRequest` line
naming the field path (``control_inputs[1]: must be a string``). Size limits raise
:class:`~localgene.errors.LimitExceeded` (DLI.0009) instead.

Decisions where the spec is silent (also in ``docs/jobs.md``):

* An optional field sent as ``null`` counts as not sent (pipeline listings echo unsent optional
  fields as ``null``, so a listed request can be submitted again unchanged).
* Strings that must name something (paths, names) must not be blank; no string may hold control
  characters (newline, NUL, …).
* A path listed twice in the same input list is refused (its outputs would collide).
* Limits: :data:`MAX_LIST_ITEMS` items per list, :data:`MAX_STRING_LENGTH` characters per string,
  :data:`MAX_BODY_BYTES` for the whole body as compact JSON.

Option strings (``*_conf``) are only type-checked here; :mod:`localgene.options` checks their
content against CNVkit.
"""

from __future__ import annotations

import difflib
import json
import re
import time
import uuid
from typing import Annotated, Any, Iterable, Literal, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    computed_field,
    model_validator,
)
from pydantic_core import PydanticCustomError

from localgene.errors import InvalidRequest, LimitExceeded
from localgene.status import Status

# --------------------------------------------------------------------------------------------
# Limits and constants

#: Most items in any list of a body (input files, option lists, groups, samples).
MAX_LIST_ITEMS = 1000
#: Longest string in a body (paths, option strings), in characters.
MAX_STRING_LENGTH = 4096
#: Largest body, measured as compact UTF-8 JSON.
MAX_BODY_BYTES = 1 << 20

CNVKIT_KIND = "cnvkit"
PIPELINE_KINDS: tuple[str, ...] = ("DNA_GERMLINE", "DNA_SOMATIC", "RNA_DIFF_EXPR")
KINDS: tuple[str, ...] = (CNVKIT_KIND, *PIPELINE_KINDS)
Kind = Literal["cnvkit", "DNA_GERMLINE", "DNA_SOMATIC", "RNA_DIFF_EXPR"]

#: The service's own example CNVkit body (the spec's section 1), as real clients send it.
SERVICE_EXAMPLE_BODY: dict[str, Any] = {
    "experimental_inputs": ["s3a://genes/cnvkit/Son_S2_ALL.sort.mkdup.bam"],
    "control_inputs": ["s3a://genes/cnvkit/Father_S5_ALL.sort.mkdup.bam",
                       "s3a://genes/cnvkit/Mather_S1_ALL.sort.mkdup.bam"],
    "output_dir": "s3a://genes/cnvkit/output/",
    "ref": "s3a://genes/cnvkit/hg38.filtered.fa",
    "bed": "s3a://genes/cnvkit/tEXOME2_ext50.bed",
    "has_annotate": False,
    "annotation_file": "s3a://genes/cnvkit/gencode.v29.annotation.gff3",
    "target_conf": "--split",
    "antitarget_conf": "-a 100000",
    "reference_conf": "--no-rmask",
    "coverage_conf": "-q 10 -p 5",
    "fix_conf": "--no-rmask",
    "segment_conf": "-m cbs --drop-low-coverage -t 0.001 --drop-outliers 5",
    "genemetrics_conf": "--drop-low-coverage -a 0.001 -b 150 --mean",
    "call_conf": "--center mean --center-at 0 --drop-low-coverage",
    "sex_conf": "-y",
}

CONF_FIELDS: tuple[str, ...] = (
    "target_conf",
    "antitarget_conf",
    "coverage_conf",
    "sex_conf",
    "reference_conf",
    "fix_conf",
    "segment_conf",
    "genemetrics_conf",
    "call_conf",
)

FASTQ_EXTENSIONS: tuple[str, ...] = (".fastq", ".fq", ".fastq.gz", ".fq.gz")
BAM_EXTENSIONS: tuple[str, ...] = (".bam",)
VCF_EXTENSIONS: tuple[str, ...] = (".vcf", ".vcf.gz")
INTERVAL_EXTENSIONS: tuple[str, ...] = (".bed", ".intervals", ".interval-list", ".interval_list")
LIBRARY_TYPES: tuple[str, ...] = ("fr-unstranded", "fr-firststrand", "fr-secondstrand")

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SOMATIC_NAME = re.compile(r"[A-Za-z0-9_-]{1,128}")
_RNA_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,127}")
_ARTIFACT_MODE = re.compile(r"[ACGT]/[ACGT]")
_ADAPTER = re.compile(r"[ACGTNacgtn]+")
_UUID4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def _rule(field: str | None, detail: str, *, limit: bool = False) -> PydanticCustomError:
    """An error raised from a validator; ``field`` is a path relative to the model validated."""
    return PydanticCustomError(
        "lg_limit" if limit else "lg_rule", "{detail}", {"detail": detail, "field": field or ""}
    )


# --------------------------------------------------------------------------------------------
# Reusable field types


def _no_control(value: str) -> str:
    if _CONTROL.search(value):
        raise _rule(None, "must not contain control characters (newline, tab, NUL, ...)")
    return value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise _rule(None, "must not be empty")
    return value


#: Any string (may be empty): option strings, optional paths.
Text = Annotated[str, StringConstraints(max_length=MAX_STRING_LENGTH), AfterValidator(_no_control)]
#: A string that names something: not empty, not blank.
Name = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_STRING_LENGTH),
    AfterValidator(_no_control),
    AfterValidator(_not_blank),
]
#: A non-empty list of names.
NameList = Annotated[list[Name], Field(min_length=1, max_length=MAX_LIST_ITEMS)]
#: A list of option strings (pipeline ``*_conf``); may be empty.
OptionList = Annotated[list[Text], Field(max_length=MAX_LIST_ITEMS)]


def _file_type(value: str) -> str:
    upper = value.upper()
    if upper not in ("FASTQ", "BAM"):
        raise _rule(None, f"must be FASTQ or BAM (any case), got {value!r}")
    return upper


#: ``FASTQ`` or ``BAM``, compared case-insensitively; the model keeps it upper-case.
FileType = Annotated[str, StringConstraints(max_length=16), AfterValidator(_file_type)]


def _has_ext(path: str, extensions: Iterable[str]) -> bool:
    lower = path.lower()
    return any(lower.endswith(ext) for ext in extensions)


def _duplicates(field: str, values: list[str]) -> None:
    seen: dict[str, int] = {}
    for i, value in enumerate(values):
        if value in seen:
            raise _rule(f"{field}[{i}]", f"repeats {field}[{seen[value]}] ({value!r})")
        seen[value] = i


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


class _Body(BaseModel):
    """Strict, closed: no coercion, no unknown fields; optional ``null`` = not sent."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _null_is_unsent(cls, data: Any) -> Any:
        if isinstance(data, dict):
            fields = cls.model_fields
            return {
                k: v
                for k, v in data.items()
                if not (v is None and k in fields and not fields[k].is_required())
            }
        return data


# --------------------------------------------------------------------------------------------
# CNVkit


class CnvkitBody(_Body):
    """The CNVkit submit body (spec section 1)."""

    experimental_inputs: NameList
    control_inputs: NameList
    output_dir: Name
    ref: Name
    bed: Name
    has_annotate: bool = False
    annotation_file: Text = ""
    target_conf: Text = ""
    antitarget_conf: Text = ""
    coverage_conf: Text = ""
    sex_conf: Text = ""
    reference_conf: Text = ""
    fix_conf: Text = ""
    segment_conf: Text = ""
    genemetrics_conf: Text = ""
    call_conf: Text = ""

    @model_validator(mode="after")
    def _rules(self) -> "CnvkitBody":
        _duplicates("experimental_inputs", self.experimental_inputs)
        _duplicates("control_inputs", self.control_inputs)
        if self.has_annotate and not self.annotation_file.strip():
            raise _rule("annotation_file", "is required when has_annotate is true")
        return self

    def confs(self) -> dict[str, str]:
        """``{"target_conf": "--split", ...}`` for all nine option fields."""
        return {name: getattr(self, name) for name in CONF_FIELDS}

    def input_paths(self) -> list[str]:
        """Every input file of the job (for sizes and staging), without duplicates."""
        paths = [*self.experimental_inputs, *self.control_inputs, self.ref, self.bed]
        if self.has_annotate:
            paths.append(self.annotation_file)
        return list(dict.fromkeys(paths))


# --------------------------------------------------------------------------------------------
# Pipelines


class DnaGermlineBody(_Body):
    job_type: Literal["DNA_GERMLINE"]
    input: Annotated[list[Name], Field(min_length=1, max_length=MAX_LIST_ITEMS)]
    output: Name
    file_type: FileType
    ref: Name
    knownsites: NameList
    engine: Text | None = None
    fastq_to_sam_conf: OptionList | None = None
    bwaspark_conf: OptionList | None = None
    read_pipeline_spark_conf: OptionList | None = None
    is_export_bam: bool = False
    bam_output: Text | None = None
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
    output: Name
    file_type: FileType
    ref: Name
    tumor_sample_name: SomaticName
    normal_sample_name: SomaticName
    knownsites: Annotated[list[Name], Field(max_length=MAX_LIST_ITEMS)] | None = None
    intervals: Annotated[list[Name], Field(max_length=MAX_LIST_ITEMS)] | None = None
    pon: Text | None = None
    germline_resource: Text | None = None
    mutect_calls_variant: Text | None = None
    mutect_is_export_bam: bool = False
    mutect_bam_output: Text | None = None
    is_filter_by_orientationBias: bool = False
    artifact_modes: Annotated[
        list[Text], Field(min_length=1, max_length=16), AfterValidator(_artifact_modes)
    ] = ["G/T"]
    is_filter_by_alignmentArtifacts: bool = False
    fastq_to_sam_conf: OptionList | None = None
    bwaspark_conf: OptionList | None = None
    read_pipeline_spark_conf: OptionList | None = None
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
    output: Name
    ref: Name
    gtf: Name
    adapt: Annotated[str, StringConstraints(max_length=256), AfterValidator(_adapter)] | None = None
    is_export_qc: bool = False
    bed: Text | None = None
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


# --------------------------------------------------------------------------------------------
# Turning pydantic errors into one line


def _path(loc: Iterable[Any]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part:
            part = str(part)
            out += part if (not out or part.startswith("[")) else "." + part
    return out


def _join(base: str, sub: str) -> str:
    if not sub:
        return base
    if not base or sub.startswith("["):
        return base + sub
    return f"{base}.{sub}"


def _describe(err: dict[str, Any], known_fields: Iterable[str]) -> tuple[str, str, bool]:
    """(field path, message, is_limit) for one pydantic error."""
    kind = err["type"]
    ctx = err.get("ctx") or {}
    path = _path(err["loc"])
    if kind in ("lg_rule", "lg_limit"):
        return _join(path, ctx.get("field", "")), ctx["detail"], kind == "lg_limit"
    if kind == "missing":
        return path, "is required", False
    if kind == "extra_forbidden":
        name = str(err["loc"][-1]) if err["loc"] else ""
        close = difflib.get_close_matches(name, list(known_fields), n=1, cutoff=0.75)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return path, f"unknown field{hint}", False
    if kind == "string_type":
        return path, "must be a string", False
    if kind == "bool_type":
        return path, "must be true or false", False
    if kind == "list_type":
        return path, "must be a list", False
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return path, "must be an object", False
    if kind in ("int_type", "int_parsing"):
        return path, "must be an integer", False
    if kind == "too_short":
        minimum = ctx.get("min_length", 1)
        return path, ("must not be empty" if minimum == 1 else f"needs at least {minimum} items"), False
    if kind == "too_long":
        return (
            path,
            f"has more than {ctx.get('max_length')} items (the limit)",
            True,
        )
    if kind == "string_too_short":
        return path, "must not be empty", False
    if kind == "string_too_long":
        return path, f"is longer than {ctx.get('max_length')} characters (the limit)", True
    if kind == "literal_error":
        return path, f"must be one of {ctx.get('expected')}", False
    if kind == "union_tag_not_found":
        return "job_type", "is required: one of " + ", ".join(PIPELINE_KINDS), False
    if kind == "union_tag_invalid":
        sent = err.get("input", {}).get("job_type") if isinstance(err.get("input"), dict) else None
        return "job_type", f"must be one of {', '.join(PIPELINE_KINDS)}; got {json.dumps(sent)}", False
    message = str(err.get("msg", "is invalid"))
    return path, message[:1].lower() + message[1:], False


def _raise_from(exc: ValidationError, known_fields: Iterable[str], *, strip_tag: bool = False) -> None:
    errors = exc.errors(include_url=False)
    described = []
    for err in errors:
        if strip_tag and err["loc"] and err["loc"][0] in PIPELINE_KINDS:
            err = {**err, "loc": err["loc"][1:]}
        if not err["loc"] and err["type"] in ("model_type", "model_attributes_type", "dict_type"):
            raise InvalidRequest("the request body must be a JSON object") from None
        described.append(_describe(err, known_fields))
    # A limit problem is reported first: it is the reason the rest may look wrong.
    described.sort(key=lambda d: not d[2])
    field, message, is_limit = described[0]
    more = len(described) - 1
    if message == "is required" and more:
        # Name every missing field of the same object at once: the usual "forgot them" case.
        parent = field.rpartition(".")[0]
        missing = [f for f, m, _ in described[1:] if m == "is required" and f.rpartition(".")[0] == parent]
        if missing:
            message += " (also missing: " + ", ".join(missing) + ")"
            more -= len(missing)
    if more:
        message += f" (and {more} more problem{'s' if more > 1 else ''})"
    cls = LimitExceeded if is_limit else InvalidRequest
    raise cls(message, field=field or None) from None


def _check_size(data: Any) -> None:
    size = len(json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode())
    if size > MAX_BODY_BYTES:
        raise LimitExceeded(f"the request body is {size} bytes; at most {MAX_BODY_BYTES} are allowed")


def parse_cnvkit_body(data: Any) -> CnvkitBody:
    """Validate a CNVkit submit body (already decoded from JSON).

    Raises :class:`InvalidRequest` (DLI.0001) or, for size limits, :class:`LimitExceeded`
    (DLI.0009), with one line naming the field path.
    """
    if not isinstance(data, dict):
        raise InvalidRequest("the request body must be a JSON object")
    try:
        body = CnvkitBody.model_validate(data)
    except ValidationError as exc:
        _raise_from(exc, CnvkitBody.model_fields)
    _check_size(data)
    return body


def parse_pipeline_body(data: Any) -> DnaGermlineBody | DnaSomaticBody | RnaDiffExprBody:
    """Validate a pipeline submit body; ``job_type`` picks the model. Errors as above."""
    if not isinstance(data, dict):
        raise InvalidRequest("the request body must be a JSON object")
    model = PIPELINE_MODELS.get(data.get("job_type")) if isinstance(data.get("job_type"), str) else None
    try:
        body = _PIPELINE_ADAPTER.validate_python(data)
    except ValidationError as exc:
        _raise_from(exc, model.model_fields if model else ("job_type",), strip_tag=True)
    _check_size(data)
    return body


# --------------------------------------------------------------------------------------------
# The job record


def now_ms() -> int:
    """Current time in epoch milliseconds."""
    return time.time_ns() // 1_000_000


def _uuid4(value: str) -> str:
    if not _UUID4.fullmatch(value):
        raise ValueError("must be a lower-case UUID4 string")
    return value


def _progress(value: str) -> str:
    done, sep, total = value.partition("/")
    if not (sep and done.isdigit() and total.isdigit() and done.isascii() and total.isascii()):
        raise ValueError("must look like 'done/total'")
    if int(done) > int(total):
        raise ValueError("done must not exceed total")
    return value


class JobRecord(BaseModel):
    """One job as the store keeps it. ``request`` is the body exactly as submitted."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    instance_id: Annotated[str, AfterValidator(_uuid4)]
    owner: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    project_id: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    kind: Kind
    status: Status = Status.LAUNCHING
    #: Submission time, epoch milliseconds.
    start_time: Annotated[int, Field(ge=0)]
    #: When a final state was reached, epoch milliseconds; ``None`` while not final.
    end_time: Annotated[int, Field(ge=0)] | None = None
    progress: Annotated[str, AfterValidator(_progress)] = "0/0"
    message: str = ""
    warnings: list[str] = Field(default_factory=list)
    #: Summed size of the job's input files, bytes.
    input_size: Annotated[int, Field(ge=0)] = 0
    request: dict[str, Any]
    # Runner bookkeeping (crash recovery); never part of an API shape.
    claimed_by: str | None = None
    runner_pid: int | None = None
    runner_host: str | None = None
    heartbeat: int | None = None

    @property
    def job_id(self) -> str:
        return self.instance_id

    def duration_at(self, now: int | None = None) -> int:
        """Whole seconds from ``start_time`` to ``end_time``, or to ``now`` while not final."""
        end = self.end_time if self.end_time is not None else (now_ms() if now is None else now)
        return max(0, (end - self.start_time) // 1000)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def duration(self) -> int:
        """Seconds; see :meth:`duration_at`."""
        return self.duration_at()


def new_record(
    project_id: str,
    owner: str,
    kind: str,
    request: dict[str, Any],
    *,
    input_size: int = 0,
    warnings: Iterable[str] = (),
    progress: str = "0/0",
    start_time: int | None = None,
) -> JobRecord:
    """A fresh LAUNCHING record with a new UUID4 ``instance_id`` and ``start_time`` = now."""
    return JobRecord(
        instance_id=str(uuid.uuid4()),
        owner=owner,
        project_id=project_id,
        kind=kind,
        status=Status.LAUNCHING,
        start_time=now_ms() if start_time is None else start_time,
        progress=progress,
        warnings=list(warnings),
        input_size=input_size,
        request=request,
    )


# --------------------------------------------------------------------------------------------
# Listing shapes

_CNVKIT_DEFAULTS: dict[str, Any] = {
    name: f.default for name, f in CnvkitBody.model_fields.items() if not f.is_required()
}


def cnvkit_instance_item(record: JobRecord, now: int | None = None) -> dict[str, Any]:
    """One entry of ``instances`` (spec section 2): the job fields, then every body field
    as submitted (an optional field that was not sent shows its default)."""
    item: dict[str, Any] = {
        "instance_id": record.instance_id,
        "owner": record.owner,
        "status": record.status.value,
        "start_time": record.start_time,
        "duration": record.duration_at(now),
        "message": record.message or "",
    }
    for name in CnvkitBody.model_fields:
        if name in record.request:
            item[name] = record.request[name]
        elif name in _CNVKIT_DEFAULTS:
            item[name] = _CNVKIT_DEFAULTS[name]
    return item


def pipeline_request_json(request: dict[str, Any]) -> str:
    """The submitted body as compact JSON text, every field of its pipeline present
    (``null`` when not sent), in the model's field order."""
    model = PIPELINE_MODELS.get(request.get("job_type"))  # type: ignore[arg-type]
    if model is None:
        full = dict(request)
    else:
        full = {name: request.get(name) for name in model.model_fields}
        full.update({k: v for k, v in request.items() if k not in full})
    return json.dumps(full, ensure_ascii=False, separators=(",", ":"))


def pipeline_job_item(record: JobRecord, now: int | None = None) -> dict[str, Any]:
    """One entry of ``jobs`` (spec section 3)."""
    return {
        "job_id": record.instance_id,
        "owner": record.owner,
        "status": record.status.value,
        "progress": record.progress,
        "start_time": record.start_time,
        "duration": record.duration_at(now),
        "message": record.message or "",
        "request": pipeline_request_json(record.request),
    }


def cnvkit_listing(count: int, records: Iterable[JobRecord], now: int | None = None) -> dict[str, Any]:
    """``{"count": N, "instances": [...]}``; ``count`` is the total match count, not the page."""
    now = now_ms() if now is None else now
    return {"count": count, "instances": [cnvkit_instance_item(r, now) for r in records]}


def pipeline_listing(count: int, records: Iterable[JobRecord], now: int | None = None) -> dict[str, Any]:
    """``{"job_count": N, "jobs": [...]}``."""
    now = now_ms() if now is None else now
    return {"job_count": count, "jobs": [pipeline_job_item(r, now) for r in records]}

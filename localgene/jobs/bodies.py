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

The module is split in three (re-exported here, so ``from localgene.jobs.bodies import X`` works for
all): :mod:`localgene.jobs.body_base` (limits, field types, the base model, the field markers, error
translation), :mod:`localgene.jobs.pipeline_bodies` (the pipeline bodies) and this one (the CNVkit
body, the field lists derived from it, the job record and the listing shapes).

Lists of fields are never written out: each field of a body says what it holds with a
:class:`~localgene.jobs.body_base.FieldRole` marker, and :data:`CONF_FIELDS`,
:data:`CNVKIT_INPUT_FIELDS`, :data:`CNVKIT_OUTPUT_FIELDS`, ... are read from the model.

Option strings (``*_conf``) are only type-checked here; :mod:`localgene.cnvkit.options` checks their
content against CNVkit.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Annotated, Any, Iterable, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    computed_field,
    model_validator,
)

from localgene.errors import InvalidRequest
from localgene.jobs.body_base import (  # noqa: F401  (re-exported: from localgene.jobs.bodies import X)
    CNVKIT_KIND,
    INPUT,
    KINDS,
    MAX_BODY_BYTES,
    MAX_LIST_ITEMS,
    MAX_STRING_LENGTH,
    OUTPUT,
    PIPELINE_KINDS,
    FieldRole,
    Kind,
    Name,
    NameList,
    OptionList,
    Text,
    _Body,
    _check_size,
    _duplicates,
    _raise_from,
    _rule,
    conf_of,
    fields_holding,
    role_of,
)
from localgene.jobs.pipeline_bodies import (  # noqa: F401  (re-exported)
    BAM_EXTENSIONS,
    FASTQ_EXTENSIONS,
    INTERVAL_EXTENSIONS,
    LIBRARY_TYPES,
    PIPELINE_MODELS,
    VCF_EXTENSIONS,
    DnaGermlineBody,
    DnaSomaticBody,
    FileType,
    PipelineBody,
    RnaDiffExprBody,
    RnaGroup,
    RnaSample,
    SomaticSample,
    parse_pipeline_body,
)
from localgene.jobs.status import Status

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


# --------------------------------------------------------------------------------------------
# CNVkit


class CnvkitBody(_Body):
    """The CNVkit submit body (spec section 1)."""

    experimental_inputs: Annotated[NameList, INPUT, Field(
        description="test sample BAMs (sorted, duplicates marked or removed)")]
    control_inputs: Annotated[NameList, INPUT, Field(
        description="control (normal) sample BAMs, pooled into the reference")]
    output_dir: Annotated[Name, OUTPUT, Field(description="folder that receives the results")]
    ref: Annotated[Name, INPUT, Field(description="reference genome FASTA")]
    bed: Annotated[Name, INPUT, Field(description="target regions (BED or interval list)")]
    has_annotate: bool = False
    annotation_file: Annotated[Text, INPUT, Field(description="refFlat, BED, GFF3 or GTF; plain or gzip")] = ""
    target_conf: Annotated[Text, conf_of("target")] = ""
    antitarget_conf: Annotated[Text, conf_of("antitarget")] = ""
    coverage_conf: Annotated[Text, conf_of("coverage")] = ""
    sex_conf: Annotated[Text, conf_of("sex")] = ""
    reference_conf: Annotated[Text, conf_of("reference")] = ""
    fix_conf: Annotated[Text, conf_of("fix")] = ""
    segment_conf: Annotated[Text, conf_of("segment")] = ""
    genemetrics_conf: Annotated[Text, conf_of("genemetrics")] = ""
    call_conf: Annotated[Text, conf_of("call")] = ""

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
        paths: list[str] = []
        for name in CNVKIT_INPUT_FIELDS:
            if name == "annotation_file" and not self.has_annotate:
                continue
            value = getattr(self, name)
            paths.extend(value if isinstance(value, list) else [value])
        return list(dict.fromkeys(paths))

# --------------------------------------------------------------------------------------------
# Field lists, derived from the model's markers (never written out elsewhere)

#: The nine CNVkit option fields, in body order.
CONF_FIELDS: tuple[str, ...] = fields_holding(CnvkitBody, "conf")
#: CNVkit step -> its option field (``{"target": "target_conf", ...}``).
CONF_FIELD_OF_STEP: dict[str, str] = {
    role.step: name for name, info in CnvkitBody.model_fields.items()
    if (role := role_of(info)) is not None and role.kind == "conf" and role.step
}
#: The input files of a CNVkit body (``annotation_file`` counts only with ``has_annotate``).
CNVKIT_INPUT_FIELDS: tuple[str, ...] = fields_holding(CnvkitBody, "input")
#: Where a CNVkit job's results go.
CNVKIT_OUTPUT_FIELDS: tuple[str, ...] = fields_holding(CnvkitBody, "output")
#: Every path field of a CNVkit body: inputs first, then outputs.
CNVKIT_PATH_FIELDS: tuple[str, ...] = (*CNVKIT_INPUT_FIELDS, *CNVKIT_OUTPUT_FIELDS)
#: The path fields that hold a list of paths / one path.
CNVKIT_LIST_PATH_FIELDS: tuple[str, ...] = tuple(
    n for n in CNVKIT_PATH_FIELDS if get_origin(CnvkitBody.model_fields[n].annotation) is list
)
CNVKIT_SCALAR_PATH_FIELDS: tuple[str, ...] = tuple(n for n in CNVKIT_PATH_FIELDS if n not in CNVKIT_LIST_PATH_FIELDS)
#: Per pipeline: the fields that may hold a reference (a registry name or a path), in body
#: order; the destination fields; the option-list fields.
PIPELINE_REFERENCE_FIELDS: dict[str, tuple[str, ...]] = {
    kind: fields_holding(model, "reference") for kind, model in PIPELINE_MODELS.items()
}
PIPELINE_OUTPUT_FIELDS: dict[str, tuple[str, ...]] = {
    kind: fields_holding(model, "output") for kind, model in PIPELINE_MODELS.items()
}
PIPELINE_CONF_FIELDS: dict[str, tuple[str, ...]] = {
    kind: fields_holding(model, "conf") for kind, model in PIPELINE_MODELS.items()
}


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


# --------------------------------------------------------------------------------------------
# The job record

_UUID4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


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

    @computed_field  # type: ignore[prop-decorator]  # pydantic's documented way; mypy allows no decorator over @property
    @property
    def duration(self) -> int:
        """Seconds; see :meth:`duration_at`."""
        return self.duration_at()


def new_record(
    project_id: str,
    owner: str,
    kind: Kind,
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
    model = PIPELINE_MODELS.get(request.get("job_type", ""))
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

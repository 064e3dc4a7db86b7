"""Response models of the API, for the OpenAPI document (and the tests that hold every reply to
them). The request bodies are :mod:`localgene.jobs.bodies`'s models, which also validate them; the
replies are built by :mod:`localgene.jobs.bodies`'s listing functions and the store, and these models
describe exactly those shapes (the tests check every reply against them)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, create_model

from localgene.jobs.bodies import CnvkitBody
from localgene.jobs.status import ORDER

StatusName = Literal["LAUNCHING", "RUNNING", "FINISHED", "FAILED", "CANCELING", "CANCELLED"]
assert set(get_args(StatusName)) == {s.value for s in ORDER}


class _Reply(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorBody(_Reply):
    """Every failed call: the service's error body."""

    error_code: str = Field(description="DLI.xxxx, see docs/api.md", examples=["DLI.0001"])
    error_msg: str = Field(description="one line for a person; names the field when a field is wrong",
                           examples=["control_inputs[1]: must be a string"])


class CnvkitSubmitted(_Reply):
    instance_id: str = Field(description="the new job's id (UUID4)")


class _CnvkitJobFields(_Reply):
    instance_id: str
    owner: str = Field(description="the submitting user")
    status: StatusName
    start_time: int = Field(description="submission time, epoch milliseconds")
    duration: int = Field(description="seconds from start_time to the end (or to now while not final)")
    message: str = Field(description="the failure reason, or empty")


def _reply_type(annotation: Any) -> Any:
    """The JSON type a body field is echoed as: a list of strings, a boolean or a string."""
    if get_origin(annotation) is list:
        return list[str]
    return bool if annotation is bool else str


#: One CNVkit job: its state, then every body field as submitted (defaults for the optional
#: fields that were not sent). The body fields are read from :class:`localgene.jobs.bodies.CnvkitBody`.
_BODY_FIELDS: dict[str, Any] = {name: (_reply_type(info.annotation), ...)
                                for name, info in CnvkitBody.model_fields.items()}
_CnvkitInstance = create_model(
    "CnvkitInstance",
    __base__=_CnvkitJobFields,
    __doc__="One CNVkit job: its state, then every body field as submitted (defaults for the "
            "optional fields that were not sent).",
    **_BODY_FIELDS,
)
if TYPE_CHECKING:
    class CnvkitInstance(_CnvkitJobFields):
        """What a type checker sees: the state fields (the body fields are made at run time)."""
else:
    CnvkitInstance = _CnvkitInstance


class CnvkitInstanceDetail(CnvkitInstance):
    """localgene extension: one CNVkit job with its progress, warnings and input size."""

    progress: str = Field(description="done/total workflow steps", examples=["12/27"])
    warnings: list[str] = Field(description="notes found when the job was submitted, and, once it has ended, while it ran")
    input_size: int = Field(description="summed size of the input files, bytes")


class CnvkitListing(_Reply):
    count: int = Field(description="every job matching the filters, not the page length")
    instances: list[CnvkitInstance]


class PipelineSubmitted(_Reply):
    job_id: str


class PipelineJob(_Reply):
    job_id: str
    owner: str
    status: StatusName
    progress: str = Field(description="done/total pipeline steps")
    start_time: int
    duration: int
    message: str
    request: str = Field(description="the submitted body as a JSON string; optional fields not sent are null")


class PipelineListing(_Reply):
    job_count: int
    jobs: list[PipelineJob]


class Empty(_Reply):
    """``{}``"""


class UserStatistics(_Reply):
    user_name: str
    launching_num: int
    running_num: int
    failed_num: int
    finished_num: int
    canceling_num: int
    cancelled_num: int
    input_size: int


class Statistics(_Reply):
    """Totals of every gene job of the project. ``users`` is there for a tenant administrator
    only; an ordinary user gets their own figures with ``total_user_num`` 1."""

    total_user_num: int
    total_launching_num: int
    total_running_num: int
    total_failed_num: int
    total_finished_num: int
    total_canceling_num: int
    total_cancelled_num: int
    total_input_size: int
    users: list[UserStatistics] = Field(default_factory=list, description="tenant administrators only")


class JobLog(_Reply):
    """localgene extension: the tail of a job's Snakemake log (or of one step's log)."""

    instance_id: str
    status: StatusName
    progress: str
    log: str


class PipelineJobLog(_Reply):
    """localgene extension: the tail of a pipeline job's Snakemake log (or of one step's log)."""

    job_id: str
    status: StatusName
    progress: str
    log: str


class Health(_Reply):
    status: Literal["ok"]
    version: str
    identity: Literal["users-file", "single-user"] = Field(
        description="users-file: tokens from the users file; single-user: no users file, loopback only")

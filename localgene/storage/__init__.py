"""Object storage for localgene: checking, staging and delivering a job's files.

The public surface (everything else is internal; docs/storage.md has the full story)::

    from localgene.storage import (
        S3Config, Cache, check_inputs, cnvkit_input_fields, stage_inputs, deliver_results,
        parse_location, Location, InputReport, InputInfo, STAGED_DIR,
    )

    config = S3Config.from_env()                     # LOCALGENE_S3_* + boto3's own chain
    cache = Cache(home / "cache", max_bytes=50 << 30)  # shared by every job

    # submit: HEAD/stat every input; 4xx-style errors name the field
    report = check_inputs(cnvkit_input_fields(body), config)
    check_output_dir(body["output_dir"], config)     # bucket exists / folder writable
    job.input_size = report.input_size

    # LAUNCHING: local paths, same shape as the fields; objects linked under
    # job_dir/inputs/staged/<basename> with their .bai/.fai; entries pinned for job_id
    local = stage_inputs(cnvkit_input_fields(body), config, cache, job_dir,
                         on_progress=lambda done, total: ..., job_id=instance_id)
    ...
    # after the workflow: upload/copy results to output_dir/<instance_id>/...
    delivered = deliver_results(job_dir / "results", body["output_dir"], instance_id, config)
    # once the job is final (FINISHED, FAILED or CANCELLED), whatever happened:
    cache.release(instance_id)

Errors (all from :mod:`localgene.errors`): ``InvalidRequest`` (malformed path or setting),
``InputNotFound`` (missing file, object or bucket), ``InputPermissionDenied`` (403, bad or
missing credentials), ``StorageError`` (endpoint unreachable, transfer failed or corrupt, cache
disk full) and ``DeliveryError`` (a ``StorageError``: results could not be delivered).
"""

from .cache import Cache, CacheEntry, CacheUsage
from .check import (
    CNVKIT_INPUT_FIELDS,
    InputInfo,
    InputReport,
    ObjectStat,
    check_inputs,
    check_output_dir,
    cnvkit_input_fields,
    read_start,
)
from .client import S3Config, make_client
from .deliver import deliver_file, deliver_files, deliver_output, deliver_results
from .paths import Location, parse_location
from .stage import STAGED_DIR, stage_inputs

__all__ = [
    "CNVKIT_INPUT_FIELDS",
    "STAGED_DIR",
    "Cache",
    "CacheEntry",
    "CacheUsage",
    "InputInfo",
    "InputReport",
    "Location",
    "ObjectStat",
    "S3Config",
    "check_inputs",
    "read_start",
    "check_output_dir",
    "cnvkit_input_fields",
    "deliver_file",
    "deliver_files",
    "deliver_output",
    "deliver_results",
    "make_client",
    "parse_location",
    "stage_inputs",
]

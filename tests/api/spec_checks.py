"""Checks of reply shapes against the contract (../shared/spec/gene-api.md), field by field, and
against the response models the OpenAPI document is generated from."""

from __future__ import annotations

import json
import re
import time
from typing import Any

from localgene.api import models
from localgene.jobs.bodies import CONF_FIELDS, PIPELINE_MODELS

STATES = {"LAUNCHING", "RUNNING", "FINISHED", "FAILED", "CANCELING", "CANCELLED"}
UUID4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
BODY_FIELDS = ("experimental_inputs", "control_inputs", "output_dir", "ref", "bed", "has_annotate",
               "annotation_file", *CONF_FIELDS)
INSTANCE_KEYS = {"instance_id", "owner", "status", "start_time", "duration", "message", *BODY_FIELDS}
JOB_KEYS = {"job_id", "owner", "status", "progress", "start_time", "duration", "message", "request"}
STAT_KEYS = {"total_user_num", "total_launching_num", "total_running_num", "total_failed_num",
             "total_finished_num", "total_canceling_num", "total_cancelled_num", "total_input_size"}
USER_STAT_KEYS = {"user_name", "launching_num", "running_num", "failed_num", "finished_num", "canceling_num",
                  "cancelled_num", "input_size"}


def is_int(value: Any) -> bool:
    return type(value) is int


def epoch_ms(value: Any) -> bool:
    """An integer that reads as epoch milliseconds of a plausible date (2001..2100)."""
    return is_int(value) and 10**12 <= value < 4_102_444_800_000


def check_error(reply, status: int, code: str, *needles: str) -> dict[str, Any]:
    assert reply.status_code == status, (reply.status_code, reply.text)
    assert reply.headers["content-type"].startswith("application/json")
    body = reply.json()
    assert set(body) == {"error_code", "error_msg"}, body
    assert body["error_code"] == code, body
    assert isinstance(body["error_msg"], str) and body["error_msg"], body
    assert "\n" not in body["error_msg"] and "Traceback" not in body["error_msg"], body
    for needle in needles:
        assert needle in body["error_msg"], (needle, body)
    models.ErrorBody.model_validate(body, strict=True)
    return body


def check_instance(item: dict[str, Any], sent: dict[str, Any] | None = None, *, real_times: bool = True) -> None:
    """One ``instances[]`` entry: every key, every type; ``sent`` fields echoed as sent."""
    assert set(item) == INSTANCE_KEYS, set(item) ^ INSTANCE_KEYS
    assert isinstance(item["instance_id"], str) and UUID4.fullmatch(item["instance_id"])
    assert isinstance(item["owner"], str) and item["owner"]
    assert item["status"] in STATES
    assert epoch_ms(item["start_time"]) if real_times else is_int(item["start_time"])
    assert is_int(item["duration"]) and item["duration"] >= 0
    if real_times:
        assert item["duration"] <= (time.time() * 1000 - item["start_time"]) / 1000 + 1
    assert isinstance(item["message"], str)
    for name in ("experimental_inputs", "control_inputs"):
        assert isinstance(item[name], list) and item[name] and all(isinstance(p, str) for p in item[name])
    for name in ("output_dir", "ref", "bed", "annotation_file", *CONF_FIELDS):
        assert isinstance(item[name], str), name
    assert type(item["has_annotate"]) is bool
    if sent is not None:
        for name, value in sent.items():
            assert item[name] == value, name
        for name in set(BODY_FIELDS) - set(sent):
            assert item[name] == (False if name == "has_annotate" else ""), name
    models.CnvkitInstance.model_validate(item, strict=True)


def check_cnvkit_listing(listing: dict[str, Any], **kwargs: Any) -> None:
    assert set(listing) == {"count", "instances"}
    assert is_int(listing["count"]) and listing["count"] >= len(listing["instances"])
    assert isinstance(listing["instances"], list)
    for item in listing["instances"]:
        check_instance(item, **kwargs)
    starts = [i["start_time"] for i in listing["instances"]]
    assert starts == sorted(starts, reverse=True), "newest first"
    models.CnvkitListing.model_validate(listing, strict=True)


def check_job(item: dict[str, Any], *, real_times: bool = True) -> dict[str, Any]:
    """One ``jobs[]`` entry; returns its decoded ``request``."""
    assert set(item) == JOB_KEYS, set(item) ^ JOB_KEYS
    assert UUID4.fullmatch(item["job_id"])
    assert item["status"] in STATES
    assert re.fullmatch(r"\d+/\d+", item["progress"])
    done, total = map(int, item["progress"].split("/"))
    assert done <= total
    assert epoch_ms(item["start_time"]) if real_times else is_int(item["start_time"])
    assert is_int(item["duration"]) and item["duration"] >= 0
    assert item["message"] is None or isinstance(item["message"], str)
    assert isinstance(item["request"], str), "request is a JSON string, not an object"
    request = json.loads(item["request"])
    model = PIPELINE_MODELS[request["job_type"]]
    assert set(model.model_fields) <= set(request), "every field of the pipeline is present"
    models.PipelineJob.model_validate(item, strict=True)
    return request


def check_statistics(stats: dict[str, Any], *, admin: bool) -> None:
    if admin:
        assert set(stats) == STAT_KEYS | {"users"}
        assert isinstance(stats["users"], list)
        for user in stats["users"]:
            assert set(user) == USER_STAT_KEYS
            assert isinstance(user["user_name"], str)
            assert all(is_int(user[k]) and user[k] >= 0 for k in USER_STAT_KEYS - {"user_name"})
        assert stats["total_user_num"] == len(stats["users"])
        names = [u["user_name"] for u in stats["users"]]
        assert names == sorted(names)
        for key in USER_STAT_KEYS - {"user_name", "input_size"}:
            assert stats[f"total_{key}"] == sum(u[key] for u in stats["users"])
        assert stats["total_input_size"] == sum(u["input_size"] for u in stats["users"])
    else:
        assert set(stats) == STAT_KEYS, "an ordinary user gets no users key"
        assert stats["total_user_num"] == 1
    assert all(is_int(stats[k]) and stats[k] >= 0 for k in STAT_KEYS)
    models.Statistics.model_validate(stats, strict=True)

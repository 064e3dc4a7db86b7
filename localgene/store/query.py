"""Query parameters of a listing: paging and the time filter, validated as the spec says."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping, TypedDict

from localgene.errors import (
    InvalidRequest,
)

# --------------------------------------------------------------------------------------------
# Paging

LIMIT_MIN, LIMIT_MAX, LIMIT_DEFAULT = 1, 100, 10
INT64_MAX = 2**63 - 1

_INTEGER = re.compile(r"[+-]?[0-9]{1,19}")


class PagingKwargs(TypedDict):
    """The keyword arguments of ``store.list_jobs`` that :class:`Paging` fills."""

    limit: int
    offset: int
    start: int | None
    end: int | None


@dataclass(frozen=True)
class Paging:
    """Validated paging and time filter of a list request."""

    limit: int = LIMIT_DEFAULT
    offset: int = 0
    start: int | None = None
    end: int | None = None

    def kwargs(self) -> PagingKwargs:
        """For ``store.list_jobs(project, **paging.kwargs())``."""
        return {"limit": self.limit, "offset": self.offset, "start": self.start, "end": self.end}


_RULES = {
    "limit": (LIMIT_MIN, LIMIT_MAX, f"an integer from {LIMIT_MIN} to {LIMIT_MAX}"),
    "offset": (0, INT64_MAX, "an integer of 0 or more"),
    "start": (0, INT64_MAX, "an integer of 0 or more (epoch milliseconds)"),
    "end": (0, INT64_MAX, "an integer of 0 or more (epoch milliseconds)"),
}


def _query_int(query: Mapping[str, Any], name: str) -> int | None:
    if name not in query:
        return None
    raw = query[name]
    if isinstance(raw, (list, tuple)):
        if len(raw) != 1:
            raise InvalidRequest("must be given once", field=name)
        raw = raw[0]
    lo, hi, what = _RULES[name]
    if isinstance(raw, bool) or not isinstance(raw, (str, int)):
        raise InvalidRequest(f"must be {what}, got {raw!r}", field=name)
    text = str(raw)
    if not _INTEGER.fullmatch(text) or not lo <= int(text) <= hi:
        raise InvalidRequest(f"must be {what}, got {text!r}", field=name)
    return int(text)


def _check_range(start: int | None, end: int | None) -> None:
    if start is not None and end is not None and start > end:
        raise InvalidRequest(f"must not be after end ({start} > {end})", field="start")


def parse_time_range(query: Mapping[str, Any]) -> tuple[int | None, int | None]:
    """``start``/``end`` of a query (strings as sent); other keys are ignored."""
    start, end = _query_int(query, "start"), _query_int(query, "end")
    _check_range(start, end)
    return start, end


def parse_paging(query: Mapping[str, Any]) -> Paging:
    """``limit``/``offset``/``start``/``end`` of a query, validated as the spec says.

    Values are the strings of a URL query or a command line; anything but a plain decimal
    integer in range (``"abc"``, ``"1.5"``, ``""``, ``"0"`` for limit) raises
    :class:`~localgene.errors.InvalidRequest` naming the query field. Other keys are ignored
    (each endpoint checks its own, e.g. ``instance-id`` or ``job_type``).
    """
    limit = _query_int(query, "limit")
    offset = _query_int(query, "offset")
    start, end = parse_time_range(query)
    return Paging(
        limit=LIMIT_DEFAULT if limit is None else limit,
        offset=0 if offset is None else offset,
        start=start,
        end=end,
    )


def check_paging(
    limit: int = LIMIT_DEFAULT, offset: int = 0, start: int | None = None, end: int | None = None
) -> Paging:
    """The same rules for values that are already integers (``bool`` is not an integer)."""
    values = {"limit": limit, "offset": offset, "start": start, "end": end}
    for name, value in values.items():
        if value is None and name in ("start", "end"):
            continue
        lo, hi, what = _RULES[name]
        if type(value) is not int or not lo <= value <= hi:
            raise InvalidRequest(f"must be {what}, got {value!r}", field=name)
    _check_range(start, end)
    return Paging(limit, offset, start, end)

"""What every request body shares: limits, field types, the strict base model, the markers
that say what a field holds, and the translation of pydantic's errors into one line.

:mod:`localgene.jobs.bodies` (the CNVkit body, the job record) and :mod:`localgene.jobs.pipeline_bodies`
(the pipeline bodies) build on it; the decisions where the spec is silent are listed in
:mod:`localgene.jobs.bodies`'s docstring and ``docs/jobs.md``.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass
from typing import Annotated, Any, Final, Iterable, Literal, Mapping

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError

from localgene.errors import InvalidRequest, LimitExceeded

# --------------------------------------------------------------------------------------------
# Limits and constants

#: Most items in any list of a body (input files, option lists, groups, samples).
MAX_LIST_ITEMS = 1000
#: Longest string in a body (paths, option strings), in characters.
MAX_STRING_LENGTH = 4096
#: Largest body, measured as compact UTF-8 JSON.
MAX_BODY_BYTES = 1 << 20

CNVKIT_KIND: Final = "cnvkit"
PIPELINE_KINDS: tuple[str, ...] = ("DNA_GERMLINE", "DNA_SOMATIC", "RNA_DIFF_EXPR")
KINDS: tuple[str, ...] = (CNVKIT_KIND, *PIPELINE_KINDS)
Kind = Literal["cnvkit", "DNA_GERMLINE", "DNA_SOMATIC", "RNA_DIFF_EXPR"]

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _rule(field: str | None, detail: str, *, limit: bool = False) -> PydanticCustomError:
    """An error raised from a validator; ``field`` is a path relative to the model validated."""
    return PydanticCustomError(
        "lg_limit" if limit else "lg_rule", "{detail}", {"detail": detail, "field": field or ""}
    )


# --------------------------------------------------------------------------------------------
# What a field holds: a marker in its ``Annotated`` metadata, read back by :func:`fields_holding`


@dataclass(frozen=True)
class FieldRole:
    """What a body field holds, so that lists of fields are derived from the model, never
    written out again: ``input`` (a file the job reads), ``reference`` (a pipeline's reference
    file or registry name), ``output`` (where results go), ``conf`` (an option string, or list,
    of one step; ``step`` names the CNVkit step)."""

    kind: Literal["input", "reference", "output", "conf"]
    step: str | None = None


INPUT = FieldRole("input")
REFERENCE = FieldRole("reference")
OUTPUT = FieldRole("output")
CONF = FieldRole("conf")


def conf_of(step: str) -> FieldRole:
    """The marker of the option field of CNVkit step ``step``."""
    return FieldRole("conf", step)


def role_of(info: FieldInfo) -> FieldRole | None:
    """The :class:`FieldRole` marker of a model field, if it has one."""
    return next((m for m in info.metadata if isinstance(m, FieldRole)), None)


def fields_holding(model: type[BaseModel], *kinds: str) -> tuple[str, ...]:
    """The names of ``model``'s fields marked with a role of one of ``kinds``, in model order."""
    return tuple(name for name, info in model.model_fields.items()
                 if (role := role_of(info)) is not None and role.kind in kinds)


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


def _has_ext(path: str, extensions: Iterable[str]) -> bool:
    lower = path.lower()
    return any(lower.endswith(ext) for ext in extensions)


def _duplicates(field: str, values: list[str]) -> None:
    seen: dict[str, int] = {}
    for i, value in enumerate(values):
        if value in seen:
            raise _rule(f"{field}[{i}]", f"repeats {field}[{seen[value]}] ({value!r})")
        seen[value] = i


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


def _describe(err: Mapping[str, Any], known_fields: Iterable[str]) -> tuple[str, str, bool]:
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

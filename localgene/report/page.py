"""The page chrome every report shares, and the pieces sections are made of.

A :class:`Section` is a titled block of HTML; :func:`render_page` puts a job's sections in one
page with the stylesheet inlined and a table of contents. Pictures are inlined as ``data:``
URIs (:func:`png_data_uri`), so the page needs no other file and nothing from the network.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Sequence

import jinja2
from markupsafe import Markup

import localgene


@dataclass(frozen=True)
class Section:
    """One block of the report: ``key`` is its HTML id, ``html`` its rendered body."""

    key: str
    title: str
    html: Markup
    level: int = 2  # 2: a top-level section; 3: a sub-section (e.g. one sample)


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("localgene.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = format_number
    return env


def fragment(template: str, **context: Any) -> Markup:
    """A rendered template of ``templates/`` as safe HTML."""
    return Markup(environment().get_template(template).render(**context))


def format_number(value: Any, digits: int = 3) -> str:
    """Integers with thousands separators, floats to ``digits`` significant places."""
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value != value:  # NaN
            return ""
        if value.is_integer() and abs(value) < 1e15:
            return f"{int(value):,}"
        return f"{value:.{digits}g}" if abs(value) < 1e-2 or abs(value) >= 1e4 else f"{value:.{digits}f}".rstrip("0").rstrip(".")
    return str(value)


def png_data_uri(path: Path) -> str | None:
    """The PNG at ``path`` as a ``data:`` URI (None when it is missing)."""
    path = Path(path)
    if not path.is_file():
        return None
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def table(columns: Sequence[str], rows: Iterable[Sequence[Any]], *, row_classes: Iterable[str] | None = None,
          empty: str = "none", caption: str | None = None, numeric: Iterable[str] = ()) -> Markup:
    """An HTML table; ``row_classes`` gives each row a CSS class (e.g. ``loss``/``gain``)."""
    rows = [list(r) for r in rows]
    classes = list(row_classes) if row_classes is not None else [""] * len(rows)
    numeric = set(numeric)
    return fragment("table.html.j2", columns=list(columns), rows=list(zip(classes, rows)), empty=empty,
                    caption=caption, numeric=[c in numeric for c in columns])


def stylesheet() -> str:
    return resources.files("localgene.report").joinpath("templates", "report.css").read_text(encoding="utf-8")


def style_source() -> str:
    """The CSP source that allows exactly the report's ``<style>`` element (its SHA-256).

    A page that shows a report from a ``blob:`` URL (the job browser) passes its own policy on
    to it; this lets the report's stylesheet in without allowing any other inline style."""
    digest = hashlib.sha256(stylesheet().encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def render_page(*, kind: str, summary: dict[str, Any], sections: list[Section]) -> str:
    """The whole page: header (job id, kind, when), contents, sections, footer."""
    return environment().get_template("page.html.j2").render(
        kind=kind,
        title=f"{kind} job {summary.get('instance_id') or ''}".strip(),
        instance_id=summary.get("instance_id") or "",
        created=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        version=localgene.__version__,
        css=Markup(stylesheet()),
        sections=sections,
    )

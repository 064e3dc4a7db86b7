"""The per-step timeline of ``job.json`` as an inline SVG bar chart (one bar per step, placed
at its start and as long as its wall time, both relative to the first start)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from markupsafe import Markup, escape

ROW_PX, LABEL_PX, CHART_PX, TOP_PX = 18, 230, 640, 22


def _seconds(value: Any) -> float | None:
    """A time as epoch seconds: a number (seconds, or ms when huge) or an ISO 8601 text."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value / 1000.0 if value > 1e11 else float(value)
    try:
        return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _label(entry: dict[str, Any]) -> str:
    wildcards = entry.get("wildcards") or {}
    tail = ",".join(str(v) for v in wildcards.values()) if isinstance(wildcards, dict) else str(wildcards)
    return f"{entry.get('step', '?')}" + (f" ({tail})" if tail else "")


def timeline_svg(entries: list[dict[str, Any]]) -> Markup:
    rows = []
    for e in entries:
        start = _seconds(e.get("start"))
        wall = e.get("wall_s")
        end = _seconds(e.get("end"))
        if wall is None and start is not None and end is not None:
            wall = end - start
        rows.append((e, start, float(wall or 0.0)))
    starts = [s for _, s, _ in rows if s is not None]
    t0 = min(starts) if starts else 0.0
    span = max([(s - t0 if s is not None else 0.0) + w for _, s, w in rows] + [1e-9])
    scale = CHART_PX / span
    height = TOP_PX + ROW_PX * len(rows) + 6
    width = LABEL_PX + CHART_PX + 90
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="step timeline">']
    for tick in range(5):
        x = LABEL_PX + CHART_PX * tick / 4
        parts.append(f'<line class="axis" x1="{x:.1f}" y1="{TOP_PX - 6}" x2="{x:.1f}" y2="{height}"/>')
        parts.append(f'<text x="{x:.1f}" y="{TOP_PX - 9}" text-anchor="middle">{span * tick / 4:.1f} s</text>')
    for i, (e, start, wall) in enumerate(rows):
        y = TOP_PX + i * ROW_PX
        x = LABEL_PX + ((start - t0) if start is not None else 0.0) * scale
        w = max(wall * scale, 1.5)
        tip = f"{_label(e)}: {wall:.2f} s wall"
        if e.get("cpu_s") is not None:
            tip += f", {float(e['cpu_s']):.2f} s CPU"
        if e.get("max_rss_mb") is not None:
            tip += f", {float(e['max_rss_mb']):.0f} MB peak"
        parts.append(f'<text x="{LABEL_PX - 8}" y="{y + 12}" text-anchor="end">{escape(_label(e))}</text>')
        parts.append(f'<rect class="bar" x="{x:.1f}" y="{y + 2}" width="{w:.1f}" height="{ROW_PX - 5}" rx="2">'
                     f'<title>{escape(tip)}</title></rect>')
        parts.append(f'<text x="{x + w + 4:.1f}" y="{y + 12}">{wall:.1f} s</text>')
    parts.append("</svg>")
    return Markup("".join(parts))

"""Delivering a finished job's results to its ``output_dir``."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from localgene.errors import UnsupportedOption
from localgene.plan import local_path


def destination(output_dir: str, instance_id: str | None) -> str:
    """Where results go: ``output_dir/<instance_id>/`` (or ``output_dir`` without an id)."""
    base = output_dir.rstrip("/")
    return f"{base}/{instance_id}" if instance_id else base


def deliver_results(results_dir: str | os.PathLike, output_dir: str, instance_id: str | None) -> list[str]:
    """Copy every file under ``results_dir`` to the destination; returns what was written."""
    if "://" in output_dir and not output_dir.startswith("file://"):
        raise UnsupportedOption("object-storage destinations are not supported yet", field="output_dir")
    dest = Path(local_path(destination(output_dir, instance_id)))
    written: list[str] = []
    for src in sorted(Path(results_dir).rglob("*")):
        if not src.is_file():
            continue
        target = dest / src.relative_to(results_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.part")
        shutil.copyfile(src, tmp)
        tmp.replace(target)
        written.append(str(target))
    return written

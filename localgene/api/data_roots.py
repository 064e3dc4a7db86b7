"""What a multi-user server lets a job read and write: the administrator's data roots.

A server with a users file serves several people with one account's permissions, so a path in a
job body is a request to read (inputs) or write (``output_dir``) with that account's rights.
:class:`DataRoots` keeps those paths inside the folders the administrator named:

* **server roots** (``localgene serve --data-root DIR``, env ``LOCALGENE_DATA_ROOTS``) serve
  every project; **project roots** (``--data-root PROJECT=DIR``) only that project;
* every local path of a body (``file://`` URLs included, decoded once as RFC 8089 says, so
  ``%252e%252e`` stays a literal ``%2e%2e`` name) is judged where it really leads: after ``..``
  and every symlink are resolved (:func:`os.path.realpath`);
* some places are never reachable through a job, whatever the roots say: ``$LOCALGENE_HOME``
  (the job database, every job's folder, the caches), the users file, ``/proc``, and the
  delivered results of another user's job (``output_dir/<instance_id>/``); no ``output_dir``
  may lie inside any job's delivered results.

A path outside is a 403 ``DLI.0012`` naming the field; nothing is recorded. Without a users file
(the single local user on a loopback address) none of this applies: ``--allow-path`` keeps its
own meaning there (400 ``DLI.0011``).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from localgene.errors import InvalidRequest, PathNotAllowed
from localgene.storage.paths import parse_location

ENV_DATA_ROOTS = "LOCALGENE_DATA_ROOTS"
#: Places no job of a multi-user server may reach, besides $LOCALGENE_HOME and the users file.
SYSTEM_DENIED = ("/proc",)
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_PROJECT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def _real(path: str | os.PathLike[str]) -> str:
    return os.path.realpath(path)


def _under(real: str, folder: str) -> bool:
    return real == folder or real.startswith(folder.rstrip("/") + "/")


def parse_root_specs(specs: Iterable[str]) -> tuple[tuple[Path, ...], dict[str, tuple[Path, ...]]]:
    """``DIR`` or ``PROJECT=DIR`` options as (server roots, {project: roots}); each must be an
    existing folder (named in the error, field ``--data-root``)."""
    server: list[Path] = []
    projects: dict[str, list[Path]] = {}
    for spec in specs:
        project, sep, folder = spec.partition("=")
        if not sep:
            project, folder = "", spec
        elif not _PROJECT.fullmatch(project):
            raise InvalidRequest(f"{spec!r}: {project!r} is not a project id", field="--data-root")
        if not os.path.isabs(folder) or not os.path.isdir(folder):
            raise InvalidRequest(f"{spec!r}: {folder!r} is not an absolute path of a folder", field="--data-root")
        (projects.setdefault(project, []) if project else server).append(Path(_real(folder)))
    return tuple(server), {p: tuple(r) for p, r in projects.items()}


def local_paths(body: Any, named: Iterable[str] = ()) -> Iterator[tuple[str, str]]:
    """``(field path, value)`` of every string of a body that names a local file: an absolute
    path, a ``file:`` URL, or any value of a field listed in ``named`` (CNVkit's path fields).
    Walks nested objects and lists, so pipeline bodies (``samples[0].inputs[1]``) are covered."""
    named = frozenset(named)

    def walk(value: Any, where: str, key: str) -> Iterator[tuple[str, str]]:
        if isinstance(value, dict):
            for k, v in value.items():
                yield from walk(v, f"{where}.{k}" if where else str(k), str(k))
        elif isinstance(value, list):
            for i, v in enumerate(value):
                yield from walk(v, f"{where}[{i}]", key)
        elif isinstance(value, str) and value:
            lowered = value.lower()
            if "://" in value and not lowered.startswith("file:"):
                return  # s3a://, s3://: the object store's own permissions apply
            if value.startswith(("/", "~")) or lowered.startswith("file:") or key in named:
                yield where, value

    yield from walk(body, "", "")


@dataclass(frozen=True)
class DataRoots:
    """The folders job bodies of one multi-user server may name (see the module's doc)."""

    home: Path
    users_file: Path | None = None
    server: tuple[Path, ...] = ()
    projects: dict[str, tuple[Path, ...]] = field(default_factory=dict)

    def roots(self, project_id: str) -> tuple[str, ...]:
        return tuple(str(p) for p in (*self.server, *self.projects.get(project_id, ())))

    def denied(self) -> tuple[str, ...]:
        places: list[str | Path] = [self.home, *SYSTEM_DENIED]
        if self.users_file is not None:
            places.append(self.users_file)
        return tuple(_real(p) for p in places)

    def check(self, body: Any, *, project_id: str, owner: str, named: Iterable[str] = (),
              unused: Iterable[str] = (), find_job: Callable[[str], Any] | None = None) -> None:
        """Raise :class:`PathNotAllowed` (403) for the first local path of ``body`` that lies
        outside this project's roots or inside a place no job may reach; top-level fields in
        ``unused`` are not read by the job and not judged. ``find_job(id)`` (the store's) tells
        whose delivered results a ``…/<instance_id>/…`` path is in."""
        roots = self.roots(project_id)
        unused = frozenset(unused)
        for fld, value in local_paths(body, named):
            if fld in unused:
                continue
            location = parse_location(value, fld, require_key=not fld.startswith("output"))
            if location.is_s3:
                continue
            path = location.path or ""
            if not os.path.isabs(path):
                continue  # refused as a relative path by the caller (400), not a question of roots
            real = _real(path)
            shown = value if real == path else f"{value} (which leads to {real})"
            for place in self.denied():
                if _under(real, place):
                    raise PathNotAllowed(f"{shown} is inside {place}, which no job may read or write",
                                         field=fld)
            if not any(_under(real, root) for root in roots):
                where = ", ".join(roots) if roots else "none configured: the administrator starts the " \
                    "server with --data-root DIR"
                raise PathNotAllowed(f"{shown} is outside the data roots of project {project_id} ({where})",
                                     field=fld)
            if find_job is not None:
                self._not_in_results(real, shown, fld, owner, project_id, find_job)

    @staticmethod
    def _not_in_results(real: str, shown: str, fld: str, owner: str, project_id: str,
                        find_job: Callable[[str], Any]) -> None:
        parts = real.split("/")
        for i, part in enumerate(parts):
            if not _UUID.fullmatch(part):
                continue
            job = find_job(part)
            out = job.request.get("output_dir") if job is not None else None
            if not isinstance(out, str):
                continue
            try:
                delivered = _real(os.path.join(parse_location(out, "output_dir", require_key=False).path or "", part))
            except InvalidRequest:
                continue
            if delivered != "/".join(parts[: i + 1]):
                continue
            if fld.startswith("output_dir"):
                raise PathNotAllowed(f"{shown} is inside the delivered results of job {part}; "
                                     "an output_dir may not lie over another job's results", field=fld)
            if job.owner != owner or job.project_id != project_id:
                raise PathNotAllowed(f"{shown} is inside the delivered results of another user's job",
                                     field=fld)

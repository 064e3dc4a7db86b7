"""The reference registry: names such as ``hg38`` or ``dbsnp_146.hg38.vcf`` mapped to files.

Pipeline bodies name their references the way the gene service does, by a name (``"ref":
"hg38"``, ``"knownsites": ["dbsnp_146.hg38.vcf"]``) or by a path. The names live in one file,
``$LOCALGENE_HOME/references.json``, managed with ``localgene references add/list/remove``::

    {"version": 1, "references": {
        "hg38": {"kind": "fasta", "files": ["/data/hg38.fa"]},
        "dbsnp_146.hg38.vcf": {"kind": "vcf", "files": ["s3a://refs/dbsnp_146.hg38.vcf.gz",
                                                         "s3a://refs/dbsnp_146.hg38.vcf.gz.tbi"]}}}

An entry's first file is the one a job's field stands for; further files are companions (an
index, a dictionary) that a job gets beside it. Files are absolute local paths, ``file://``
URLs or ``s3a://``/``s3://`` objects (staged through the shared cache like every input).

A field value is a *name* when it has no ``/`` (so no path and no URL); anything else is a path
and is used as it is. A name must be in the registry, with a kind the field accepts (``ref``
takes a ``fasta``, ``knownsites`` a ``vcf``, ...); otherwise :class:`InputNotFound` (DLI.0002)
lists the names the registry has. Names are resolved when a job is submitted (checked) and
again when it runs (to paths), so a registry change between the two is what the run sees.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from localgene import fileio
from localgene.errors import InputNotFound, InvalidRequest

FILENAME = "references.json"
FORMAT_VERSION = 1

#: The kinds an entry may have, and the file names each is guessed from when --kind is not given.
KINDS: dict[str, tuple[str, ...]] = {
    "fasta": (".fa", ".fasta", ".fna", ".fa.gz", ".fasta.gz", ".fna.gz"),
    "gtf": (".gtf", ".gtf.gz", ".gff", ".gff3", ".gff.gz", ".gff3.gz"),
    "bed": (".bed", ".bed.gz"),
    "intervals": (".intervals", ".interval_list", ".interval-list"),
    "vcf": (".vcf", ".vcf.gz", ".bcf"),
    "pon": (),
    "germline-resource": (),
}

#: The kinds each body field accepts from the registry (the field's name without list indexes).
FIELD_KINDS: dict[str, tuple[str, ...]] = {
    "ref": ("fasta",),
    "gtf": ("gtf",),
    "bed": ("bed", "intervals"),
    "intervals": ("intervals", "bed"),
    "knownsites": ("vcf",),
    "pon": ("pon", "vcf"),
    "germline_resource": ("germline-resource", "vcf"),
}

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,127}")


@dataclass(frozen=True)
class Reference:
    """One registry entry: ``files[0]`` is what a field naming it stands for."""

    name: str
    kind: str
    files: tuple[str, ...]

    @property
    def main(self) -> str:
        return self.files[0]

    def to_json(self) -> dict:
        return {"kind": self.kind, "files": list(self.files)}


def registry_path(home: str | os.PathLike) -> Path:
    return Path(home) / FILENAME


def is_name(value: str) -> bool:
    """A value without ``/`` is a registry name; anything else is a path or URL."""
    return "/" not in value


def guess_kind(path: str) -> str | None:
    low = path.lower()
    for kind, suffixes in KINDS.items():
        if any(low.endswith(s) for s in suffixes):
            return kind
    return None


@dataclass(frozen=True)
class Registry:
    """The registry as read from ``path`` (empty when the file does not exist)."""

    path: Path
    entries: Mapping[str, Reference]

    def names(self) -> list[str]:
        return sorted(self.entries)

    def get(self, name: str) -> Reference | None:
        return self.entries.get(name)

    def lookup(self, value: str, field: str) -> Reference:
        """The entry a field's name stands for; :class:`InputNotFound` naming the field if the
        registry has no such name or it is of a kind the field does not take."""
        entry = self.entries.get(value)
        if entry is None:
            raise InputNotFound(f"{value!r} is not a path and not a name in the reference registry; "
                                f"{self._has()}", field=field)
        accepted = FIELD_KINDS.get(_base(field))
        if accepted and entry.kind not in accepted:
            raise InputNotFound(f"{value!r} is a {entry.kind} in the reference registry; this field takes "
                                f"{' or '.join(accepted)} ({self._has(accepted)})", field=field)
        return entry

    def _has(self, kinds: Iterable[str] | None = None) -> str:
        kinds = tuple(kinds) if kinds else None
        names = [n for n in self.names() if kinds is None or self.entries[n].kind in kinds]
        if not names:
            what = f"no {' or '.join(kinds)} names" if kinds else "no names yet"
            return f"the registry has {what} (add one with `localgene references add NAME FILE`)"
        return "the registry has: " + ", ".join(names)


def _base(field: str) -> str:
    return re.split(r"[\[.~]", field, maxsplit=1)[0]


def load(home: str | os.PathLike) -> Registry:
    """Read the registry of ``home`` (``$LOCALGENE_HOME``)."""
    path = registry_path(home)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return Registry(path, {})
    except (OSError, ValueError) as exc:
        raise InvalidRequest(f"cannot read the reference registry {path}: {exc}") from None
    entries = {}
    raw = data.get("references") if isinstance(data, dict) else None
    if not isinstance(raw, dict):
        raise InvalidRequest(f"the reference registry {path} has no 'references' object")
    for name, item in raw.items():
        try:
            entries[name] = Reference(name, str(item["kind"]), tuple(str(f) for f in item["files"]))
        except (KeyError, TypeError):
            raise InvalidRequest(f"the reference registry {path}: entry {name!r} needs 'kind' and 'files'") from None
    return Registry(path, entries)


def _save(path: Path, entries: Mapping[str, Reference]) -> None:
    data = {"version": FORMAT_VERSION,
            "references": {n: entries[n].to_json() for n in sorted(entries)}}
    fileio.atomic_write_json(path, data)


def _normalize_file(value: str, i: int, base: Path) -> str:
    from localgene.storage import parse_location

    loc = parse_location(value, f"FILE[{i}]", base_dir=str(base))
    return loc.uri if loc.is_s3 else str(Path(loc.local_path).absolute())


def add(home: str | os.PathLike, name: str, files: list[str], *, kind: str | None = None,
        replace: bool = False, check: bool = True, base: str | os.PathLike | None = None) -> Reference:
    """Add (or with ``replace`` overwrite) an entry; files are checked to exist (a stat or a
    HEAD, as at submit) unless ``check`` is false. Relative paths are taken from ``base``
    (default: the current folder). Returns the entry as stored."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidRequest(f"{name!r} cannot be a reference name: letters, digits, '.', '_', '+', '-' "
                             "(1-128 characters, no '/'), starting with a letter or digit", field="NAME")
    if not files:
        raise InvalidRequest("give at least one file", field="FILE")
    base_dir = Path(base) if base else Path.cwd()
    normalized = tuple(_normalize_file(f, i, base_dir) for i, f in enumerate(files))
    if len(set(normalized)) != len(normalized):
        raise InvalidRequest("a file is listed twice", field="FILE")
    if kind is None:
        kind = guess_kind(normalized[0])
        if kind is None:
            raise InvalidRequest(f"cannot tell the kind of {normalized[0]} from its name; give --kind "
                                 f"({', '.join(KINDS)})", field="--kind")
    elif kind not in KINDS:
        raise InvalidRequest(f"must be one of {', '.join(KINDS)}, got {kind!r}", field="--kind")
    if check:
        from localgene import storage

        storage.check_inputs({f"FILE[{i}]": f for i, f in enumerate(normalized)}, storage.S3Config.from_env())
    entry = Reference(name, kind, normalized)
    path = registry_path(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    with fileio.locked(path.with_name(path.name + ".lock")):
        entries = dict(load(home).entries)
        if name in entries and not replace:
            raise InvalidRequest(f"{name!r} is already in the registry ({', '.join(entries[name].files)}); "
                                 "use --replace to change it", field="NAME")
        entries[name] = entry
        _save(path, entries)
    return entry


def remove(home: str | os.PathLike, name: str) -> Reference:
    """Remove an entry; returns it. Jobs already submitted with it fail when they run."""
    path = registry_path(home)
    with fileio.locked(path.with_name(path.name + ".lock")):
        registry = load(home)
        entry = registry.get(name)
        if entry is None:
            raise InputNotFound(f"{name!r} is not in the reference registry; {registry._has()}", field="NAME")
        entries = dict(registry.entries)
        del entries[name]
        _save(path, entries)
    return entry


# -- resolving a body's fields ----------------------------------------------------------------


@dataclass(frozen=True)
class Resolved:
    """A body's file fields with every registry name replaced.

    ``fields`` maps each field label (``ref``, ``knownsites[0]``) to a path or URL, plus one
    label ``<field>~<i>`` per companion file of a multi-file entry; ``names`` maps the labels
    that came from a name to their entry.
    """

    fields: dict[str, str]
    names: dict[str, Reference]

    def companions(self, label: str) -> list[str]:
        entry = self.names.get(label)
        return [f"{label}~{i}" for i in range(1, len(entry.files))] if entry else []


def resolve(fields: Mapping[str, str], registry: Registry, *, name_fields: Iterable[str] = FIELD_KINDS) -> Resolved:
    """Replace the names in ``fields`` (label -> value). Only fields whose base name is in
    ``name_fields`` may hold a name; other values are paths, whatever they look like."""
    name_fields = set(name_fields)
    out: dict[str, str] = {}
    names: dict[str, Reference] = {}
    for label, value in fields.items():
        if _base(label) in name_fields and is_name(value):
            entry = registry.lookup(value, label)
            out[label] = entry.main
            names[label] = entry
            for i, extra in enumerate(entry.files[1:], 1):
                out[f"{label}~{i}"] = extra
        else:
            out[label] = value
    return Resolved(out, names)

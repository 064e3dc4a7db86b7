"""A shared cache of reference indexes: built once per reference content, reused by every job.

Aligner indexes (bwa, HISAT2 with splice sites and exons), ``.fai`` and sequence dictionaries
depend only on the bytes of the FASTA (and, for HISAT2, the GTF) and on the tool's version.
The first job that needs one builds it here; later jobs, and jobs running at the same time,
use the same files. The cache lives in ``$LOCALGENE_HOME/cache/indexes`` and reaches a
pipeline workflow as its config key ``index_cache``.

Layout::

    locks/<kind>-<key>.lock            flock'ed while an entry is checked, built or removed
    <kind>/<key>/                      a complete entry: the built files + meta.json
    <kind>/.<key>.<random>.tmp/        an entry being built (renamed into place when complete)
    fingerprints/<stat key>.json       remembered content fingerprints of input files
    leases/<kind>-<key>/<folder hash>  a job folder that uses the entry (its path inside)

The key is the SHA-256 of the kind, the tool version string and the *content fingerprint* of
every input (the SHA-256 of its bytes; a copy of the same FASTA elsewhere hits, an edited one
misses; ``touch`` does not invalidate). A file's fingerprint is remembered by (real path, size,
mtime, inode), so a 3 GB FASTA is read once, not by every job.

Concurrency: one exclusive ``flock`` per key. The builder fills a temporary folder; ``meta.json``
(with the size of every file) is written into it last, then the folder is renamed to its final
name, so an entry either exists complete or not at all, and a crashed build leaves only a
``.tmp`` folder (removed by the next build of that key). A job that finds the lock held waits
(and says so), then uses what the other built. Every use verifies the entry against its
``meta.json``. flock works across the processes of one machine; on a cluster the cache must be
on a file system with coherent flock (NFSv4, Lustre, GPFS, BeeGFS).

Use (a Snakemake rule's script, or any Python)::

    from localgene.pipelines import index_cache
    entry = index_builders.ensure_bwa(config["index_cache"], fasta, log=print)   # -> Path
    prefix = entry / "reference"                                              # bwa mem prefix

or the generic form with your own builder::

    entry = index_cache.ensure_index(cache_dir, "mykind", {"fasta": fasta},
                                     build=lambda tmp: ..., log=print, version="tool 1.2")

Size: unbounded unless ``LOCALGENE_INDEX_CACHE_MAX_GB`` is set. Then, each time a new entry
has been built, the least recently used entries (every use counts, not only builds) are removed
until the cache fits, skipping every entry **in use**: one whose lock is held (being checked,
built or linked) or that has a live lease. Every use records a lease for the job folder that
uses the entry (``holder``; by default the current folder, which is the job's folder in a
workflow step), because a job folder holds *symbolic links* to the entry's files. A lease is
live while its folder exists and either has no :data:`HOLD` file, or has one that a process
holds with ``flock`` (the top-level Snakefile of a pipeline job holds it for the whole run:
:func:`hold`). So an entry is never removed while a job that linked it runs; once the job has
ended its links may dangle (its results are already delivered). An entry in use is never
removed even if the cache stays above the bound (the log says so).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from types import EllipsisType

from localgene import fileio
from localgene.cnvkit.coverage_cache import sha256_file
from localgene.errors import LocalgeneError
from localgene.fileio import fsync_path

SUBDIR = "indexes"
CONFIG_KEY = "index_cache"
META = "meta.json"
#: Seconds between "still building" lines while an index builds (or while waiting for one).
PROGRESS_SECONDS = 15.0
#: The name every index's files share inside an entry (``reference.1.ht2``, ``reference.bwt``…).
PREFIX = "reference"
#: Folders of the cache that are not index kinds.
NOT_KINDS = ("locks", "fingerprints", "leases")
#: The file in a job folder that a running job holds (shared flock) while it may use entries.
HOLD = ".index-cache-hold"

Log = Callable[[str], None]


class IndexBuildFailed(LocalgeneError):
    """A tool building an index failed; the message carries its last output lines."""


# -- the key ----------------------------------------------------------------------------------


def content_fingerprint(path: str | os.PathLike, memo_dir: str | os.PathLike | None = None) -> str:
    """SHA-256 of a file's bytes, remembered in ``memo_dir`` by (real path, size, mtime, inode)."""
    real = os.path.realpath(path)
    st = os.stat(real)
    stat_key = hashlib.sha256(f"{real}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ino}\0{st.st_dev}".encode()).hexdigest()
    memo = Path(memo_dir) / f"{stat_key}.json" if memo_dir else None
    if memo is not None:
        try:
            return json.loads(memo.read_text())["sha256"]
        except (OSError, ValueError, KeyError):
            pass
    digest = sha256_file(real)
    if memo is not None:
        fileio.atomic_write_text(memo, json.dumps({"path": real, "size": st.st_size, "sha256": digest}) + "\n",
                                 fsync=False, make_parents=True)
    return digest


def index_key(kind: str, inputs: Mapping[str, str | os.PathLike], version: str,
              memo_dir: str | os.PathLike | None = None) -> tuple[str, dict]:
    """``(key, parts)``: what an entry is made of (kept in its meta.json) and its hash."""
    parts = {
        "kind": kind,
        "version": version,
        "inputs": {name: content_fingerprint(p, memo_dir) for name, p in sorted(inputs.items())},
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest(), parts


# -- the cache --------------------------------------------------------------------------------


def verified(entry: Path) -> dict | None:
    """The meta.json of a complete entry whose files all have their recorded sizes, else None."""
    try:
        meta = json.loads((entry / META).read_text())
        for rel, size in meta["files"].items():
            if (entry / rel).stat().st_size != size:
                return None
        return meta
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _ticker(log: Log, what: str, stop: threading.Event, every: float) -> threading.Thread:
    t0 = time.monotonic()

    def run() -> None:
        while not stop.wait(every):
            log(f"index cache: {what} ({time.monotonic() - t0:.0f} s)")

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def ensure_index(cache_dir: str | os.PathLike, kind: str, inputs: Mapping[str, str | os.PathLike],
                 build: Callable[[Path], None], log: Log = print, *, version: str,
                 progress_seconds: float = PROGRESS_SECONDS, holder: str | os.PathLike | None = None,
                 max_bytes: int | None | EllipsisType = ...) -> Path:
    """The folder of a complete index of ``kind`` for ``inputs`` (name -> file), built with
    ``build(tmp_folder)`` if no job has built it yet; ``version`` (the tool's) is part of
    the key. Safe when several processes ask for the same index at once: one builds, the
    others wait and reuse it. ``log`` receives progress lines. Raises what ``build`` raises
    (the half-built folder is removed).

    ``holder`` is the job folder that will use the entry (default: the current folder); a lease
    for it is recorded under the entry's lock, so the entry is not removed while that job runs.
    After a build, entries are removed (least recently used first) while the cache is above
    ``max_bytes`` (default: ``LOCALGENE_INDEX_CACHE_MAX_GB``; None: unbounded)."""
    cache = Path(cache_dir)
    key, parts = index_key(kind, inputs, version, cache / "fingerprints")
    entry = cache / kind / key
    label = f"{kind} index {key[:12]}"
    holder = Path(holder if holder is not None else os.getcwd()).absolute()
    lock = cache / "locks" / f"{kind}-{key}.lock"
    stop = threading.Event()
    existed = verified(entry) is not None  # then the lock is held only briefly, by other users
    if not existed:
        _waiting_notice(lock, log, label, stop, progress_seconds)
    built = False
    with fileio.locked(lock) as waited:
        stop.set()
        if verified(entry):
            _use(cache, kind, key, holder)
            if existed:
                log(f"index cache: reusing {label} ({entry})")
            else:
                log(f"index cache: reusing {label}, built by another job while this one waited {waited:.0f} s")
            return entry
        if entry.exists():  # incomplete (files lost or changed): build it again
            shutil.rmtree(entry, ignore_errors=True)
        for stale in entry.parent.glob(f".{key}.*.tmp"):
            shutil.rmtree(stale, ignore_errors=True)
        tmp = entry.parent / f".{key}.{uuid.uuid4().hex[:12]}.tmp"
        tmp.mkdir(parents=True)
        log(f"index cache: building {label} from {', '.join(str(p) for p in inputs.values())}")
        t0 = time.monotonic()
        building = threading.Event()
        _ticker(log, f"still building {label}", building, progress_seconds)
        try:
            build(tmp)
            files = {p.relative_to(tmp).as_posix(): p.stat().st_size
                     for p in sorted(tmp.rglob("*")) if p.is_file()}
            if not files:
                raise IndexBuildFailed(f"building the {kind} index produced no files")
            for rel in files:
                fsync_path(tmp / rel)
            meta = {**parts, "key": key, "files": files, "seconds": round(time.monotonic() - t0, 1),
                    "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
            (tmp / META).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
            fsync_path(tmp / META)
            os.replace(tmp, entry)
            fsync_path(entry.parent)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        finally:
            building.set()
        _use(cache, kind, key, holder)
        built = True
        log(f"index cache: built {label} in {time.monotonic() - t0:.0f} s ({entry})")
    if built:
        if max_bytes is ...:
            from localgene import settings

            max_bytes = settings.load().index_cache_max_bytes
        if max_bytes is not None:
            evict(cache, int(max_bytes), keep=[entry], log=log)
    return entry


# -- use, leases and the size bound -------------------------------------------------------------


def _lease_dir(cache: Path, kind: str, key: str) -> Path:
    return cache / "leases" / f"{kind}-{key}"


def _use(cache: Path, kind: str, key: str, holder: Path) -> None:
    """Record a use of an entry (call under its lock): a lease for ``holder`` and the entry's
    last-use time (its folder's mtime, which least-recently-used removal sorts by)."""
    leases = _lease_dir(cache, kind, key)
    leases.mkdir(parents=True, exist_ok=True)
    name = hashlib.sha256(str(holder).encode()).hexdigest()[:24]
    fileio.atomic_write_text(leases / name, str(holder) + "\n", fsync=False)
    os.utime(cache / kind / key)


def hold(folder: str | os.PathLike) -> object:
    """Mark ``folder`` (a job's folder) as a running job's, for as long as the returned object
    is kept (a shared ``flock`` on ``folder/HOLD``; the kernel drops it when the process ends):
    entries leased to ``folder`` are not removed meanwhile."""
    return fileio.hold_shared(Path(folder) / HOLD)


def lease_live(folder: str | os.PathLike) -> bool:
    """Whether a job folder that leased an entry may still use it: it exists and has no
    :data:`HOLD` file (nobody said when it ends), or a process holds its HOLD file."""
    folder = Path(folder)
    if not folder.is_dir():
        return False
    try:
        return fileio.held_elsewhere(folder / HOLD, create=False)
    except OSError:  # no HOLD file (or it cannot be read): nobody said when the job ends
        return True


def live_leases(cache: str | os.PathLike, kind: str, key: str) -> list[str]:
    """The job folders whose leases on an entry are live; dead leases are removed."""
    live = []
    for lease in sorted(_lease_dir(Path(cache), kind, key).glob("[!.]*")):
        try:
            folder = lease.read_text().strip()
        except OSError:
            continue
        if lease_live(folder):
            live.append(folder)
        else:
            lease.unlink(missing_ok=True)
    return live


def entries(cache: str | os.PathLike) -> list[dict]:
    """Every complete entry: ``kind``, ``key``, ``path``, ``bytes`` (its files and meta.json)
    and ``last_used`` (epoch seconds), least recently used first."""
    cache = Path(cache)
    out: list[dict] = []
    if not cache.is_dir():
        return out
    for kind_dir in sorted(p for p in cache.iterdir() if p.is_dir() and p.name not in NOT_KINDS):
        for entry in kind_dir.iterdir():
            if entry.name.startswith("."):
                continue
            meta = verified(entry)
            if meta is None:
                continue
            try:
                size = sum(meta["files"].values()) + (entry / META).stat().st_size
                used = entry.stat().st_mtime
            except OSError:
                continue  # removed meanwhile
            out.append({"kind": kind_dir.name, "key": entry.name, "path": entry, "bytes": size, "last_used": used})
    return sorted(out, key=lambda e: (e["last_used"], e["path"].name))


def evict(cache: str | os.PathLike, max_bytes: int, *, keep=(), log: Log = print) -> list[Path]:
    """Remove least recently used entries until the cache holds at most ``max_bytes``; the
    entries removed. Never removes one in ``keep``, one whose lock is held, or one with a live
    lease (:func:`live_leases`)."""
    cache = Path(cache)
    keep = {Path(k) for k in keep}
    listed = entries(cache)
    total = sum(e["bytes"] for e in listed)
    removed: list[Path] = []
    in_use: list[str] = []
    for e in listed:
        if total <= max_bytes:
            break
        if e["path"] in keep:
            continue
        with fileio.try_locked(cache / "locks" / f"{e['kind']}-{e['key']}.lock") as mine:
            if not mine:
                in_use.append(f"{e['kind']} {e['key'][:12]} (being used now)")
                continue
            holders = live_leases(cache, e["kind"], e["key"])
            if holders:
                in_use.append(f"{e['kind']} {e['key'][:12]} (used by {holders[0]})")
                continue
            (e["path"] / META).unlink(missing_ok=True)  # incomplete from here on
            shutil.rmtree(e["path"], ignore_errors=True)
            shutil.rmtree(_lease_dir(cache, e["kind"], e["key"]), ignore_errors=True)
        total -= e["bytes"]
        removed.append(e["path"])
        log(f"index cache: removed {e['kind']} index {e['key'][:12]} ({e['bytes'] / 1e6:.1f} MB, least recently "
            f"used) to keep the cache under {max_bytes / (1 << 30):.2f} GB")
    if total > max_bytes:
        log(f"index cache: {total / (1 << 30):.2f} GB held, above the bound of {max_bytes / (1 << 30):.2f} GB; "
            f"entries in use are kept: {', '.join(in_use) or 'the one just built'}")
    return removed


def _waiting_notice(lock: Path, log: Log, label: str, stop: threading.Event, every: float) -> None:
    """Say so (now, then every ``every`` s) when another process holds the lock."""
    if not fileio.held_elsewhere(lock):
        return
    log(f"index cache: another job is building {label}; waiting for it")
    _ticker(log, f"still waiting for {label}", stop, every)


# -- the indexes localgene's pipelines use ---------------------------------------------------


def link_entry(entry: Path, folder: Path) -> list[Path]:
    """Symlink every file of an entry (not meta.json) into ``folder``; the links made."""
    folder.mkdir(parents=True, exist_ok=True)
    links = []
    meta = verified(entry)
    if meta is None:
        raise IndexBuildFailed(f"the cached index {entry} is incomplete")
    for rel in meta["files"]:
        link = folder / Path(rel).name
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to((entry / rel).absolute())
        links.append(link)
    return links

"""A shared cache of control coverage, so a cohort computes its panel of normals once.

``cnvkit.py coverage`` of a control BAM depends only on the BAM's content, the bin file
(target or antitarget BED), the coverage options and CNVkit itself. Every job that names the
same control with the same bins and options gets the same ``.cnn`` bytes, so the first job to
need it computes it and publishes it here; later jobs (and jobs running at the same time)
copy it into their own ``results/coverage/``.

Layout, under ``$LOCALGENE_HOME/cache/coverage/`` (passed to the workflow as the config key
``coverage_cache``; without that key nothing is reused)::

    locks/<key>.lock          fcntl.flock'ed while an entry is looked up, computed or published
    entries/<key[:2]>/<key>/coverage.cnn
    entries/<key[:2]>/<key>/meta.json    written last: an entry without it does not exist

The key is the SHA-256 of (see :func:`cache_key`):

* the control BAM's *content fingerprint*: its size, its first and last MiB, and the SHA-256
  of its ``.bai`` index (the index holds a virtual file offset for every 16 kb of every
  contig, so two BAMs that differ anywhere in their alignments differ in it). A copy of the
  same BAM elsewhere (another folder, a staged object) hits; a re-aligned or re-sorted BAM
  misses. ``touch`` does not invalidate (content decides, not mtime);
* the SHA-256 of the bin file the step reads (``results/regions/targets.{target,antitarget}.bed``,
  which already reflects the BED, the reference's accessible regions and target/antitarget
  options);
* the coverage options as CNVkit's parser reads them (so ``-q 10`` and ``--min-mapq 10`` are
  one key), including ``-p``;
* the CNVkit version, and the kind (target/antitarget).

Concurrency: one exclusive ``flock`` per key, held while an entry is checked and, on a miss,
while CNVkit computes it; a second job needing the same key waits and then reuses it, so each
control is computed once even when jobs run at the same time. Files are written under a
temporary name in the entry folder and renamed into place; ``meta.json`` (with the SHA-256 of
the ``.cnn``) is renamed last and is checked on every hit, so a crash leaves no entry that
looks complete. A killed process releases its lock (the kernel drops it with the file).
flock works across processes of one machine; on a cluster the cache folder must be on a file
system whose ``flock`` is coherent across nodes (NFSv4, Lustre, GPFS, BeeGFS), else set
``LOCALGENE_COVERAGE_REUSE=0``.

Size: unbounded unless ``LOCALGENE_COVERAGE_CACHE_MAX_GB`` is set; then, after each job, the
job process removes least recently used entries (a hit counts as a use) until the cache fits,
skipping any entry whose lock is held (:meth:`CoverageCache.prune`).

This module uses only the standard library: the workflow's coverage step imports it, also
when CNVkit runs from a conda environment.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import socket
import sys
import time
from pathlib import Path
from typing import Any, Iterator

from localgene import fileio
from localgene.settings import Environment

ENV_REUSE = "LOCALGENE_COVERAGE_REUSE"
CONFIG_KEY = "coverage_cache"
SUBDIR = "coverage"
CNN = "coverage.cnn"
META = "meta.json"
SAMPLE_BYTES = 1 << 20  # how much of the BAM's head and tail the fingerprint reads

#: Parsed coverage options that name files, not settings: never part of the key.
_NOT_OPTIONS = frozenset({"bam_or_bg_file", "interval", "output", "func"})


def reuse_enabled(env: dict[str, str] | None = None) -> bool:
    """Reuse is on unless ``LOCALGENE_COVERAGE_REUSE`` is 0/false/no/off."""
    raw = Environment.read(env).coverage_reuse.strip().lower()
    return raw not in ("0", "false", "no", "off")


def config_entry(home: str | os.PathLike | None = None) -> dict[str, str]:
    """The config key a job gets: ``{"coverage_cache": <home>/cache/coverage}``, or ``{}``
    when reuse is disabled. ``home`` defaults to the current settings' ``LOCALGENE_HOME``."""
    if not reuse_enabled():
        return {}
    if home is None:
        from localgene import settings

        path = settings.load().cache_dir / SUBDIR
    else:
        path = Path(home) / "cache" / SUBDIR
    return {CONFIG_KEY: str(path)}


# -- the key ----------------------------------------------------------------------------------


def sha256_file(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes (hex)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def bam_fingerprint(bam: str | os.PathLike, bai: str | os.PathLike) -> str:
    """Content fingerprint of a BAM: size, first and last MiB, and the index's SHA-256."""
    h = hashlib.sha256()
    with open(bam, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        h.update(f"size={size}\n".encode())
        h.update(fh.read(SAMPLE_BYTES))
        if size > SAMPLE_BYTES:
            fh.seek(max(SAMPLE_BYTES, size - SAMPLE_BYTES))
            h.update(fh.read(SAMPLE_BYTES))
    h.update(b"bai=" + sha256_file(bai).encode())
    return h.hexdigest()


def normalized_options(values: dict[str, Any]) -> str:
    """CNVkit's parsed coverage options (settings only), as canonical JSON."""
    kept = {k: v for k, v in values.items() if k not in _NOT_OPTIONS}
    return json.dumps(kept, sort_keys=True, default=str, separators=(",", ":"))


def cnvkit_version() -> str:
    """The CNVkit this Python runs (the one the coverage step invokes)."""
    try:
        from importlib.metadata import version

        return version("cnvkit")
    except Exception:  # noqa: BLE001 - not installed as a distribution: ask the program
        import subprocess

        exe = Path(sys.executable).with_name("cnvkit.py")
        out = subprocess.run([str(exe) if exe.exists() else "cnvkit.py", "version"],
                             capture_output=True, text=True, check=False)
        return out.stdout.strip() or "unknown"


def cache_key(*, bam: str, bai: str, bins: str, kind: str, options: str, cnvkit: str) -> tuple[str, dict]:
    """``(key, parts)``: the entry's key and what it was made of (kept in meta.json)."""
    parts = {
        "bam_fingerprint": bam_fingerprint(bam, bai),
        "bins_sha256": sha256_file(bins),
        "kind": kind,
        "coverage_options": options,
        "cnvkit": cnvkit,
    }
    key = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()
    return key, parts


# -- the cache --------------------------------------------------------------------------------


class CoverageCache:
    """The shared coverage cache in ``root`` (``$LOCALGENE_HOME/cache/coverage``)."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)

    def entry_dir(self, key: str) -> Path:
        return self.root / "entries" / key[:2] / key

    @contextlib.contextmanager
    def locked(self, key: str) -> Iterator[float]:
        """Hold the key's exclusive lock; yields the seconds spent waiting for it."""
        with fileio.locked(self.root / "locks" / f"{key}.lock") as waited:
            yield waited

    def lookup(self, key: str) -> tuple[Path, dict] | None:
        """A complete, verified entry ``(cnn path, meta)``, or None. Call under :meth:`locked`."""
        entry = self.entry_dir(key)
        try:
            meta = json.loads((entry / META).read_text())
            cnn = entry / CNN
            if sha256_file(cnn) != meta.get("cnn_sha256"):
                return None
            os.utime(entry / META)  # last use, for least-recently-used pruning
            return cnn, meta
        except (OSError, ValueError):
            return None

    def entries(self) -> list[tuple[str, int, float]]:
        """``(key, bytes, last use as epoch seconds)`` of every complete entry."""
        out = []
        for meta in self.root.glob(f"entries/*/*/{META}"):
            entry = meta.parent
            try:
                size = sum(f.stat().st_size for f in entry.iterdir() if f.is_file())
                out.append((entry.name, size, meta.stat().st_mtime))
            except OSError:
                continue  # removed meanwhile
        return out

    def prune(self, max_bytes: int) -> list[str]:
        """Remove least recently used entries until at most ``max_bytes`` are held; the keys
        removed. An entry whose lock is held (being computed, published or copied into a job)
        is skipped, so pruning never takes a file from under a running job."""
        entries = sorted(self.entries(), key=lambda e: e[2])
        total = sum(size for _, size, _ in entries)
        removed: list[str] = []
        for key, size, _ in entries:
            if total <= max_bytes:
                break
            with self._try_locked(key) as mine:
                if not mine:
                    continue
                entry = self.entry_dir(key)
                (entry / META).unlink(missing_ok=True)  # incomplete from here on
                shutil.rmtree(entry, ignore_errors=True)
            total -= size
            removed.append(key)
        return removed

    def _try_locked(self, key: str) -> contextlib.AbstractContextManager[bool]:
        return fileio.try_locked(self.root / "locks" / f"{key}.lock")

    def publish(self, key: str, cnn: str | os.PathLike, meta: dict) -> Path:
        """Copy a freshly computed ``.cnn`` into the entry (temp name, then rename; meta.json
        last). Call under :meth:`locked`."""
        entry = self.entry_dir(key)
        entry.mkdir(parents=True, exist_ok=True)
        for stale in entry.glob("*.part"):
            stale.unlink(missing_ok=True)
        (entry / META).unlink(missing_ok=True)  # an entry is incomplete until meta.json is back
        fileio.atomic_copy(cnn, entry / CNN, fsync=True)
        meta = {**meta, "cnn_sha256": sha256_file(entry / CNN)}
        fileio.atomic_write_json(entry / META, meta, sort_keys=True)
        return entry / CNN


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def this_host() -> str:
    return socket.gethostname()

"""Atomic file writes and file locks, the one place localgene does either.

* ``atomic_write_text`` / ``atomic_write_bytes`` / ``atomic_write_json`` / ``atomic_copy`` /
  ``atomic_symlink``: the new content goes to a temporary name in the destination's own folder
  (:func:`temp_path`, ``.<name>.<random>.part``), is flushed to disk, then renamed over the
  destination (``os.replace``). A reader sees the old file or the new one, never half of
  either; a crash leaves at most a ``.part`` file, which the next write does not reuse.
* ``locked(path)`` (exclusive or shared, waiting), ``try_locked(path)`` (not waiting) and
  ``held_elsewhere(path)``: ``flock`` on a lock file, created with its folder when missing. The
  kernel drops a lock when its holder dies, so a crashed process never leaves one behind.

Standard library only: the steps that run inside tool environments (e.g.
:mod:`localgene.cnvkit.step`) may import it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import IO, Any, Iterator

PathLike = str | os.PathLike


def temp_path(path: PathLike) -> Path:
    """A fresh temporary name beside ``path`` (same folder, so a rename is atomic)."""
    path = Path(path)
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.part")


def fsync_path(path: PathLike) -> None:
    """Flush a file (or a folder's entries) to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: PathLike) -> None:
    """Flush a folder's entries (a rename into it) to disk, as far as the file system lets us."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def _replacing(path: PathLike, *, make_parents: bool) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` when the block ends
    normally, remove it otherwise."""
    target = Path(path)
    if make_parents:
        target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(target)
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


@contextlib.contextmanager
def atomic_open(path: PathLike, *, binary: bool = False, encoding: str = "utf-8", mode: int | None = None,
                fsync: bool = True, make_parents: bool = False) -> Iterator[IO[Any]]:
    """A file to write ``path``'s new content into: it replaces ``path`` when the block ends
    normally (nothing changes if it raises). ``mode``: the new file's permissions (e.g.
    ``0o600`` for a file holding secrets, set before any byte is written)."""
    with _replacing(path, make_parents=make_parents) as tmp:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666 if mode is None else mode)
        with os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding=encoding) as fh:
            yield fh
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())


def atomic_write_bytes(path: PathLike, data: bytes, *, mode: int | None = None, fsync: bool = True,
                       make_parents: bool = False) -> Path:
    """Replace ``path`` with ``data`` atomically (see :func:`atomic_open`)."""
    with atomic_open(path, binary=True, mode=mode, fsync=fsync, make_parents=make_parents) as fh:
        fh.write(data)
    return Path(path)


def atomic_write_text(path: PathLike, text: str, *, encoding: str = "utf-8", mode: int | None = None,
                      fsync: bool = True, make_parents: bool = False) -> Path:
    """Replace ``path`` with ``text`` atomically (see :func:`atomic_write_bytes`)."""
    return atomic_write_bytes(path, text.encode(encoding), mode=mode, fsync=fsync, make_parents=make_parents)


def atomic_write_json(path: PathLike, data: Any, *, indent: int | None = 2, sort_keys: bool = False,
                      fsync: bool = True, make_parents: bool = False) -> Path:
    """Replace ``path`` with ``data`` as JSON (``indent`` 2 and a final newline by default;
    ``indent=None``: one compact line, no newline)."""
    text = json.dumps(data, indent=indent, sort_keys=sort_keys) + ("\n" if indent is not None else "")
    return atomic_write_text(path, text, fsync=fsync, make_parents=make_parents)


def atomic_copy(src: PathLike, dest: PathLike, *, copystat: bool = False, check_size: bool = False,
                fsync: bool = False, make_parents: bool = True) -> Path:
    """Copy ``src`` to ``dest`` atomically. ``copystat``: keep the source's times and mode;
    ``check_size``: an incomplete copy raises ``OSError`` (``dest`` untouched)."""
    with _replacing(dest, make_parents=make_parents) as tmp:
        shutil.copyfile(src, tmp)
        if copystat:
            shutil.copystat(src, tmp)
        if check_size and os.stat(tmp).st_size != os.stat(src).st_size:
            raise OSError(f"copy of {src} is incomplete")
        if fsync:
            fsync_path(tmp)
    return Path(dest)


def atomic_symlink(target: PathLike, link: PathLike) -> Path:
    """Make ``link`` a symlink to ``target``, replacing whatever ``link`` was atomically."""
    with _replacing(link, make_parents=False) as tmp:
        os.symlink(target, tmp)
    return Path(link)


# --------------------------------------------------------------------------------------------
# Locks


def _open_lock(path: PathLike) -> IO[str]:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return open(path, "a+")  # noqa: SIM115 - closed by the caller (the lock lasts as long as the file)


@contextlib.contextmanager
def locked(path: PathLike, *, shared: bool = False) -> Iterator[float]:
    """Hold a ``flock`` on ``path`` (exclusive, or ``shared``), waiting for it; yields the
    seconds spent waiting."""
    t0 = time.monotonic()
    with _open_lock(path) as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        try:
            yield time.monotonic() - t0
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


@contextlib.contextmanager
def try_locked(path: PathLike) -> Iterator[bool]:
    """Take the exclusive ``flock`` on ``path`` if nobody holds it; yields whether it was taken
    (held until the block ends)."""
    with _open_lock(path) as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def held_elsewhere(path: PathLike, *, create: bool = True) -> bool:
    """Whether another open file holds a ``flock`` on ``path`` now. ``create=False``: a missing
    file raises ``OSError`` instead of being created."""
    with (_open_lock(path) if create else open(path)) as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
        return False


def hold_shared(path: PathLike) -> IO[str]:
    """A shared ``flock`` on ``path`` held for as long as the returned file stays open."""
    fh = _open_lock(path)
    fcntl.flock(fh.fileno(), fcntl.LOCK_SH)
    return fh

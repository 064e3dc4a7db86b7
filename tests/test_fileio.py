"""localgene.fileio: atomic writes leave the old file or the new one, locks exclude each other
across processes, and the module needs nothing but the standard library."""

from __future__ import annotations

import ast
import json
import multiprocessing
import os
import stat
import sys
from pathlib import Path

import pytest

from localgene import fileio


def test_atomic_write_replaces_and_leaves_no_temporary(tmp_path: Path):
    path = tmp_path / "a.json"
    path.write_text("old")
    fileio.atomic_write_json(path, {"b": 1, "a": [2]}, sort_keys=True)
    assert path.read_text() == '{\n  "a": [\n    2\n  ],\n  "b": 1\n}\n'
    fileio.atomic_write_json(path, {"x": 1}, indent=None)
    assert path.read_text() == '{"x": 1}'
    fileio.atomic_write_bytes(path, b"\x00\x01")
    assert path.read_bytes() == b"\x00\x01"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]


def test_a_failed_write_keeps_the_old_content(tmp_path: Path):
    path = tmp_path / "keep.txt"
    path.write_text("old\n")
    with pytest.raises(RuntimeError), fileio.atomic_open(path) as fh:
        fh.write("half of the new")
        raise RuntimeError("stop")
    assert path.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]
    with pytest.raises(TypeError):
        fileio.atomic_write_json(path, {"not json": object()})
    assert path.read_text() == "old\n"


def test_mode_is_set_before_the_content_and_parents_on_request(tmp_path: Path):
    path = tmp_path / "deep" / "er" / "secret"
    with pytest.raises(FileNotFoundError):
        fileio.atomic_write_text(path, "s")
    fileio.atomic_write_text(path, "s3cr3t", mode=0o600, make_parents=True)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and path.read_text() == "s3cr3t"


def test_atomic_copy_and_symlink(tmp_path: Path):
    src = tmp_path / "src.bin"
    src.write_bytes(os.urandom(4096))
    os.utime(src, (1_000_000, 1_000_000))
    dest = fileio.atomic_copy(src, tmp_path / "out" / "copy.bin", copystat=True, check_size=True)
    assert dest.read_bytes() == src.read_bytes() and dest.stat().st_mtime == 1_000_000
    link = tmp_path / "link"
    fileio.atomic_symlink(src, link)
    fileio.atomic_symlink(dest, link)  # replaces the old link
    assert os.readlink(link) == str(dest)
    assert not list(tmp_path.rglob("*.part"))


def _hold(path: str, ready, release) -> None:
    with fileio.locked(path):
        ready.set()
        release.wait(120)


def test_locks_exclude_another_process(tmp_path: Path):
    lock = tmp_path / "locks" / "x.lock"  # its folder is created
    ctx = multiprocessing.get_context("fork")
    ready, release = ctx.Event(), ctx.Event()
    child = ctx.Process(target=_hold, args=(str(lock), ready, release))
    child.start()
    try:
        assert ready.wait(120)
        assert fileio.held_elsewhere(lock)
        with fileio.try_locked(lock) as mine:
            assert mine is False
    finally:
        release.set()
        child.join(120)
    assert not fileio.held_elsewhere(lock)
    with fileio.try_locked(lock) as mine:
        assert mine is True
    with fileio.locked(lock) as waited:
        assert waited >= 0


def test_a_shared_hold_blocks_an_exclusive_lock_until_closed(tmp_path: Path):
    path = tmp_path / "HOLD"
    with pytest.raises(OSError):
        fileio.held_elsewhere(path, create=False)
    held = fileio.hold_shared(path)
    assert fileio.held_elsewhere(path, create=False)
    held.close()
    assert not fileio.held_elsewhere(path, create=False)


def test_fileio_imports_only_the_standard_library():
    tree = ast.parse(Path(fileio.__file__).read_text())
    names = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    names |= {node.module.split(".")[0] for node in ast.walk(tree)
              if isinstance(node, ast.ImportFrom) and node.module and node.level == 0}
    assert names - {"__future__"} <= set(sys.stdlib_module_names), names


def test_json_round_trip(tmp_path: Path):
    data = {"ü": [1, 2.5, None, True]}
    fileio.atomic_write_json(tmp_path / "d.json", data)
    assert json.loads((tmp_path / "d.json").read_text()) == data

"""The demo generators' code fingerprint: code changes redo the data, docs and moves do not."""

from __future__ import annotations

import shutil
from pathlib import Path

from localgene.demo import fingerprint


def _copy_package(tmp_path: Path) -> Path:
    folder = tmp_path / "demo"
    shutil.copytree(Path(fingerprint.__file__).parent, folder, ignore=shutil.ignore_patterns("__pycache__"))
    return folder


def _fingerprint_in(monkeypatch, folder: Path, module: str) -> str:
    monkeypatch.setattr(fingerprint, "__file__", str(folder / "fingerprint.py"))
    return fingerprint.code_fingerprint(module)


def test_the_fingerprint_covers_the_demo_modules_a_generator_imports(tmp_path, monkeypatch):
    folder = _copy_package(tmp_path)
    original = fingerprint.code_fingerprint("localgene.demo.cnvkit")
    before = _fingerprint_in(monkeypatch, folder, "localgene.demo.cnvkit")
    assert before == original  # a copy of the same code
    reads = folder / "reads.py"
    # a docstring and a comment edited: same fingerprint
    text = reads.read_text()
    edited = text.replace('"""', '"""Edited. ', 1).replace("\nimport numpy as np\n", "\nimport numpy as np  # arrays\n", 1)
    assert edited != text
    reads.write_text(edited)
    assert _fingerprint_in(monkeypatch, folder, "localgene.demo.cnvkit") == before
    # code that computes something else: another fingerprint, also through an imported module
    design = folder / "design.py"
    design.write_text(design.read_text().replace("DUPLICATE_FRACTION = 0.03", "DUPLICATE_FRACTION = 0.04"))
    assert _fingerprint_in(monkeypatch, folder, "localgene.demo.cnvkit") != before


def test_moving_a_function_between_demo_modules_keeps_the_fingerprint(tmp_path, monkeypatch):
    folder = _copy_package(tmp_path)
    before = _fingerprint_in(monkeypatch, folder, "localgene.demo.cnvkit")
    cnvkit, reads = folder / "cnvkit.py", folder / "reads.py"
    text = cnvkit.read_text()
    start = text.index("def check_tools(")
    end = text.index("\ndef ", start + 1)
    function = text[start:end]
    cnvkit.write_text(text[:start] + text[end:])
    reads.write_text(reads.read_text() + "\n\n" + function)
    assert _fingerprint_in(monkeypatch, folder, "localgene.demo.cnvkit") == before


def test_the_dna_generator_follows_the_cnvkit_modules_it_imports(tmp_path, monkeypatch):
    folder = _copy_package(tmp_path)
    before = _fingerprint_in(monkeypatch, folder, "localgene.demo.dna")
    genome = folder / "genome.py"  # the DNA generator draws its bases with genome._random_bases
    genome.write_text(genome.read_text().replace("def _random_bases(", "def _unused():\n    return 1\n\n\ndef _random_bases(", 1))
    assert _fingerprint_in(monkeypatch, folder, "localgene.demo.dna") != before

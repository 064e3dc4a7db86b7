"""The reference registry: add/list/remove (library and CLI), names vs paths, resolution with
kinds, the DLI.0002 that lists the registry's names."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from localgene.errors import InputNotFound, InvalidRequest
from localgene.jobs import references


@pytest.fixture
def files(tmp_path):
    d = tmp_path / "refs"
    d.mkdir()
    for name in ("hg38.fa", "hg38.fa.fai", "genes.gtf", "dbsnp.vcf.gz", "dbsnp.vcf.gz.tbi", "pon.vcf.gz",
                 "targets.interval_list"):
        (d / name).write_text("x\n")
    return d


def test_add_list_remove_and_persisted_format(tmp_path, files):
    home = tmp_path / "home"
    entry = references.add(home, "hg38", [str(files / "hg38.fa"), str(files / "hg38.fa.fai")])
    assert entry.kind == "fasta" and entry.main == str(files / "hg38.fa")
    references.add(home, "dbsnp_146.hg38.vcf", [str(files / "dbsnp.vcf.gz"), str(files / "dbsnp.vcf.gz.tbi")])
    references.add(home, "pon1", [str(files / "pon.vcf.gz")], kind="pon")
    data = json.loads((home / "references.json").read_text())
    assert data["version"] == 1
    assert data["references"]["hg38"] == {"kind": "fasta", "files": [str(files / "hg38.fa"), str(files / "hg38.fa.fai")]}
    assert references.load(home).names() == ["dbsnp_146.hg38.vcf", "hg38", "pon1"]
    with pytest.raises(InvalidRequest, match="already in the registry"):
        references.add(home, "hg38", [str(files / "hg38.fa")])
    references.add(home, "hg38", [str(files / "hg38.fa")], replace=True)
    assert references.load(home).get("hg38").files == (str(files / "hg38.fa"),)
    assert references.remove(home, "pon1").kind == "pon"
    with pytest.raises(InputNotFound, match="has: dbsnp_146.hg38.vcf, hg38"):
        references.remove(home, "pon1")


def test_add_refuses_bad_names_missing_files_and_unknown_kinds(tmp_path, files):
    home = tmp_path / "home"
    for bad in ("", "a/b", "../x", "with space", "-x"):
        with pytest.raises(InvalidRequest, match="cannot be a reference name"):
            references.add(home, bad, [str(files / "hg38.fa")])
    with pytest.raises(InputNotFound, match=r"FILE\[0\].*does not exist"):
        references.add(home, "hg19", [str(tmp_path / "nope.fa")])
    with pytest.raises(InvalidRequest, match="cannot tell the kind"):
        references.add(home, "x", [str(files / "hg38.fa.fai")])
    with pytest.raises(InvalidRequest, match="--kind: must be one of"):
        references.add(home, "x", [str(files / "hg38.fa")], kind="genome")
    assert not (home / "references.json").exists(), "nothing stored by a refused add"


def test_relative_files_are_made_absolute_and_s3_kept(tmp_path, files, monkeypatch):
    monkeypatch.chdir(files)
    home = tmp_path / "home"
    assert references.add(home, "hg38", ["hg38.fa"]).files == (str(files / "hg38.fa"),)
    remote = references.add(home, "hg19", ["s3a://refs/hg19.fa"], check=False)
    assert remote.files == ("s3a://refs/hg19.fa",)


def test_resolution_names_paths_kinds_and_the_error_listing_names(tmp_path, files):
    home = tmp_path / "home"
    references.add(home, "hg38", [str(files / "hg38.fa"), str(files / "hg38.fa.fai")])
    references.add(home, "dbsnp", [str(files / "dbsnp.vcf.gz")])
    registry = references.load(home)
    fields = {"ref": "hg38", "knownsites[0]": "dbsnp", "knownsites[1]": "/abs/other.vcf",
              "input[0]": "hg38"}  # a read field is always a path, whatever it looks like
    resolved = references.resolve(fields, registry, name_fields=("ref", "knownsites"))
    assert resolved.fields == {"ref": str(files / "hg38.fa"), "ref~1": str(files / "hg38.fa.fai"),
                               "knownsites[0]": str(files / "dbsnp.vcf.gz"), "knownsites[1]": "/abs/other.vcf",
                               "input[0]": "hg38"}
    assert resolved.companions("ref") == ["ref~1"] and resolved.companions("knownsites[0]") == []

    with pytest.raises(InputNotFound) as err:
        references.resolve({"ref": "hg19"}, registry)
    assert err.value.code == "DLI.0002" and err.value.field == "ref"
    assert str(err.value) == ("ref: 'hg19' is not a path and not a name in the reference registry; "
                              "the registry has: dbsnp, hg38")
    with pytest.raises(InputNotFound, match=r"knownsites\[0\]: 'hg38' is a fasta .* takes vcf \(the registry has: dbsnp\)"):
        references.resolve({"knownsites[0]": "hg38"}, registry)
    with pytest.raises(InputNotFound, match="the registry has no names yet"):
        references.resolve({"ref": "hg38"}, references.load(tmp_path / "empty"))


def cli(home: Path, *args: str, cwd: Path | None = None):
    env = dict(os.environ, LOCALGENE_HOME=str(home))
    return subprocess.run([sys.executable, "-m", "localgene", "references", *args], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=120)


def test_references_cli(tmp_path, files):
    home = tmp_path / "home"
    assert "no references" in cli(home, "list").stdout
    added = cli(home, "add", "hg38", "hg38.fa", "hg38.fa.fai", cwd=files)
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip() == f"hg38 (fasta): {files / 'hg38.fa'}, {files / 'hg38.fa.fai'}"
    assert cli(home, "add", "wgs", str(files / "targets.interval_list")).returncode == 0
    table = cli(home, "list").stdout.splitlines()
    assert table[0].split() == ["NAME", "KIND", "FILES"] and table[1].split()[:2] == ["hg38", "fasta"]
    assert table[2].split()[:2] == ["wgs", "intervals"]
    assert json.loads(cli(home, "list", "--json").stdout)["wgs"]["kind"] == "intervals"
    refused = cli(home, "add", "hg19", str(tmp_path / "missing.fa"))
    assert refused.returncode == 2 and "does not exist" in refused.stderr and "Traceback" not in refused.stderr
    assert cli(home, "remove", "wgs").returncode == 0
    gone = cli(home, "remove", "wgs")
    assert gone.returncode == 2 and "the registry has: hg38" in gone.stderr

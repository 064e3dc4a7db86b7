"""Batch submission: `localgene submit --sample-sheet S --base B`, several job files, and
`localgene list --ids` (the local store; no workflow runs)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from localgene.cli import main
from localgene.store import Store


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    h = tmp_path / "home"
    monkeypatch.setenv("LOCALGENE_HOME", str(h))
    return h


@pytest.fixture
def base(demo_data, tmp_path) -> Path:
    body = json.loads((demo_data / "job.json").read_text())
    body["output_dir"] = str(tmp_path / "out")
    path = tmp_path / "base.json"
    path.write_text(json.dumps(body))
    return path


def sheet(tmp_path: Path, text: str, name: str = "sheet.tsv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def stored(home: Path) -> list:
    """Every job recorded in the store of ``home`` (the CLI's default project)."""
    from localgene import settings
    from localgene.cli.identity import DEFAULT_PROJECT

    store = Store.open(settings.load({"LOCALGENE_HOME": str(home)}).ensure_dirs())
    return store.list_jobs(DEFAULT_PROJECT, limit=100)[1]


def test_sheet_expands_one_job_per_row_and_list_filters_to_them(home, base, demo_data, tmp_path, capsys):
    # An unrelated job first: `list --ids` must leave it out.
    code, other, _ = cli(capsys, "submit", str(base))
    assert code == 0
    s = sheet(tmp_path, "# cohort A\nexperimental_input\toutput_dir\n"
                        f"{demo_data}/T1.bam\t\n\n{demo_data}/T2.bam\t{tmp_path}/elsewhere\n")
    code, out, err = cli(capsys, "submit", "--sample-sheet", str(s), "--base", str(base))
    assert code == 0, err
    ids = out.split()
    assert len(ids) == 2 and other.strip() not in ids
    assert "experimental_inputs replaced" in err  # the demo base names T1, T2 itself

    (tmp_path / "ids.txt").write_text(out)
    code, out, _ = cli(capsys, "list", "--ids", str(tmp_path / "ids.txt"))
    listing = json.loads(out)
    assert listing["count"] == 2
    by_id = {i["instance_id"]: i for i in listing["instances"]}
    assert set(by_id) == set(ids)
    first, second = by_id[ids[0]], by_id[ids[1]]
    assert first["experimental_inputs"] == [f"{demo_data}/T1.bam"]
    assert second["experimental_inputs"] == [f"{demo_data}/T2.bam"]
    assert first["output_dir"] == str(tmp_path / "out")
    assert second["output_dir"] == str(tmp_path / "elsewhere")
    assert first["control_inputs"] == second["control_inputs"] == json.loads(base.read_text())["control_inputs"]

    code, out, _ = cli(capsys, "list", "--ids", str(tmp_path / "ids.txt"), "--table")
    assert out.strip().endswith("(2 of 2)") and other.strip() not in out
    code, out, _ = cli(capsys, "list", "--table")
    assert out.strip().endswith("(3 of 3)")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("experimental_input\tcolour\n{d}/T1.bam\tred\n", "line 1: unknown column 'colour'"),
        ("sample\n{d}/T1.bam\n", "line 1: unknown column 'sample'"),
        ("output_dir\n/tmp\n", "line 1: the header has no 'experimental_input' column"),
        ("experimental_input\n", "has a header but no sample rows"),
        ("", "is empty"),
        ("experimental_input\toutput_dir\n{d}/T1.bam\t\n\t/tmp/x\n",
         "line 3, column experimental_input: is empty"),
        ("experimental_input\n{d}/T1.bam\n{d}/T1.bam\n",
         "line 3, column experimental_input: {d}/T1.bam is already on line 2"),
        ("experimental_input\n{d}/T1.bam\n{d}/missing/T9.bam\n",
         "line 3, column experimental_input: {d}/missing/T9.bam does not exist"),
        ("experimental_input\n{d}/T1.bam\n{d}/genome.fa\n",
         "line 3, column experimental_input: '{d}/genome.fa' is not a BAM file"),
        ("experimental_input\n{d}/T1.bam\ta\tb\n", "line 2: 3 cells but the header has 1 columns"),
    ],
)
def test_a_refused_row_is_named_and_nothing_is_recorded(home, base, demo_data, tmp_path, capsys, text, expected):
    s = sheet(tmp_path, text.format(d=demo_data))
    code, out, err = cli(capsys, "submit", "--sample-sheet", str(s), "--base", str(base))
    assert code == 2 and out == ""
    lines = [line for line in err.splitlines() if not line.startswith("note:")]
    assert len(lines) == 1, err
    assert f"{s}" in lines[0] and expected.format(d=demo_data) in lines[0], lines[0]
    assert stored(home) == []


def test_a_refused_base_field_names_the_base_job(home, base, demo_data, tmp_path, capsys):
    body = json.loads(base.read_text())
    body["segment_conf"] = "-m nope"
    base.write_text(json.dumps(body))
    s = sheet(tmp_path, f"experimental_input\n{demo_data}/T1.bam\n")
    code, _, err = cli(capsys, "submit", "--sample-sheet", str(s), "--base", str(base))
    assert code == 2
    assert f"{s} line 2, field segment_conf of the base job {base}:" in err
    assert "invalid choice: 'nope'" in err
    assert stored(home) == []


def test_several_job_files_are_all_or_nothing(home, base, demo_data, tmp_path, capsys):
    bad = json.loads(base.read_text())
    bad["control_inputs"] = [f"{demo_data}/N1.bam", f"{demo_data}/nope/N9.bam"]
    bad_path = tmp_path / "bad.json"
    bad_path.write_text(json.dumps(bad))
    code, out, err = cli(capsys, "submit", str(base), str(bad_path))
    assert code == 2 and out == ""
    assert err.startswith(f"localgene submit: error: {bad_path}: control_inputs[1]:"), err
    assert stored(home) == []
    code, out, _ = cli(capsys, "submit", str(base), str(base))
    assert code == 0 and len(out.split()) == 2 and len(stored(home)) == 2


def test_usage_errors(home, base, demo_data, tmp_path, capsys):
    s = sheet(tmp_path, f"experimental_input\n{demo_data}/T1.bam\n")
    assert "needs --base" in cli(capsys, "submit", "--sample-sheet", str(s))[2]
    assert "not both" in cli(capsys, "submit", str(base), "--sample-sheet", str(s), "--base", str(base))[2]
    assert "only with --sample-sheet" in cli(capsys, "submit", str(base), "--base", str(base))[2]
    assert "give one or more job files" in cli(capsys, "submit")[2]
    (tmp_path / "empty.txt").write_text("\n# nothing\n")
    assert "lists no instance_id" in cli(capsys, "list", "--ids", str(tmp_path / "empty.txt"))[2]
    assert stored(home) == []


def test_store_lists_only_the_given_ids(tmp_path):
    from localgene import settings
    from localgene.jobs.bodies import CNVKIT_KIND, new_record

    store = Store.open(settings.load({"LOCALGENE_HOME": str(tmp_path)}).ensure_dirs())
    records = [new_record("p", "u", CNVKIT_KIND, {"n": i}) for i in range(5)]
    store.submit_many(records)
    wanted = [records[1].instance_id, records[3].instance_id, "not-a-job"]
    count, page = store.list_jobs("p", instance_ids=wanted)
    assert count == 2 and {r.instance_id for r in page} == set(wanted[:2])
    assert store.list_jobs("p", instance_ids=[])[0] == 0
    assert store.list_jobs("p")[0] == 5

"""One settings class for every LOCALGENE_* variable, documented in docs/settings.md, read once."""

import json
import re
from pathlib import Path

from localgene import settings
from localgene.jobs import service as jobs
from localgene.run import workflow
from localgene.settings import Environment

ROOT = Path(__file__).resolve().parents[1]
#: Variables only the tests read (never the package, the workflow or the config).
_CODE = [ROOT / "localgene", ROOT / "rules", ROOT / "config", ROOT / "Snakefile"]


def _files():
    for where in _CODE:
        yield from ([where] if where.is_file() else (p for p in where.rglob("*") if p.is_file()))


def test_every_variable_the_code_names_is_a_field():
    named = set()
    for path in _files():
        try:
            named |= set(re.findall(r"\bLOCALGENE_[A-Z][A-Z0-9_]*[A-Z0-9]\b", path.read_text()))
        except UnicodeDecodeError:
            continue
    fields = {Environment.variable(name) for name in Environment.model_fields}
    assert named, "the search found no variable at all"
    assert named - fields == set(), "document these in localgene.settings.Environment"
    assert fields - named == set(), "fields no code reads"


def test_every_field_is_described():
    for name, info in Environment.model_fields.items():
        assert info.description and len(info.description) > 20, name


def test_docs_table_is_up_to_date():
    text = (ROOT / settings.DOCS_FILE).read_text()
    assert text == settings.docs_table(), (
        "docs/settings.md differs from localgene.settings.Environment: regenerate it with "
        "`python -m localgene.settings --docs`")
    for name in Environment.model_fields:
        assert f"`{Environment.variable(name)}`" in text


def test_a_given_mapping_is_all_that_is_read(monkeypatch):
    monkeypatch.setenv("LOCALGENE_SLOTS", "7")
    monkeypatch.setenv("LOCALGENE_EXECUTOR", "slurm")
    assert settings.load().slots == 7 and settings.load().env.executor == "slurm"
    given = settings.load({"LOCALGENE_SLOTS": "2"})
    assert given.slots == 2 and given.env.executor == ""


def test_a_job_uses_the_settings_it_was_given_not_the_environment_of_later(monkeypatch, tmp_path, demo_data):
    """Settings loaded at the entry point are what a running job uses: changing the environment
    afterwards changes nothing (the options cache of the job process stays where it was)."""
    first, later = tmp_path / "first", tmp_path / "later"
    monkeypatch.setenv("LOCALGENE_HOME", str(first))
    cfg = settings.load()
    monkeypatch.setenv("LOCALGENE_HOME", str(later))
    monkeypatch.setenv("LOCALGENE_COVERAGE_REUSE", "1")
    body = workflow.absolute_paths(json.loads((demo_data / "job.json").read_text()), demo_data)
    jobs.check_cnvkit(body, settings=cfg)
    workflow.prepare_job(body, tmp_path / "job", instance_id="x", cores=2, settings=cfg)
    assert list((first / "cache" / "options").glob("*.json"))
    assert not later.exists()
    config = json.loads((tmp_path / "job" / "config.json").read_text())
    assert config["coverage_cache"].startswith(str(first))

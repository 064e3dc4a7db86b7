"""config/schema.yaml and config/config.yaml are generated from the CNVkit body model."""

import copy
from pathlib import Path

import pytest
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from localgene.jobs import config_schema
from localgene.jobs.bodies import SERVICE_EXAMPLE_BODY, CnvkitBody

ROOT = Path(__file__).resolve().parents[2]


def test_checked_in_files_are_generated_from_the_model():
    differ = config_schema.stale(ROOT)
    assert differ == [], (
        f"{', '.join(map(str, differ))} differ from the body model: regenerate them with "
        "`python -m localgene.jobs.config_schema` (and commit the result)")


def test_check_mode_fails_on_a_stale_file(tmp_path, capsys):
    (tmp_path / "config").mkdir()
    for rel, text in config_schema.render().items():
        (tmp_path / rel).write_text(text)
    assert config_schema.main(["--check", "--dir", str(tmp_path)]) == 0
    (tmp_path / config_schema.SCHEMA_FILE).write_text("type: object\n")
    assert config_schema.main(["--check", "--dir", str(tmp_path)]) == 1
    assert "run python -m localgene.jobs.config_schema" in capsys.readouterr().err


def test_schema_has_every_body_field_and_the_localgene_keys():
    schema = config_schema.cnvkit_config_schema()
    assert list(schema["properties"]) == [*CnvkitBody.model_fields, *config_schema.ADDED_CONFIG_KEYS]
    assert schema["required"] == [n for n, f in CnvkitBody.model_fields.items() if f.is_required()]


def _validated(config):
    config = copy.deepcopy(config)
    validate(config, str(ROOT / config_schema.SCHEMA_FILE))
    return config


def test_snakemake_accepts_the_service_body_and_fills_only_option_defaults():
    body = {k: v for k, v in SERVICE_EXAMPLE_BODY.items() if k not in ("annotation_file", "sex_conf")}
    config = _validated({**body, "instance_id": "job-1"})
    assert config["sex_conf"] == ""  # an option's default is filled in
    assert "annotation_file" not in config  # an unsent path stays unsent


@pytest.mark.parametrize("change", [
    {"has_annotate": True, "annotation_file": ""},
    {"target_conf": 1},
    {"unknown": "x"},
    {"experimental_inputs": []},
])
def test_snakemake_refuses_what_the_model_refuses(change):
    with pytest.raises(WorkflowError):
        _validated({**SERVICE_EXAMPLE_BODY, **change})

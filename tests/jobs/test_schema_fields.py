"""The field lists derived from the body models are what the API contract says the fields are.

The contract (/work/shared/spec/gene-api.md, copied in the repository's spec folder when present)
is read here as text: section 1's table of CNVkit body fields, section 3's lines per pipeline.
"""

import re
from pathlib import Path

import pytest

from localgene.api import deps, models
from localgene.cnvkit import options
from localgene.jobs import bodies as schema
from localgene.jobs import pipeline_inputs
from localgene.storage import check as storage_check

SPEC = Path("/work/shared/spec/gene-api.md")


@pytest.fixture(scope="module")
def spec_text() -> str:
    if not SPEC.is_file():
        pytest.fail(f"the API contract {SPEC} is missing: it is the source these tests compare with")
    return SPEC.read_text()


@pytest.fixture(scope="module")
def cnvkit_table(spec_text) -> list[tuple[str, str]]:
    """(field, type) for every row of section 1's body-field table, in the spec's order."""
    section = spec_text.split("## 1.", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `(\w+)` \| [^|]+ \| ([^|]+) \|", section, flags=re.M)
    assert len(rows) >= 16, rows
    return [(name, kind.strip()) for name, kind in rows]


def _pipeline_line(spec_text: str, job_type: str) -> str:
    line = re.search(rf"^- `{job_type}`: (.+)$", spec_text, flags=re.M)
    assert line, job_type
    return line.group(1)


def test_cnvkit_body_fields_are_the_spec_table(cnvkit_table):
    assert list(schema.CnvkitBody.model_fields) == [name for name, _ in cnvkit_table]


def test_conf_fields_are_the_spec_conf_rows(cnvkit_table):
    spec_confs = [name for name, _ in cnvkit_table if name.endswith("_conf")]
    assert schema.CONF_FIELDS == tuple(spec_confs)
    assert len(schema.CONF_FIELDS) == 9
    # Each names its step ("options for the `target` step"): the step is the name's prefix.
    assert schema.CONF_FIELD_OF_STEP == {name.removesuffix("_conf"): name for name in spec_confs}
    # options keeps the workflow order of the steps; the fields are the model's.
    assert set(options.STEPS) == set(schema.CONF_FIELD_OF_STEP)
    assert options.CONF_FIELD_OF_STEP == schema.CONF_FIELD_OF_STEP


def test_path_fields_are_the_spec_string_rows_that_are_not_options(cnvkit_table):
    paths = [name for name, kind in cnvkit_table
             if kind in ("string", "array of string") and not name.endswith("_conf")]
    assert schema.CNVKIT_PATH_FIELDS == ("experimental_inputs", "control_inputs", "ref", "bed",
                                         "annotation_file", "output_dir")
    assert set(schema.CNVKIT_PATH_FIELDS) == set(paths)
    assert schema.CNVKIT_OUTPUT_FIELDS == ("output_dir",)
    assert schema.CNVKIT_INPUT_FIELDS == tuple(p for p in paths if p != "output_dir")
    assert set(schema.CNVKIT_LIST_PATH_FIELDS) == {n for n, k in cnvkit_table if k == "array of string"}
    assert set(schema.CNVKIT_SCALAR_PATH_FIELDS) == set(paths) - set(schema.CNVKIT_LIST_PATH_FIELDS)


def test_every_user_of_a_field_list_uses_the_derived_one():
    assert deps.PATH_FIELDS is schema.CNVKIT_PATH_FIELDS
    assert storage_check.CNVKIT_INPUT_FIELDS is schema.CNVKIT_INPUT_FIELDS
    assert pipeline_inputs.REFERENCE_FIELDS is schema.PIPELINE_REFERENCE_FIELDS
    assert pipeline_inputs.OUTPUT_FIELDS is schema.PIPELINE_OUTPUT_FIELDS
    from localgene.run import job_folder

    assert (*job_folder.LIST_PATH_FIELDS, *job_folder.PATH_FIELDS) == (
        *schema.CNVKIT_LIST_PATH_FIELDS, *schema.CNVKIT_SCALAR_PATH_FIELDS)
    # The listing's reply model echoes every body field, in body order, after the job fields.
    reply = list(models.CnvkitInstance.model_fields)
    assert reply[reply.index("experimental_inputs"):] == list(schema.CnvkitBody.model_fields)


def test_no_module_writes_the_conf_or_path_lists_out_again():
    """A tuple literal listing three or more of the CNVkit option or path fields, anywhere in
    the package or the workflow, is a list restated instead of derived."""
    root = Path(schema.__file__).resolve().parents[2]  # localgene/jobs/service/bodies.py -> the checkout
    names = "|".join((*schema.CONF_FIELDS, *schema.CNVKIT_PATH_FIELDS))
    literal = re.compile(rf'\(\s*(?:"(?:{names})",\s*){{3,}}')
    offenders = []
    for path in [*(root / "localgene").rglob("*.py"), *(root / "rules").rglob("*.smk"), root / "Snakefile"]:
        if literal.search(path.read_text()):
            offenders.append(str(path.relative_to(root)))
    assert offenders == []


@pytest.mark.parametrize("job_type", schema.PIPELINE_KINDS)
def test_pipeline_field_lists_name_spec_fields(spec_text, job_type):
    line = _pipeline_line(spec_text, job_type)
    mentioned = set(re.findall(r"`(\w+)`", line))
    germline = set(re.findall(r"`(\w+)`", _pipeline_line(spec_text, "DNA_GERMLINE")))
    model = schema.PIPELINE_MODELS[job_type]
    for name in (*schema.PIPELINE_REFERENCE_FIELDS[job_type], *schema.PIPELINE_OUTPUT_FIELDS[job_type]):
        assert name in model.model_fields and name in mentioned, name
    for name in schema.PIPELINE_CONF_FIELDS[job_type]:
        # DNA_SOMATIC says "the three `*_conf` lists": the germline line names them.
        assert name.endswith("_conf") and name in germline, name
    assert "ref" in schema.PIPELINE_REFERENCE_FIELDS[job_type]
    assert schema.PIPELINE_OUTPUT_FIELDS[job_type][0] == "output"
    if job_type.startswith("DNA"):
        assert len(schema.PIPELINE_CONF_FIELDS[job_type]) == 3

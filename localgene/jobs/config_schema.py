"""``config/schema.yaml`` and ``config/config.yaml`` (Snakemake's check and defaults of a CNVkit
job's config) generated from :class:`localgene.jobs.bodies.CnvkitBody`, so they cannot drift from it.

Regenerate after changing the body model::

    python -m localgene.jobs.config_schema          # writes config/schema.yaml and config/config.yaml
    python -m localgene.jobs.config_schema --check  # exit 1 if a checked-in file differs

The schema is the model's JSON schema (titles dropped) plus what pydantic cannot express: the
keys localgene adds when it runs a job (:data:`ADDED_CONFIG_KEYS`) and the rule that
``has_annotate: true`` needs an ``annotation_file``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

from localgene.jobs.bodies import CNVKIT_PATH_FIELDS, CnvkitBody

#: Config keys localgene adds to a CNVkit body when it runs the job (never part of a request).
ADDED_CONFIG_KEYS: dict[str, dict[str, Any]] = {
    "coverage_cache": {
        "description": "set by localgene (not part of the service's body): a shared folder where "
        "control coverage is cached and reused across jobs ($LOCALGENE_HOME/cache/coverage); "
        "absent, every coverage is computed (see docs/batches.md)",
        "type": "string",
        "minLength": 1,
    },
    "instance_id": {
        "description": "set by localgene; results are delivered to output_dir/<instance_id>/",
        "type": "string",
        "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]*$",
    },
}

GENERATED = "# Generated from localgene.jobs.bodies.CnvkitBody by `python -m localgene.jobs.config_schema`: do not edit.\n"
SCHEMA_FILE = Path("config") / "schema.yaml"
DEFAULTS_FILE = Path("config") / "config.yaml"


def _untitled(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _untitled(v) for k, v in node.items() if k != "title"}
    if isinstance(node, list):
        return [_untitled(v) for v in node]
    return node


def cnvkit_config_schema() -> dict[str, Any]:
    """The JSON schema Snakemake validates a CNVkit job's config with."""
    model = _untitled(CnvkitBody.model_json_schema())
    assert "$defs" not in model, "config/schema.yaml expects a flat body model"
    for name in CNVKIT_PATH_FIELDS:  # an unsent path stays unsent (no default filled in)
        model["properties"][name].pop("default", None)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "description": "A CNVkit job body in the gene service's format (POST "
        "/v2.0/{project_id}/gene/tools/cnvkit), plus the keys localgene adds when it runs a job.",
        "type": "object",
        "additionalProperties": False,
        "required": model["required"],
        "properties": {**model["properties"], **ADDED_CONFIG_KEYS},
        "if": {"properties": {"has_annotate": {"const": True}}, "required": ["has_annotate"]},
        "then": {"required": ["annotation_file"], "properties": {"annotation_file": {"minLength": 1}}},
    }


def cnvkit_config_defaults() -> dict[str, Any]:
    """The optional fields' defaults (``config/config.yaml``, read before the job's config);
    paths have none (an unsent ``annotation_file`` stays unsent)."""
    return {name: info.default for name, info in CnvkitBody.model_fields.items()
            if not info.is_required() and name not in CNVKIT_PATH_FIELDS}


def render() -> dict[Path, str]:
    """file (relative to the workflow folder) -> its generated text."""
    dump = lambda data: yaml.safe_dump(data, sort_keys=False, width=100, allow_unicode=True)  # noqa: E731
    defaults_note = ("# Defaults for a CNVkit job. A job body in the service's format (see README, \"Job body\")\n"
                     "# given with `--configfile job.json` overrides these; config/schema.yaml checks the result.\n")
    return {SCHEMA_FILE: GENERATED + dump(cnvkit_config_schema()),
            DEFAULTS_FILE: GENERATED + defaults_note + dump(cnvkit_config_defaults())}


def stale(workflow_dir: Path) -> list[Path]:
    """The generated files under ``workflow_dir`` that differ from what :func:`render` gives."""
    out = []
    for rel, text in render().items():
        path = workflow_dir / rel
        if not path.is_file() or path.read_text() != text:
            out.append(rel)
    return out


def main(argv: list[str] | None = None) -> int:
    from localgene.run.workflow import workflow_dir

    p = argparse.ArgumentParser(prog="python -m localgene.jobs.config_schema", description=__doc__.split("\n")[0])
    p.add_argument("--check", action="store_true", help="only report files that differ (exit 1)")
    p.add_argument("--dir", type=Path, default=None, help="workflow folder (default: this installation's)")
    args = p.parse_args(argv)
    folder = args.dir or workflow_dir()
    if args.check:
        differ = stale(folder)
        for rel in differ:
            print(f"{folder / rel} is out of date: run python -m localgene.jobs.config_schema", file=sys.stderr)
        return 1 if differ else 0
    for rel, text in render().items():
        (folder / rel).write_text(text)
        print(f"wrote {folder / rel}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

# localgene: one CNVkit copy-number job, as the gene service's submit body describes it.
#
#   snakemake --cores 2 --configfile job.json [--directory JOB_FOLDER]
#
# The job body (see config/schema.yaml) names the BAMs, reference, targets, annotation and one
# option string per CNVkit step. Every option string is checked against CNVkit's own argument
# parser before anything runs (localgene.options); each step runs `cnvkit.py <step>` with an
# argument list, never through a shell. Outputs are written under the working directory
# (results/, logs/) and delivered to output_dir at the end. The layout is in README.md.

from pathlib import Path

from snakemake.utils import min_version, validate

min_version("9.0")

configfile: Path(workflow.basedir) / "config" / "config.yaml"

validate(config, Path(workflow.basedir) / "config" / "schema.yaml")


include: "rules/common.smk"
include: "rules/inputs.smk"
include: "rules/regions.smk"
include: "rules/coverage.smk"
include: "rules/reference.smk"
include: "rules/fix.smk"
include: "rules/segment.smk"
include: "rules/call.smk"
include: "rules/genemetrics.smk"
include: "rules/sex.smk"
include: "rules/plots.smk"
include: "rules/deliver.smk"


rule all:
    input:
        DELIVERED,
    default_target: True

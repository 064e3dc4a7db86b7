# localgene: one gene job, as the gene service's submit body describes it.
#
#   snakemake --cores 2 --configfile job.json [--directory JOB_FOLDER]
#
# A body with a `job_type` (DNA_GERMLINE, DNA_SOMATIC, RNA_DIFF_EXPR: POST /gene/jobs) runs that
# pipeline's workflow, rules/<job_type in lower case>/main.smk, with its config checked by
# config/<job_type in lower case>.schema.yaml. Any other body is a CNVkit job
# (POST /gene/tools/cnvkit): it names the BAMs, reference, targets, annotation and one option
# string per CNVkit step. Every option string is checked against CNVkit's own argument parser
# before anything runs (localgene.cnvkit.options); each step runs `cnvkit.py <step>` with an argument
# list, never through a shell. Outputs are written under the working directory (results/,
# logs/) and delivered to output_dir at the end. The layout is in README.md.

from pathlib import Path

from snakemake.utils import min_version, validate

min_version("9.0")

JOB_TYPE = config.get("job_type")

if JOB_TYPE:
    PIPELINE = str(JOB_TYPE).lower()
    validate(config, Path(workflow.basedir) / "config" / f"{PIPELINE}.schema.yaml")

    include: f"rules/{PIPELINE}/main.smk"

    # While this run lasts, the reference indexes it links from the shared index cache are in
    # use: a shared flock on <job folder>/.index-cache-hold, dropped when Snakemake exits
    # (localgene.pipelines.index_cache: entries leased to a held folder are never removed).
    if workflow.is_main_process:
        from localgene.pipelines import index_cache as _index_cache

        INDEX_CACHE_HOLD = _index_cache.hold(Path.cwd())

    # The default target: a pipeline's workflow ends with the rule that delivers its results
    # and writes logs/delivered.json (Snakemake ignores default targets set in included files).
    rule all:
        input:
            "logs/delivered.json",
        default_target: True

else:

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
    include: "rules/report.smk"
    include: "rules/deliver.smk"

    rule all:
        input:
            DELIVERED,
        default_target: True

# Coverage: read depth of every control and experimental BAM in target and antitarget bins.
#
# With the config key `coverage_cache` (set by localgene for its jobs; see docs/batches.md), a
# control's coverage is looked up in that shared cache first and reused when the same BAM
# content, bin file, coverage options and CNVkit version were computed before (by this job or
# any other); otherwise it is computed as below and published. Without the key (plain
# `snakemake --configfile job.json`) every coverage is computed by run_cnvkit.py, as always.

from localgene import coverage_cache as lg_coverage_cache

COVERAGE_CACHE = config.get("coverage_cache") or ""
# The coverage options as CNVkit's parser read them: part of the cache key.
COVERAGE_OPTIONS = lg_coverage_cache.normalized_options(PLAN.options.steps["coverage"].values)
COVERAGE_SCRIPT = "scripts/coverage_step.py"


def coverage_cache_of(wc):
    """The shared cache folder for a control's coverage, or "" (experimental samples)."""
    return COVERAGE_CACHE if wc.sample in CONTROLS else ""


rule coverage:
    input:
        bam=BAM,
        bai=BAI,
        bins=lambda wc: TARGETS if wc.kind == "target" else ANTITARGETS,
    output:
        COVERAGE,
    log:
        "logs/coverage/{sample}.{kind}.log",
    threads: step_threads("coverage")
    params:
        argv=lambda wc, input, output: ["coverage", input.bam, input.bins]
        + PLAN.argv("coverage")
        + ["-o", output[0]],
        cache=coverage_cache_of,
        options=COVERAGE_OPTIONS,
        instance_id=RUN_ID,
        basedir=workflow.basedir,
    conda:
        CNVKIT_ENV
    script:
        COVERAGE_SCRIPT if COVERAGE_CACHE else CNVKIT_SCRIPT

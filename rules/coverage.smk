# Coverage: read depth of every control and experimental BAM in target and antitarget bins.
#
# One job per sample writes both its target and antitarget .cnn, so a BAM is read once for
# both (localgene.cnvkit.coverage_step, forked by the job's CNVkit step server where there is one,
# else its own process; localgene.cnvkit.coverage_engine: mosdepth's base counts handed to CNVkit's own table code
# where that is proven to give the same bytes as `cnvkit.py coverage`, else `cnvkit.py
# coverage` itself; each kind's log names the engine). The jobs of all samples are
# independent, so Snakemake runs them side by side on the job's cores.
#
# With the config key `coverage_cache` (set by localgene for its jobs; see docs/batches.md), a
# control's coverage is looked up in that shared cache first and reused when the same BAM
# content, bin file, coverage options and CNVkit version were computed before (by this job or
# any other); otherwise it is computed as below and published. Without the key (plain
# `snakemake --configfile job.json`) every coverage is computed.

import json

from localgene.cnvkit import coverage_cache as lg_coverage_cache

COVERAGE_CACHE = config.get("coverage_cache") or ""
# The coverage options as CNVkit's parser read them: part of the cache key.
COVERAGE_OPTIONS = lg_coverage_cache.normalized_options(PLAN.options.steps["coverage"].values)
# What the engine needs to know of them to decide whether it may run (JSON-able values only).
COVERAGE_ENGINE_OPTIONS = {
    k: PLAN.options.steps["coverage"].values.get(k) for k in ("count", "fasta", "min_mapq", "processes")
}
COVERAGE_KINDS = ("target", "antitarget")


def coverage_cache_of(wc):
    """The shared cache folder for a control's coverage, or "" (experimental samples)."""
    return COVERAGE_CACHE if wc.sample in CONTROLS else ""


def coverage_threads():
    """The coverage step's threads: its `-p`, raised to 2 only where the job has fewer BAMs
    than cores (a core would idle otherwise; with 2 threads the mosdepth engine reads the BAM
    twice side by side: localgene.cnvkit.coverage_engine.fast_pass). With at least as many BAMs
    as cores, one thread per step keeps every core busy: in a two-thread step the guard pass
    outlasts mosdepth and the table code runs alone (docs/coverage.md, "Threads")."""
    own = step_threads("coverage")
    if len(PLAN.experimental) + len(PLAN.controls) >= workflow.cores:
        return own
    return max(own, min(2, workflow.cores))


def coverage_priority(wc):
    """Controls first: the reference needs only theirs, so it (and the fix and segment of the
    first tumour covered) runs beside the last coverage steps instead of after them."""
    return 1 if wc.sample in CONTROLS else 0


def coverage_argv(wc, input, output):
    """Per kind, the `cnvkit.py coverage` argument list its .cnn stands for."""
    bins = {"target": input.targets, "antitarget": input.antitargets}
    return {kind: ["coverage", input.bam, bins[kind]] + PLAN.argv("coverage") + ["-o", output[kind]]
            for kind in COVERAGE_KINDS}


rule coverage:
    input:
        bam=BAM,
        bai=BAI,
        targets=TARGETS,
        antitargets=ANTITARGETS,
    output:
        target=COVERAGE.replace("{kind}", "target"),
        antitarget=COVERAGE.replace("{kind}", "antitarget"),
    log:
        target="logs/coverage/{sample}.target.log",
        antitarget="logs/coverage/{sample}.antitarget.log",
    threads: coverage_threads()
    priority: coverage_priority
    params:
        argv=coverage_argv,
        cache=coverage_cache_of,
    conda:
        CNVKIT_ENV
    run:
        coverage_step(wildcards, input, output, log, threads, params, conda_env)


def coverage_step(wildcards, input, output, log, threads, params, conda_env):
    """The coverage rule's `run:` block: one request for localgene.cnvkit.coverage_step."""
    request = {
        "sample": wildcards.sample, "bam": input.bam, "bai": input.bai, "threads": threads,
        "bins": {"target": input.targets, "antitarget": input.antitargets},
        "outputs": {kind: output[kind] for kind in COVERAGE_KINDS},
        "logs": {kind: log[kind] for kind in COVERAGE_KINDS},
        "argv": params.argv, "cache": params.cache, "options": COVERAGE_OPTIONS,
        "engine_options": COVERAGE_ENGINE_OPTIONS, "instance_id": RUN_ID,
    }
    code = lg_cnvkit_step.run_entry("coverage", [json.dumps(request)], log["target"], step="coverage",
                                    wildcards=dict(wildcards.items()), conda_prefix=conda_env)
    if code != 0:
        raise StepFailed(f"coverage of {wildcards.sample} exited with code {code}; see {log['target']}")

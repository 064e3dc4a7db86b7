# Report: CNVkit's own quality metrics of every experimental sample (one `cnvkit.py metrics`
# table), then results/report.html, one self-contained page (plots inlined) that shows the
# job's results, QC, run record and timeline (localgene.report; docs/report.md).

from localgene import report as lg_report

METRICS = "results/qc/metrics.tsv"
REPORT = lg_report.REPORT_PATH

# The layout the report reads, named as localgene.report.cnvkit expects (paths from common.smk).
REPORT_PATHS = {
    "summary": SUMMARY,
    "cnr": CNR,
    "call": CALL,
    "genemetrics": GENEMETRICS,
    "scatter": SCATTER,
    "diagram": DIAGRAM,
    "coverage": COVERAGE,
    "sex": SEX,
    "metrics": METRICS,
}


rule metrics:
    input:
        cnr=expand(CNR, sample=EXPERIMENTAL),
        cns=expand(CNS, sample=EXPERIMENTAL),
    output:
        METRICS,
    log:
        "logs/metrics.log",
    params:
        argv=lambda wc, input, output: ["metrics", *input.cnr, "-s", *input.cns, "-o", output[0]],
    conda:
        CNVKIT_ENV
    run:
        cnvkit_step(rule, params.argv, log[0], wildcards, conda_env)


rule report:
    input:
        expand([CNR, CALL, GENEMETRICS, SCATTER, DIAGRAM], sample=EXPERIMENTAL),
        expand(COVERAGE, sample=SAMPLES, kind=["target", "antitarget"]),
        SEX,
        SUMMARY,
        METRICS,
    output:
        REPORT,
    params:
        paths=REPORT_PATHS,
    log:
        "logs/report.log",
    run:
        localgene_step(rule, params, input, output, log[0], wildcards)

# Summary and delivery: a record of what ran (options per step, warnings, tool versions) next
# to the results, then every result copied to output_dir (output_dir/<instance_id>/ when the
# job has an instance_id).

import json
import shutil

import snakemake as _snakemake

import localgene


def _cnvkit_version():
    from importlib.metadata import version

    return version("cnvkit")


RESULTS = (
    expand(
        [CNR, CNS, CALL, GENEMETRICS, SCATTER, DIAGRAM, DIAGRAM_PDF],
        sample=EXPERIMENTAL,
    )
    + expand(COVERAGE, sample=SAMPLES, kind=["target", "antitarget"])
    + [ACCESS, TARGETS, ANTITARGETS, REFERENCE, SEX]
)


rule summary:
    input:
        RESULTS,
    output:
        SUMMARY,
    run:
        lg_inputs.write_json(
            output[0],
            {
                "instance_id": PLAN.instance_id,
                "request": {k: v for k, v in config.items() if k != "instance_id"},
                "samples": {"experimental": PLAN.experimental, "controls": PLAN.controls},
                "steps": {step: PLAN.argv(step) for step in PLAN.options.steps},
                "warnings": PLAN.warnings,
                "versions": {
                    "localgene": localgene.__version__,
                    "cnvkit": _cnvkit_version(),
                    "snakemake": _snakemake.__version__,
                },
            },
        )


rule deliver:
    input:
        RESULTS + [SUMMARY],
    output:
        DELIVERED,
    log:
        "logs/deliver.log",
    run:
        from localgene import delivery

        with lg_inputs.logged_problems(log[0]):
            delivered = delivery.deliver_results("results", PLAN.output_dir, PLAN.instance_id)
            lg_inputs.write_json(output[0], {"output_dir": PLAN.output_dir, "files": delivered})

# A test-only pipeline workflow (installed by tests/pipeline_helpers.py as rules/<job_type>/main.smk
# of a temporary workflow folder beside a copy of the product Snakefile; never in the product
# tree). It runs real small tools on what the job process staged and delivers like a real one:
#   seen      - the config the workflow got (tests check the contract: local absolute paths)
#   faidx     - `samtools faidx` of the staged ref into results/
#   indexes   - the shared index cache (faidx + dict) linked into inputs/reference/
#   region    - `samtools faidx` of a region through inputs/reference/reference.fa
#   hold      - waits while the file named by $LOCALGENE_TEST_HOLD exists (cancel tests), as a
#               real child process (`sleep`), so "no process left" means something
#   deliver   - localgene's delivery to the body's `output`, then logs/delivered.json

import json
import os
import subprocess
from pathlib import Path

SCRIPT = str(Path(workflow.basedir) / "rules" / "scripts" / "pipeline_step.py")
RUN_ID = config.get("instance_id") or Path.cwd().name
HOLD = os.environ.get("LOCALGENE_TEST_HOLD", "")

# What the Snakefile's `rule all` asks for.
PIPELINE_TARGETS = ["logs/delivered.json"]


rule seen:
    output:
        "results/config_seen.json",
    run:
        Path(output[0]).write_text(json.dumps(config, indent=2, sort_keys=True))


rule faidx:
    input:
        config["ref"],
    output:
        "results/reference.fa.fai",
    log:
        "logs/faidx.log",
    run:
        with open(log[0], "w") as err:
            subprocess.run(["samtools", "faidx", input[0], "--fai-idx", output[0]], check=True, stderr=err)


rule indexes:
    input:
        config["ref"],
    output:
        directory("inputs/reference"),
    params:
        step="indexes",
        kinds=["faidx", "dict"],
        fasta=config["ref"],
        cache=config["index_cache"],
    log:
        "logs/indexes.log",
    script:
        SCRIPT


rule region:
    input:
        "inputs/reference",
        "results/hold.done",
    output:
        "results/first_bases.fa",
    log:
        "logs/region.log",
    run:
        fasta = Path(input[0]) / "reference.fa"
        name = Path(input[0], "reference.fa.fai").read_text().split("\t", 1)[0]
        with open(output[0], "w") as out, open(log[0], "w") as err:
            subprocess.run(["samtools", "faidx", str(fasta), f"{name}:1-20"], check=True, stdout=out, stderr=err)


rule hold:
    output:
        "results/hold.done",
    run:
        while HOLD and Path(HOLD).exists():
            subprocess.run(["sleep", "0.5"], check=True)
        Path(output[0]).write_text("done\n")


rule deliver:
    input:
        "results/config_seen.json",
        "results/reference.fa.fai",
        "results/first_bases.fa",
    output:
        "logs/delivered.json",
    params:
        step="deliver",
        results="results",
        output=config["output"],
        instance_id=RUN_ID,
        main="results/reference.fa.fai",
    log:
        "logs/deliver.log",
    script:
        SCRIPT

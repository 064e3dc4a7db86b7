"""Run one CNVkit step from a ``script:`` rule: ``cnvkit.py <params.argv…>``, no shell.

Snakemake passes the checked argument list in ``params.argv``; stdout and stderr go to the
rule's log. How the step runs (through the job's CNVkit step server, or as its own
``cnvkit.py`` process) is decided by :func:`localgene.cnvkit.step.run_cnvkit`, the same function
the ``run:`` rules call. For the chromosome diagram, ``params.png`` names a PNG rendering of the
PDF that CNVkit draws. Imports only the standard library and localgene's stdlib-only modules
(found through the workflow folder), so this also runs inside the conda environment of
envs/cnvkit.yaml.
"""

import sys
from pathlib import Path

snakemake = globals()["snakemake"]  # injected by Snakemake's script directive
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1]))

from localgene.cnvkit.step import pdf_to_png, run_cnvkit  # noqa: E402

code = run_cnvkit(snakemake.params.argv, snakemake.log[0], step=snakemake.rule,
                  wildcards=dict(snakemake.wildcards.items()))
if code != 0:
    sys.exit(code)
png = getattr(snakemake.params, "png", None)
if png:
    pdf_to_png(snakemake.output.pdf, png)

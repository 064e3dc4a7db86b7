"""Run one CNVkit step for Snakemake: ``cnvkit.py <argv…>`` as an argument list, no shell.

Snakemake passes the checked argument list in ``params.argv``; stdout and stderr go to the
rule's log. For the chromosome diagram, ``params.png`` names a PNG rendering of the PDF that
CNVkit draws. This script imports nothing from localgene, so it also runs inside the conda
environment of envs/cnvkit.yaml.
"""

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

snakemake = globals()["snakemake"]  # injected by Snakemake's script directive


def cnvkit_executable():
    beside = Path(sys.executable).with_name("cnvkit.py")
    return str(beside) if beside.exists() else (shutil.which("cnvkit.py") or "cnvkit.py")


def pdf_to_png(pdf, png, scale=2.0):
    import pypdfium2

    doc = pypdfium2.PdfDocument(pdf)
    try:
        image = doc[0].render(scale=scale).to_pil()
        image.save(png)
    finally:
        doc.close()


argv = [cnvkit_executable(), *map(str, snakemake.params.argv)]
with open(snakemake.log[0], "w") as log:
    log.write("$ cnvkit.py " + shlex.join(argv[1:]) + "\n")
    log.flush()
    code = subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL).returncode
if code != 0:
    sys.exit(code)
png = snakemake.params.get("png") if hasattr(snakemake.params, "get") else getattr(snakemake.params, "png", None)
if png:
    pdf_to_png(snakemake.output.pdf, png)

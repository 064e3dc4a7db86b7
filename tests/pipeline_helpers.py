"""Helpers of the pipeline-job tests: a workflow folder with a tiny real test workflow for every
job type, seeded synthetic FASTA/FASTQ files, and valid pipeline bodies over them.

The workflow folder is what ``LOCALGENE_WORKFLOW_DIR`` points at: a copy of the product's own
top-level Snakefile (so its dispatch by ``job_type`` is what runs), ``rules/scripts`` linked
from the product, and ``tests/pipeline_workflow/main.smk`` as ``rules/<job_type>/main.smk``.
No test-only rules ever go into the product tree.
"""

from __future__ import annotations

import gzip
import random
import shutil
from pathlib import Path
from typing import Any

from localgene.jobs.bodies import PIPELINE_KINDS
from localgene.run.workflow import workflow_dir

TEST_WORKFLOW = Path(__file__).resolve().parent / "pipeline_workflow"
PRODUCT = Path(__file__).resolve().parent.parent


def install_workflow(root: Path, kinds=PIPELINE_KINDS) -> Path:
    """A workflow folder running the test workflow for ``kinds`` (the others not installed)."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(PRODUCT / "Snakefile", root / "Snakefile")
    (root / "rules").mkdir(exist_ok=True)
    (root / "config").mkdir(exist_ok=True)
    scripts = root / "rules" / "scripts"
    if not scripts.exists():
        scripts.symlink_to(PRODUCT / "rules" / "scripts")
    for kind in kinds:
        folder = root / "rules" / kind.lower()
        folder.mkdir(exist_ok=True)
        shutil.copyfile(TEST_WORKFLOW / "main.smk", folder / "main.smk")
        shutil.copyfile(TEST_WORKFLOW / "schema.yaml", root / "config" / f"{kind.lower()}.schema.yaml")
    return root


def no_pipelines(root: Path) -> Path:
    """A workflow folder with the product Snakefile and no pipeline workflow installed."""
    return install_workflow(root, kinds=())


def write_fasta(path: Path, *, seed: int = 1, contigs=(("chr1", 3000), ("chr2", 2000))) -> Path:
    rng = random.Random(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        for name, length in contigs:
            seq = "".join(rng.choice("ACGT") for _ in range(length))
            fh.write(f">{name}\n")
            for i in range(0, length, 60):
                fh.write(seq[i:i + 60] + "\n")
    return path


def fastq_records(prefix: str, n: int, mate: int, seed: int, length: int = 50) -> str:
    rng = random.Random(seed * 10 + mate)
    lines = []
    for i in range(n):
        seq = "".join(rng.choice("ACGT") for _ in range(length))
        lines += [f"@{prefix}.{i} {mate}:N:0:1", seq, "+", "I" * length]
    return "\n".join(lines) + "\n"


def write_pair(folder: Path, sample: str, *, n: int = 40, seed: int = 1, gz: bool = True) -> list[str]:
    """R1/R2 FASTQ files of ``n`` seeded read pairs with matching names; their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for mate in (1, 2):
        path = folder / f"{sample}_R{mate}.fastq{'.gz' if gz else ''}"
        text = fastq_records(sample, n, mate, seed)
        if gz:
            with gzip.open(path, "wt") as fh:
                fh.write(text)
        else:
            path.write_text(text)
        out.append(str(path))
    return out


def write_gtf(path: Path) -> Path:
    path.write_text('chr1\ttest\texon\t101\t400\t.\t+\t.\tgene_id "g1"; transcript_id "t1"; gene_name "G1";\n'
                    'chr1\ttest\texon\t601\t900\t.\t+\t.\tgene_id "g1"; transcript_id "t1"; gene_name "G1";\n'
                    'chr2\ttest\texon\t201\t700\t.\t-\t.\tgene_id "g2"; transcript_id "t2"; gene_name "G2";\n')
    return path


def rna_body(data: Path, output: str, *, ref: str | None = None, gtf: str | None = None,
             samples_per_group: int = 2, n_reads: int = 40, **fields: Any) -> dict[str, Any]:
    """A valid RNA_DIFF_EXPR body over seeded files in ``data`` (created once)."""
    data.mkdir(parents=True, exist_ok=True)
    if ref is None:
        fasta = data / "genome.fa"
        ref = str(fasta if fasta.exists() else write_fasta(fasta))
    if gtf is None:
        gtf = str(data / "genes.gtf") if (data / "genes.gtf").exists() else str(write_gtf(data / "genes.gtf"))
    groups = []
    seed = 1
    for group in ("control", "treated"):
        samples = []
        for i in range(1, samples_per_group + 1):
            name = f"{group[0]}{i}"
            if not (data / f"{name}_R1.fastq.gz").exists():
                write_pair(data, name, n=n_reads, seed=seed)
            seed += 1
            samples.append({"sample_name": name,
                            "files": [str(data / f"{name}_R1.fastq.gz"), str(data / f"{name}_R2.fastq.gz")]})
        groups.append({"group_name": group, "group_inputs": samples})
    body = {"job_type": "RNA_DIFF_EXPR", "inputs": groups, "output": output, "ref": ref, "gtf": gtf}
    body.update(fields)
    return body


def germline_body(data: Path, output: str, **fields: Any) -> dict[str, Any]:
    fasta = data / "genome.fa"
    if not fasta.exists():
        write_fasta(fasta)
    r1, r2 = (data / "g_R1.fastq.gz", data / "g_R2.fastq.gz")
    if not r1.exists():
        write_pair(data, "g", seed=99)
    vcf = data / "known.vcf"
    if not vcf.exists():
        vcf.write_text("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
    body = {"job_type": "DNA_GERMLINE", "input": [str(r1), str(r2)], "output": output, "file_type": "FASTQ",
            "ref": str(fasta), "knownsites": [str(vcf)]}
    body.update(fields)
    return body


__all__ = ["install_workflow", "no_pipelines", "write_fasta", "write_pair", "write_gtf", "rna_body",
           "germline_body", "workflow_dir"]

"""``localgene demo-data DIR``: write the seeded demo data set (genome, genes, BAMs, job.json).

``localgene demo-data --rna DIR`` writes the RNA-seq one instead (genome, GTF, rRNA BED, six
samples of paired FASTQ, truth, an RNA_DIFF_EXPR job.json). The logic is
:func:`localgene.demo.cnvkit.generate` / :func:`localgene.demo.rna.generate`; this module only
parses arguments and prints where things are.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from localgene.errors import InvalidRequest


def register(subparsers: argparse._SubParsersAction) -> None:
    from localgene.demo.cnvkit import DEFAULT_SEED

    parser = subparsers.add_parser(
        "demo-data",
        help="write a small synthetic data set (genome, exome design, 5 BAMs, truth, job.json)",
        description=(
            "Write a deterministic demo data set into DIR: a synthetic genome (genome.fa), an "
            "exome-like design (targets.bed, refFlat.txt, genes.gff3), three control and two "
            "test samples as sorted, duplicate-marked BAMs aligned with bwa mem, the planted "
            "copy-number changes (truth.json) and a CNVkit job body for them (job.json). "
            "Needs bwa and samtools. A complete data set for the same seed is reused."
        ),
    )
    parser.add_argument(
        "dir", metavar="DIR", type=Path, nargs="?", help="folder for the CNVkit data set (created if needed)"
    )
    parser.add_argument(
        "--dna-germline", metavar="DIR", type=Path,
        help="also (or only) write the DNA_GERMLINE data set here: genome, FASTQ pair with planted "
        "SNVs and indels, truth, known sites, job.json (localgene.demo.dna)",
    )  # fmt: skip
    parser.add_argument(
        "--dna-somatic", metavar="DIR", type=Path,
        help="also (or only) write the DNA_SOMATIC data set here: tumor/normal FASTQ pairs with "
        "planted somatic variants at VAF ~0.3, truth, PON, germline resource, intervals, job.json",
    )  # fmt: skip
    from localgene.demo.rna import DEFAULT_LIBRARY_TYPE, LIBRARY_TYPES
    from localgene.demo.rna import DEFAULT_SEED as RNA_SEED

    parser.add_argument(
        "--seed", type=int, default=None,
        help=f"random seed (default: {DEFAULT_SEED}; with --rna: {RNA_SEED})",
    )
    parser.add_argument(
        "--rna", action="store_true",
        help="write the RNA-seq data set for an RNA_DIFF_EXPR job instead: a small genome, "
        "genes.gtf, rrna.bed, two groups x three samples of paired gzip FASTQ with planted "
        "differentially expressed genes and adapter read-through, truth.json, job.json",
    )
    parser.add_argument(
        "--library-type", choices=LIBRARY_TYPES, default=DEFAULT_LIBRARY_TYPE,
        help=f"with --rna: the strandedness of the simulated library (default: {DEFAULT_LIBRARY_TYPE}, dUTP)",
    )
    parser.add_argument(
        "--force", action="store_true", help="regenerate even if DIR already holds the data set"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from localgene.demo import cnvkit as demodata

    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.rna:
        if args.dir is None:
            raise InvalidRequest("--rna needs DIR, the folder for the RNA data set", field="demo-data")
        return run_rna(args)
    if args.seed is None:
        args.seed = demodata.DEFAULT_SEED
    if args.dir is None and args.dna_germline is None and args.dna_somatic is None:
        raise InvalidRequest("give DIR, --dna-germline DIR or --dna-somatic DIR", field="demo-data")
    for flag, kind in ((args.dna_germline, "germline"), (args.dna_somatic, "somatic")):
        if flag is not None:
            from localgene.demo import dna as demodata_dna

            generate = demodata_dna.generate_germline if kind == "germline" else demodata_dna.generate_somatic
            folder = generate(flag, seed=args.seed, force=args.force).parent
            print(f"DNA {kind} demo data (seed {args.seed}): {folder}")
            print(f"planted variants: {folder / demodata_dna.TRUTH}")
            print(f"DNA_{kind.upper()} job body: {folder / demodata_dna.JOB}")
    if args.dir is None:
        return 0
    manifest = demodata.generate(args.dir, seed=args.seed, force=args.force)
    folder = manifest.parent
    print(f"demo data (seed {args.seed}): {folder}")
    print(f"planted copy-number changes: {folder / demodata.TRUTH}")
    print(f"CNVkit job body: {folder / demodata.JOB}")
    return 0


def run_rna(args: argparse.Namespace) -> int:
    from localgene.demo import rna as demodata_rna

    seed = demodata_rna.DEFAULT_SEED if args.seed is None else args.seed
    manifest = demodata_rna.generate(args.dir, seed=seed, library_type=args.library_type, force=args.force)
    folder = manifest.parent
    print(f"RNA demo data (seed {seed}, {args.library_type}): {folder}")
    print(f"planted differentially expressed genes: {folder / demodata_rna.TRUTH}")
    print(f"RNA_DIFF_EXPR job body: {folder / demodata_rna.JOB}")
    return 0

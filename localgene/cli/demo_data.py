"""``localgene demo-data DIR``: write the seeded demo data set (genome, genes, BAMs, job.json).

The logic is :func:`localgene.demodata.generate`; this module only parses arguments and
prints where things are.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from localgene.demodata import DEFAULT_SEED

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
    parser.add_argument("dir", metavar="DIR", type=Path, help="folder to write (created if needed)")
    parser.add_argument(
        "--seed", type=int, default=DEFAULT_SEED, help=f"random seed (default: {DEFAULT_SEED})"
    )
    parser.add_argument(
        "--force", action="store_true", help="regenerate even if DIR already holds the data set"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from localgene import demodata

    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=logging.INFO, format="%(message)s")
    manifest = demodata.generate(args.dir, seed=args.seed, force=args.force)
    folder = manifest.parent
    print(f"demo data (seed {args.seed}): {folder}")
    print(f"planted copy-number changes: {folder / demodata.TRUTH}")
    print(f"CNVkit job body: {folder / demodata.JOB}")
    return 0

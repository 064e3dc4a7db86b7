"""A CNVkit pitfall made visible: CBS segmentation over bins that have no coverage at all.

When ``cnvkit.py segment -m cbs`` runs without ``--drop-low-coverage`` on a ``.cnr`` holding bins
with no reads (log2 about -20, CNVkit's stand-in for log2(0)), CBS can return one segment for a
whole chromosome and hide real losses around those bins (measured on synthetic exome data with
one failed bait; CNVkit issue #683 describes the same). localgene never changes CNVkit's result:
:func:`check_segment_inputs` counts those bins with CNVkit's own rule (the bins
``CopyNumArray.drop_low_coverage`` would remove); the workflow's ``segment_check`` rule
(``rules/segment.smk``) writes one warning per sample, which the summary step records in
``results/job.json`` and appends to that sample's segment log (``rules/deliver.smk``).

The count needs CNVkit (seconds to import): the rule runs it as an entry of the job's CNVkit step
server (``cnvkit_server.ENTRIES``: a forked child with CNVkit imported; on SLURM, the group job's
server, the rule being in group ``cnvkit``), else as
``python -m localgene.cnvkit.segment_check REQUEST_JSON`` (:func:`main`), never in Snakemake's process.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping


def low_coverage_bins(cnr_path: str | os.PathLike[str]) -> int:
    """How many bins of a ``.cnr`` ``--drop-low-coverage`` would drop (CNVkit decides)."""
    import cnvlib  # heavy import, only where a .cnr is read

    cnarr = cnvlib.read(str(cnr_path))
    return len(cnarr) - len(cnarr.drop_low_coverage())


def cbs_warning(sample: str, bins: int) -> str:
    """The warning of one sample whose ``.cnr`` holds ``bins`` bins with no coverage."""
    return (
        f"segment_conf: {sample}.cnr holds {bins} bin{'s' if bins != 1 else ''} with no coverage "
        "(log2 about -20); CBS (-m cbs) without --drop-low-coverage can return one segment for a "
        "whole chromosome there and hide real losses around them (CNVkit issue #683). Consider "
        "--drop-low-coverage, which in turn hides homozygous deletions"
    )


def not_needed(method: str, drop_low_coverage: bool) -> str | None:
    """Why a segmentation has nothing to check (the pitfall is CBS's without
    ``--drop-low-coverage``), or None where it needs the check."""
    if method != "cbs":
        return f"segment runs -m {method}"
    if drop_low_coverage:
        return "segment runs with --drop-low-coverage"
    return None


def check_segment_inputs(cnrs: Mapping[str, str | os.PathLike[str]], *, method: str,
                         drop_low_coverage: bool) -> dict[str, str]:
    """``{sample: warning}`` for the samples of a CBS segmentation run without
    ``--drop-low-coverage`` whose ``.cnr`` holds bins with no coverage; empty otherwise."""
    if not_needed(method, drop_low_coverage):
        return {}
    found = {sample: low_coverage_bins(path) for sample, path in cnrs.items()}
    return {sample: cbs_warning(sample, n) for sample, n in found.items() if n}


def main(argv: list[str] | None = None) -> int:
    """``segment_check REQUEST_JSON``: the request holds ``cnrs`` (sample -> .cnr), ``method``,
    ``drop_low_coverage`` and ``out``, where ``{sample: warning}`` is written as JSON."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m localgene.cnvkit.segment_check REQUEST_JSON", file=sys.stderr)
        return 2
    req = json.loads(argv[0])
    found = check_segment_inputs(req["cnrs"], method=req["method"], drop_low_coverage=req["drop_low_coverage"])
    with open(req["out"], "w") as out:
        json.dump(found, out)
    for warning in found.values():
        print(f"warning: {warning}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The somatic classification of a freebayes tumor/normal VCF (DNA_SOMATIC), with pysam.

freebayes' QUAL says that a variant is there, not that it is somatic: every germline site
passes it. As bcbio's ``call_somatic`` does, each (bi-allelic) record is classified from the
genotype likelihoods (``FORMAT/GL``, log10) and allele counts (``AO``/``RO``) of both samples:

* tumor LOD  = max_i GL_tumor[i] - GL_tumor[0]   (evidence for a non-reference genotype),
* normal LOD = min_i GL_normal[0] - GL_normal[i] (evidence that the normal is reference),
* normal frequency rule: normal VAF <= 0.001 or <= tumor VAF / 2.7.

A record passing all three gets ``INFO/SOMATIC`` (and FILTER ``PASS`` unless a filter below
applies); else FILTER ``weak_evidence`` (tumor LOD) and/or ``normal_evidence`` (normal LOD or
frequency). Somatic candidates are then checked against the optional filters:
``panel_of_normals`` (the allele is in the PON VCF), ``germline`` (the allele is in the germline
resource with population ``AF`` >= :data:`~localgene.pipelines.dna.GERMLINE_RESOURCE_MIN_AF`),
``orientation`` (a substitution of ``artifact_modes`` or its reverse complement whose tumor alt
reads are one-sided between F1R2 and F2R1 pairs: two-sided binomial p <
:data:`~localgene.pipelines.dna.ORIENTATION_MAX_P` with at least
:data:`~localgene.pipelines.dna.ORIENTATION_MIN_ALT` reads) and ``alignment`` (freebayes' mean
mapping quality of the alt reads, ``INFO/MQM``, below :data:`~localgene.pipelines.dna.MIN_ALT_MAPQ`).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from typing import Any

from localgene.pipelines import dna

_RC = str.maketrans("ACGT", "TGCA")

FILTERS = {
    "weak_evidence": f"Tumor LOD below {dna.TUMOR_LOD}",
    "normal_evidence": f"Normal LOD below {dna.NORMAL_LOD}, or normal allele fraction above 0.001 and above tumor fraction / {dna.NORMAL_FREQ_RATIO}",
    "panel_of_normals": "The allele is in the panel of normals (pon)",
    "germline": f"The allele is in the germline resource with population AF >= {dna.GERMLINE_RESOURCE_MIN_AF}",
    "orientation": "Alternate reads one-sided between F1R2 and F2R1 pairs (read-orientation artifact)",
    "alignment": f"Mean mapping quality of the alternate reads (MQM) below {dna.MIN_ALT_MAPQ:g}",
}
INFOS = [
    ("SOMATIC", "0", "Flag", "Classified somatic (tumor LOD, normal LOD, normal frequency rule)"),
    ("TLOD", "1", "Float", "Tumor log10 likelihood ratio of a non-reference genotype"),
    ("NLOD", "1", "Float", "Normal log10 likelihood ratio of the reference genotype"),
    ("TUMOR_AF", "1", "Float", "Tumor alternate allele fraction AO/(AO+RO)"),
    ("NORMAL_AF", "1", "Float", "Normal alternate allele fraction AO/(AO+RO)"),
    ("F1R2_ALT", "1", "Integer", "Tumor alternate fragments on F1R2 pairs (orientation test)"),
    ("F2R1_ALT", "1", "Integer", "Tumor alternate fragments on F2R1 pairs (orientation test)"),
]


def _gl(sample) -> list[float]:
    try:
        values = sample["GL"]
    except KeyError:
        return []
    return [float(v) for v in (values or ()) if v is not None]


def _freq(sample) -> float:
    try:
        ao = sample["AO"]
        ro = sample["RO"]
    except KeyError:
        return 0.0
    ao_sum = sum(a for a in (ao if isinstance(ao, tuple) else (ao,)) if a is not None)
    if ro is None or ao_sum + ro == 0:
        return 0.0
    return ao_sum / (ao_sum + ro)


def lods(tumor_gl: list[float], normal_gl: list[float]) -> tuple[float, float]:
    """(tumor LOD, normal LOD) as bcbio's ``_check_lods`` computes them."""
    tumor = max((tumor_gl[i] - tumor_gl[0] for i in range(1, len(tumor_gl))), default=-1.0)
    normal = min((normal_gl[0] - normal_gl[i] for i in range(1, len(normal_gl))), default=dna.NORMAL_LOD)
    return tumor, normal


def frequency_ok(tumor_af: float, normal_af: float) -> bool:
    return normal_af <= 0.001 or normal_af <= tumor_af / dna.NORMAL_FREQ_RATIO


def binomial_two_sided(k: int, n: int) -> float:
    """P-value of a split at least as uneven as k of n under p = 0.5."""
    if n == 0:
        return 1.0
    low = min(k, n - k)
    tail = sum(math.comb(n, i) for i in range(low + 1)) / 2**n
    return min(1.0, 2 * tail)


def orientation_counts(bam, chrom: str, pos0: int, alt: str) -> tuple[int, int]:
    """Alt-supporting fragments (duplicates excluded) by pair orientation at a 0-based site."""
    seen: dict[str, str] = {}
    for column in bam.pileup(chrom, pos0, pos0 + 1, truncate=True, min_base_quality=0, max_depth=100_000):
        for read in column.pileups:
            if read.is_del or read.is_refskip or read.query_position is None:
                continue
            aln = read.alignment
            if aln.query_sequence[read.query_position] != alt:
                continue
            f1r2 = aln.is_read1 != aln.is_reverse  # read 1 forward or read 2 reverse
            seen.setdefault(aln.query_name, "F1R2" if f1r2 else "F2R1")
    counts = Counter(seen.values())
    return counts["F1R2"], counts["F2R1"]


def _modes(artifact_modes: Iterable[str]) -> set[tuple[str, str]]:
    out = set()
    for mode in artifact_modes:
        ref, alt = mode.upper().split("/")
        out.add((ref, alt))
        out.add((ref.translate(_RC), alt.translate(_RC)))
    return out


def _alleles(path: str | None) -> Any:
    import pysam

    return pysam.VariantFile(path) if path else None


def _lookup(vf, rec, need_af: bool) -> bool:
    if vf is None:
        return False
    try:
        hits = vf.fetch(rec.chrom, rec.start, rec.stop)
    except ValueError:  # contig not in that file
        return False
    for other in hits:
        if other.pos != rec.pos or other.ref != rec.ref or not other.alts:
            continue
        for i, alt in enumerate(other.alts):
            if alt != rec.alts[0]:
                continue
            if not need_af:
                return True
            af = other.info.get("AF") if "AF" in other.header.info else None
            value = af[i] if isinstance(af, tuple) else af
            if value is None or value >= dna.GERMLINE_RESOURCE_MIN_AF:
                return True
    return False


def classify(in_vcf: str, out_vcf: str, tumor: str, normal: str, tumor_bam: str, *, pon: str | None = None,
             germline_resource: str | None = None, orientation_modes: Iterable[str] = (),
             alignment_filter: bool = False) -> dict[str, int]:  # fmt: skip
    """Classify every record of ``in_vcf`` (split to one ALT per record) into ``out_vcf``
    (bgzipped); returns counts per FILTER value and of somatic calls."""
    import pysam

    modes = _modes(orientation_modes)
    counts: Counter[str] = Counter()
    with pysam.VariantFile(in_vcf) as vin:
        header = vin.header
        for name, desc in FILTERS.items():
            header.filters.add(name, None, None, desc)
        for key, number, kind, desc in INFOS:
            header.info.add(key, number, kind, desc)
        missing = [s for s in (tumor, normal) if s not in header.samples]
        if missing:
            raise ValueError(f"sample(s) {', '.join(missing)} not in {in_vcf} (samples: {', '.join(header.samples)})")
        pon_vf, res_vf = _alleles(pon), _alleles(germline_resource)
        bam = pysam.AlignmentFile(tumor_bam) if modes else None
        try:
            with pysam.VariantFile(out_vcf, "wz", header=header) as vout:
                for rec in vin:
                    if not rec.alts or len(rec.alts) != 1:
                        vout.write(rec)
                        continue
                    t, n = rec.samples[tumor], rec.samples[normal]
                    tlod, nlod = lods(_gl(t), _gl(n))
                    taf, naf = _freq(t), _freq(n)
                    rec.info["TLOD"], rec.info["NLOD"] = round(tlod, 3), round(nlod, 3)
                    rec.info["TUMOR_AF"], rec.info["NORMAL_AF"] = round(taf, 4), round(naf, 4)
                    filters = []
                    if tlod < dna.TUMOR_LOD:
                        filters.append("weak_evidence")
                    if nlod < dna.NORMAL_LOD or not frequency_ok(taf, naf):
                        filters.append("normal_evidence")
                    if not filters:
                        rec.info["SOMATIC"] = True
                        counts["somatic"] += 1
                        if _lookup(pon_vf, rec, need_af=False):
                            filters.append("panel_of_normals")
                        if _lookup(res_vf, rec, need_af=True):
                            filters.append("germline")
                        if bam is not None and (rec.ref, rec.alts[0]) in modes:
                            f1r2, f2r1 = orientation_counts(bam, rec.chrom, rec.start, rec.alts[0])
                            rec.info["F1R2_ALT"], rec.info["F2R1_ALT"] = f1r2, f2r1
                            if f1r2 + f2r1 >= dna.ORIENTATION_MIN_ALT and binomial_two_sided(f1r2, f1r2 + f2r1) < dna.ORIENTATION_MAX_P:
                                filters.append("orientation")
                        if alignment_filter:
                            mqm = rec.info.get("MQM") if "MQM" in rec.header.info else None
                            mqm = mqm[0] if isinstance(mqm, tuple) else mqm
                            if mqm is not None and mqm < dna.MIN_ALT_MAPQ:
                                filters.append("alignment")
                    rec.filter.clear()
                    for f in filters or ["PASS"]:
                        rec.filter.add(f)
                        counts[f] += 1
                    vout.write(rec)
        finally:
            for handle in (pon_vf, res_vf, bam):
                if handle is not None:
                    handle.close()
    pysam.tabix_index(out_vcf, preset="vcf", force=True)
    return dict(counts)

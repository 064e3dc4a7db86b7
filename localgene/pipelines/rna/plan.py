"""An RNA_DIFF_EXPR job's config, read once, and the argument list of every tool step.

The config is the service's body with local absolute paths (``config/rna_diff_expr.schema.yaml``
checks its shape first). :func:`build_plan` turns it into an :class:`RnaPlan`; the ``*_argv``
functions build each tool's command as a list (never a shell string), so the workflow's rules,
``results/job.json`` and the documentation all show the same command.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, NamedTuple

from localgene.errors import InvalidRequest


class Strandedness(NamedTuple):
    """How one ``library_type`` is told to the tools."""

    featurecounts: int  # featureCounts -s
    hisat2: str | None  # HISAT2 --rna-strandness (None: not given)


#: library_type -> the tools' settings (docs/rna.md has the same table).
LIBRARY_TYPES: dict[str, Strandedness] = {
    "fr-unstranded": Strandedness(0, None),
    "fr-firststrand": Strandedness(2, "RF"),
    "fr-secondstrand": Strandedness(1, "FR"),
}
DEFAULT_LIBRARY_TYPE = "fr-unstranded"

#: Shortest read kept after adapter trimming (cutadapt -m); HISAT2 cannot place shorter reads.
MIN_TRIMMED_LENGTH = 20

#: The columns of every differential-expression CSV, in order.
DE_COLUMNS = ("gene_id", "gene_name", "baseMean", "log2FoldChange", "lfcSE", "stat", "pvalue", "padj")


@dataclass(frozen=True)
class Sample:
    name: str
    group: str
    r1: str
    r2: str


@dataclass(frozen=True)
class RnaPlan:
    groups: tuple[tuple[str, tuple[str, ...]], ...]  # (group, samples), in body order
    samples: tuple[Sample, ...]
    ref: str
    gtf: str
    output: str
    library_type: str
    adapt: str | None
    qc: bool
    bed: str | None
    instance_id: str | None
    index_cache: str | None

    @property
    def sample_names(self) -> list[str]:
        return [s.name for s in self.samples]

    def sample(self, name: str) -> Sample:
        return next(s for s in self.samples if s.name == name)

    @property
    def reference_group(self) -> str:
        """The reference level of every contrast: the body's first group."""
        return self.groups[0][0]

    @property
    def contrasts(self) -> list[str]:
        """One name per contrast, ``<group>_vs_<reference group>``, for every other group."""
        return [contrast_name(group, self.reference_group) for group, _ in self.groups[1:]]

    @property
    def strandedness(self) -> Strandedness:
        return LIBRARY_TYPES[self.library_type]

    @property
    def output_is_csv(self) -> bool:
        return self.output.rstrip().lower().endswith(".csv")


def contrast_name(group: str, reference: str) -> str:
    return f"{group}_vs_{reference}"


def build_plan(config: Mapping[str, Any]) -> RnaPlan:
    """Read a checked RNA_DIFF_EXPR config; refuse what the schema cannot say, naming the field."""
    groups: list[tuple[str, tuple[str, ...]]] = []
    samples: list[Sample] = []
    seen: dict[str, str] = {}
    for g, group in enumerate(config["inputs"]):
        members = []
        if len(group["group_inputs"]) < 2:
            raise InvalidRequest(
                f"group {group['group_name']!r} has {len(group['group_inputs'])} sample; "
                "DESeq2 needs at least two per group",
                field=f"inputs[{g}].group_inputs",
            )
        for s, item in enumerate(group["group_inputs"]):
            name = item["sample_name"]
            here = f"inputs[{g}].group_inputs[{s}].sample_name"
            if name in seen:
                raise InvalidRequest(f"repeats {seen[name]}", field=here)
            seen[name] = here
            r1, r2 = item["files"]
            samples.append(Sample(name, group["group_name"], r1, r2))
            members.append(name)
        if group["group_name"] in dict(groups):
            raise InvalidRequest("repeats an earlier group_name", field=f"inputs[{g}].group_name")
        groups.append((group["group_name"], tuple(members)))
    qc = bool(config.get("is_export_qc"))
    bed = config.get("bed") or None
    if qc and not bed:
        raise InvalidRequest("is required when is_export_qc is true", field="bed")
    return RnaPlan(
        groups=tuple(groups),
        samples=tuple(samples),
        ref=config["ref"],
        gtf=config["gtf"],
        output=config["output"],
        library_type=config.get("library_type") or DEFAULT_LIBRARY_TYPE,
        adapt=config.get("adapt") or None,
        qc=qc,
        bed=bed,
        instance_id=config.get("instance_id"),
        index_cache=config.get("index_cache"),
    )


# ------------------------------------------------------------------------------------------
# The tools' argument lists


def cutadapt_argv(adapter: str, r1: str, r2: str, out1: str, out2: str, report: str, threads: int) -> list[str]:
    """Trim ``adapter`` from the 3' end of both reads; drop pairs with a read shorter than 20."""
    return [
        "cutadapt", "-j", str(threads), "-a", adapter, "-A", adapter,
        "-m", str(MIN_TRIMMED_LENGTH), "--json", report, "-o", out1, "-p", out2, r1, r2,
    ]  # fmt: skip


def hisat2_argv(
    index_prefix: str,
    r1: str,
    r2: str,
    library_type: str,
    threads: int,
    summary: str,
    known_splicesites: str | None = None,
) -> list[str]:
    """Align one sample's pairs (SAM to stdout); ``known_splicesites`` for a plain index."""
    argv = ["hisat2", "-p", str(threads), "-x", index_prefix, "-1", r1, "-2", r2,
            "--new-summary", "--summary-file", summary]  # fmt: skip
    strandness = LIBRARY_TYPES[library_type].hisat2
    if strandness:
        argv += ["--rna-strandness", strandness]
    if known_splicesites:
        argv += ["--known-splicesite-infile", known_splicesites]
    return argv


def sort_argv(bam: str, threads: int, mem_per_thread_mb: int) -> list[str]:
    """``samtools sort`` reading SAM from stdin."""
    return ["samtools", "sort", "-@", str(threads), "-m", f"{mem_per_thread_mb}M",
            "-T", f"{bam}.tmp", "-o", bam, "-"]  # fmt: skip


def index_bam_argv(bam: str) -> list[str]:
    return ["samtools", "index", bam]


def featurecounts_argv(gtf: str, bams: list[str], out: str, strand: int, threads: int) -> list[str]:
    """Count read pairs per gene (GTF exons, grouped by gene_id, with the gene_name)."""
    return [
        "featureCounts", "-T", str(threads), "-p", "--countReadPairs", "-s", str(strand),
        "-t", "exon", "-g", "gene_id", "--extraAttributes", "gene_name",
        "-a", gtf, "-o", out, *bams,
    ]  # fmt: skip


def rrna_featurecounts_argv(saf: str, bams: list[str], out: str, threads: int) -> list[str]:
    """Count read pairs in the rRNA regions (SAF from the body's BED), either strand."""
    return [
        "featureCounts", "-T", str(threads), "-p", "--countReadPairs", "-s", "0", "-O",
        "-F", "SAF", "-a", saf, "-o", out, *bams,
    ]  # fmt: skip


def deseq2_argv(script: str, counts: str, coldata: str, reference: str, outdir: str) -> list[str]:
    return ["Rscript", "--vanilla", script, counts, coldata, reference, outdir]


def check_strand_settings(library_type: str) -> list[int]:
    """The featureCounts ``-s`` settings the strandedness check needs besides the declared one."""
    declared = LIBRARY_TYPES[library_type].featurecounts
    return [s for s in (1, 2) if s != declared]



def check_local_files(plan: RnaPlan) -> None:
    """Every local input exists, is a readable file, and each FASTQ starts like one.

    Object-storage inputs (``s3a://``) were staged before the workflow runs; they are local here.
    """
    import gzip

    from localgene.errors import InputNotFound

    fields: list[tuple[str, str]] = [("ref", plan.ref), ("gtf", plan.gtf)]
    if plan.qc and plan.bed:
        fields.append(("bed", plan.bed))
    for g, (_, members) in enumerate(plan.groups):
        for s, name in enumerate(members):
            sample = plan.sample(name)
            for k, path in enumerate((sample.r1, sample.r2)):
                fields.append((f"inputs[{g}].group_inputs[{s}].files[{k}]", path))
    for field, path in fields:
        p = Path(path)
        if not p.exists():
            raise InputNotFound(f"{path} does not exist", field=field)
        if not p.is_file():
            raise InvalidRequest(f"{path} is not a file", field=field)
        try:
            with open(p, "rb") as handle:
                head = handle.read(2)
            if field.startswith("inputs["):
                opener = gzip.open if head == b"\x1f\x8b" else open
                with opener(p, "rb") as handle:
                    first = handle.read(1)
                if first != b"@":
                    raise InvalidRequest(f"{path} is not a FASTQ file (it does not start with '@')", field=field)
        except (OSError, EOFError) as exc:
            raise InvalidRequest(f"{path} cannot be read: {exc}", field=field) from None

"""DNA_GERMLINE and DNA_SOMATIC: what a body's fields mean here, checked before anything runs.

The service runs GATK4 (FastqToSam, BwaSpark, ReadsPipelineSpark, Mutect2); localgene runs the
open tools that can be installed (bwa, samtools, bcftools, freebayes). This module is the one
place that says how a body maps onto them:

* :func:`check_dna_body` (called at submit): refuses what cannot run (an ``engine`` such as
  DeepVariant's ``tensorflow``, an option of a ``*_conf`` list with no meaning here) with
  :class:`~localgene.errors.UnsupportedOption` naming the field and the option, and returns the
  warnings the job record carries (no BQSR, ``gatk`` replaced, gVCF blocks not GATK's).
* :func:`plan` (called by the workflow, rules/dna_*): the translated settings (read groups,
  caller, thresholds, threads) as plain data.
* :data:`CONF_OPTIONS`: the translation table of every ``*_conf`` list (docs/dna.md shows it).
* calling regions: :mod:`localgene.pipelines.dna_regions`.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from localgene.errors import InvalidRequest, UnsupportedOption

#: ``engine`` values (compared case-insensitively) and the caller each one runs.
ENGINES: dict[str, str] = {"": "bcftools", "bcftools": "bcftools", "freebayes": "freebayes", "gatk": "bcftools"}
#: Engines of the service that cannot run here, and why.
REFUSED_ENGINES: dict[str, str] = {
    "tensorflow": "DeepVariant (engine tensorflow) cannot be installed here",
    "deepvariant": "DeepVariant cannot be installed here",
    "strelka": "Strelka2 cannot be installed here",
}

#: Somatic classification thresholds (bcbio's call_somatic): log10 likelihood ratios.
TUMOR_LOD = 3.5
NORMAL_LOD = 3.5
#: The normal-frequency rule: normal VAF <= 0.001, or <= tumor VAF / this ratio.
NORMAL_FREQ_RATIO = 2.7
#: A somatic call whose allele a germline resource lists at population AF >= this is ``germline``.
GERMLINE_RESOURCE_MIN_AF = 0.001
#: ``is_filter_by_alignmentArtifacts``: mean mapping quality of the alternate reads below this.
MIN_ALT_MAPQ = 30.0
#: ``is_filter_by_orientationBias``: at least this many alternate reads, and a two-sided binomial
#: p-value of the F1R2/F2R1 split below this.
ORIENTATION_MIN_ALT = 5
ORIENTATION_MAX_P = 0.01
#: freebayes settings for a tumor/normal pair (bcbio's paired settings).
FREEBAYES_SOMATIC = [
    "--pooled-discrete", "--pooled-continuous", "--genotype-qualities",
    "--report-genotype-likelihood-max", "--allele-balance-priors-off",
    "--min-alternate-fraction", "0.1", "--min-alternate-count", "2", "--min-repeat-entropy", "1",
]  # fmt: skip

NO_BQSR_WARNING = (
    "no base quality score recalibration (BQSR): GATK cannot be installed here; base qualities "
    "are used as sequenced and knownsites only fill the variant IDs"
)
GATK_WARNING = "engine gatk: GATK HaplotypeCaller cannot be installed here; bcftools mpileup/call ran instead"
GVCF_WARNING = (
    "is_output_gvcf: the gVCF has {caller}'s reference blocks ({allele}), not GATK's <NON_REF> "
    "blocks; GATK's GenotypeGVCFs cannot read it"
)
SOMATIC_WARNING = (
    "Mutect2 cannot be installed here: freebayes called tumor and normal jointly and a "
    "likelihood-based classification (tumor LOD and normal LOD >= 3.5, normal frequency rule) "
    "marked somatic calls"
)
MUTECT_BAM_WARNING = (
    "mutect_is_export_bam: the BAM holds the tumor's aligned reads within 300 bp of the calls, "
    "not Mutect2's reassembled haplotypes"
)


# --------------------------------------------------------------------------------------------
# The *_conf translation table


@dataclass(frozen=True)
class ConfOption:
    """One accepted option of a ``*_conf`` list."""

    names: tuple[str, ...]  # as GATK/Picard spell them (also accepted as NAME=value)
    key: str  # what it sets in the plan
    takes_value: bool
    meaning: str  # for docs/dna.md
    parse: Callable[[str], Any] = str
    job_types: tuple[str, ...] = ("DNA_GERMLINE", "DNA_SOMATIC")


_RG_VALUE = re.compile(r"[^\t\n\r\s]{1,256}")


def _rg_value(value: str) -> str:
    if not _RG_VALUE.fullmatch(value):
        raise ValueError("must be 1-256 characters without spaces or tabs")
    return value


def _int_0_93(value: str) -> int:
    if not value.isdigit() or not 0 <= int(value) <= 93:
        raise ValueError("must be a whole number from 0 to 93")
    return int(value)


def _quality(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ValueError("must be a number") from None
    if not 0 <= number <= 10_000:
        raise ValueError("must be from 0 to 10000")
    return number


def _spark_threads(value: str) -> int:
    m = re.fullmatch(r"local\[(\d+|\*)\]", value)
    if not m:
        raise ValueError("only local[N] or local[*] has a meaning here (it sets the step's threads)")
    return 0 if m.group(1) == "*" else max(1, int(m.group(1)))


def _gvcf_mode(value: str) -> bool:
    if value.upper() not in ("GVCF", "BP_RESOLUTION", "NONE"):
        raise ValueError("must be GVCF, BP_RESOLUTION or NONE")
    return value.upper() != "NONE"


_SPARK = ConfOption(("--spark-master",), "threads", True, "local[N]: the step runs with N threads (local[*]: as many as Snakemake gives)", _spark_threads)

CONF_OPTIONS: dict[str, tuple[ConfOption, ...]] = {
    "fastq_to_sam_conf": (
        ConfOption(("-SM", "--SAMPLE_NAME"), "rg.SM", True, "read group SM (the sample name of the VCF column)", _rg_value, ("DNA_GERMLINE",)),
        ConfOption(("-RG", "--READ_GROUP_NAME"), "rg.ID", True, "read group ID", _rg_value),
        ConfOption(("-LB", "--LIBRARY_NAME"), "rg.LB", True, "read group LB (duplicates are marked per library)", _rg_value),
        ConfOption(("-PL", "--PLATFORM"), "rg.PL", True, "read group PL", _rg_value),
        ConfOption(("-PU", "--PLATFORM_UNIT"), "rg.PU", True, "read group PU", _rg_value),
        ConfOption(("-CN", "--SEQUENCING_CENTER"), "rg.CN", True, "read group CN", _rg_value),
        ConfOption(("-DS", "--DESCRIPTION"), "rg.DS", True, "read group DS", _rg_value),
    ),
    "bwaspark_conf": (_SPARK,),
    "read_pipeline_spark_conf": (
        _SPARK,
        ConfOption(("--remove-all-duplicates",), "remove_duplicates", False, "samtools markdup -r (duplicates removed, not only flagged)", bool),
        ConfOption(("-mbq", "--min-base-quality-score"), "min_base_quality", True, "bcftools mpileup -Q / freebayes -q (minimum base quality)", _int_0_93),
        ConfOption(("--minimum-mapping-quality",), "min_mapping_quality", True, "bcftools mpileup -q / freebayes -m (minimum mapping quality)", _int_0_93),
        ConfOption(("-stand-call-conf", "--standard-min-confidence-threshold-for-calling"), "min_qual", True, "variant records with QUAL below it are dropped (bcftools view -e)", _quality, ("DNA_GERMLINE",)),
        ConfOption(("-ERC", "--emit-ref-confidence"), "gvcf", True, "GVCF or BP_RESOLUTION: a gVCF as with is_output_gvcf (NONE: no effect)", _gvcf_mode, ("DNA_GERMLINE",)),
    ),
}

_HINTS = {
    "--known-sites": "give known sites in the knownsites field",
    "-R": "the reference is the ref field",
    "--reference": "the reference is the ref field",
    "-I": "inputs are the input field",
    "-O": "the output is the output field",
}


def _option_table(field: str, job_type: str) -> dict[str, ConfOption]:
    return {
        name.lower(): opt
        for opt in CONF_OPTIONS[field]
        if job_type in opt.job_types
        for name in (*opt.names, *(n.lstrip("-") for n in opt.names))
    }


def parse_conf(field: str, items: list[str] | None, job_type: str) -> dict[str, Any]:
    """Translate one ``*_conf`` list into plan keys; raise :class:`UnsupportedOption` naming the
    option for anything without a meaning here. Items are split with :func:`shlex.split`; an
    option is ``--NAME value``, ``--NAME=value`` or Picard's legacy ``NAME=value``."""
    table = _option_table(field, job_type)
    out: dict[str, Any] = {}
    for i, item in enumerate(items or []):
        where = f"{field}[{i}]"
        try:
            tokens = shlex.split(item)
        except ValueError as exc:
            raise InvalidRequest(f"cannot split {item!r}: {exc}", field=where) from None
        k = 0
        while k < len(tokens):
            token = tokens[k]
            name, eq, value = token.partition("=")
            if not eq and not token.startswith("-"):
                raise UnsupportedOption(f"{token!r} is not an option (expected -NAME value or NAME=value)", field=where)
            opt = table.get(name.lower()) if (eq or token.startswith("-")) else None
            if opt is None:
                hint = _HINTS.get(name)
                other = [f for f in CONF_OPTIONS if f != field and name.lower() in _option_table(f, job_type)]
                why = hint or (f"it belongs in {other[0]}" if other else "it has no meaning here")
                raise UnsupportedOption(
                    f"option {name} is not supported ({why}); supported: "
                    + (", ".join(o.names[-1] for o in CONF_OPTIONS[field] if job_type in o.job_types) or "none"),
                    field=where,
                )
            if opt.takes_value and not eq:
                if k + 1 >= len(tokens):
                    raise InvalidRequest(f"option {name} needs a value", field=where)
                k += 1
                value = tokens[k]
            elif not opt.takes_value:
                if eq and value.lower() not in ("true", "false"):
                    raise InvalidRequest(f"option {name} takes no value (or true/false)", field=where)
                value = "false" if value.lower() == "false" else "true"
            try:
                parsed = opt.parse(value) if opt.takes_value else value == "true"
            except ValueError as exc:
                raise InvalidRequest(f"option {name}: {value!r} {exc}", field=where) from None
            out[opt.key] = parsed
            k += 1
    return out


# --------------------------------------------------------------------------------------------
# Submit-time check and the plan


def _as_dict(body: Any) -> dict[str, Any]:
    if hasattr(body, "model_dump"):
        return body.model_dump()
    if isinstance(body, Mapping):
        return dict(body)
    raise InvalidRequest("the request body must be a JSON object")


def caller_of(engine: Any) -> str:
    """The caller an ``engine`` value runs; :class:`UnsupportedOption` for one that cannot run."""
    key = (engine or "").strip().lower() if isinstance(engine, str) or engine is None else None
    if key is None:
        raise InvalidRequest("must be a string", field="engine")
    if key in ENGINES:
        return ENGINES[key]
    reason = REFUSED_ENGINES.get(key, "it is not an engine localgene knows")
    raise UnsupportedOption(
        f"{engine!r} cannot run: {reason}; use one of bcftools (default), freebayes, gatk (runs bcftools)",
        field="engine",
    )


def check_dna_body(body: Any) -> list[str]:
    """Refuse what cannot run here; return the job's warnings (see the module docstring)."""
    return plan(body)["warnings"]


def check_bam_samples(request: Mapping[str, Any], local: Mapping[str, str]) -> None:
    """At submit, for BAM inputs on this machine (``local``: field path -> local path): each
    BAM holds one sample (SM) and, for DNA_SOMATIC, the one its ``sample_type`` names in the body
    (``tumor_sample_name`` / ``normal_sample_name``): the same rule the workflow's first step
    applies (``dna_steps.prepare_bam``), refused before any work starts. A BAM in object
    storage is checked by that step (its header needs the object)."""
    from localgene.pipelines import dna_steps

    if str(request.get("file_type", "")).upper() != "BAM":
        return
    expected: dict[str, str | None] = {}
    if request.get("job_type") == "DNA_SOMATIC":
        names = {"tumor": request.get("tumor_sample_name"), "normal": request.get("normal_sample_name")}
        for i, sample in enumerate(request.get("inputs") or []):
            for j, _ in enumerate(sample.get("sample_inputs") or []):
                expected[f"inputs[{i}].sample_inputs[{j}]"] = names.get(sample.get("sample_type"))
    else:
        expected = {f"input[{j}]": None for j, _ in enumerate(request.get("input") or [])}
    for field, want in expected.items():
        path = local.get(field)
        if path is None or not path.lower().endswith(".bam"):
            continue
        try:
            found = dna_steps.bam_facts(path)["samples"]
        except InvalidRequest as exc:
            message = str(exc)
            raise InvalidRequest(message.split(": ", 1)[1] if message.startswith(f"{exc.field}: ") else message,
                                 field=field) from None
        if not found:
            raise InvalidRequest(f"{path} has no read group with a sample name (SM)", field=field)
        if len(found) > 1:
            raise InvalidRequest(f"{path} holds several samples ({', '.join(found)}); give one", field=field)
        if want is not None and found[0] != want:
            raise InvalidRequest(f"{path} has sample {found[0]!r} (SM); the body names it {want!r}", field=field)


def sample_name_from_fastq(path: str) -> str:
    """``/x/NA12878_S1_R1_001.fastq.gz`` -> ``NA12878_S1`` (the read-pair suffix removed)."""
    name = os.path.basename(path)
    for ext in (".fastq.gz", ".fq.gz", ".fastq", ".fq"):
        if name.lower().endswith(ext):
            name = name[: -len(ext)]
            break
    name = re.sub(r"([._-]R?[12](_\d{3})?)$", "", name, flags=re.IGNORECASE) or name
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def plan(body: Any) -> dict[str, Any]:
    """Everything the workflow needs from a DNA body, translated (raises as
    :func:`check_dna_body`). Samples: ``{"name", "files", "read_group"}``; for DNA_SOMATIC
    the tumor first."""
    data = _as_dict(body)
    job_type = data.get("job_type")
    if job_type not in ("DNA_GERMLINE", "DNA_SOMATIC"):
        raise InvalidRequest(f"must be DNA_GERMLINE or DNA_SOMATIC, got {job_type!r}", field="job_type")
    settings: dict[str, Any] = {}
    for field in CONF_OPTIONS:
        for key, value in parse_conf(field, data.get(field), job_type).items():
            step_key = f"{field}.{key}" if key == "threads" else key
            settings[step_key] = value
    warnings: list[str] = []
    rg_extra = {k[3:]: v for k, v in settings.items() if k.startswith("rg.")}
    if job_type == "DNA_GERMLINE":
        caller = caller_of(data.get("engine"))
        if (data.get("engine") or "").strip().lower() == "gatk":
            warnings.append(GATK_WARNING)
        files = list(data["input"])
        name = rg_extra.pop("SM", None) or (sample_name_from_fastq(files[0]) if data["file_type"].upper() == "FASTQ" else None)
        samples = [{"name": name, "role": "sample", "files": files}]
        gvcf = bool(data.get("is_output_gvcf")) or bool(settings.get("gvcf"))
        if gvcf:
            warnings.append(GVCF_WARNING.format(caller=caller, allele="ALT . with END" if caller == "bcftools" else "ALT <*> with END"))
    else:
        caller = "freebayes"
        notes = (data.get("mutect_calls_variant") or "").strip()
        if notes:
            raise UnsupportedOption(
                f"{notes.split()[0]!r}: Mutect2 options cannot run here (Mutect2 cannot be installed); leave it empty",
                field="mutect_calls_variant",
            )
        by_type = {s["sample_type"]: list(s["sample_inputs"]) for s in data["inputs"]}
        samples = [
            {"name": data["tumor_sample_name"], "role": "tumor", "files": by_type["tumor"]},
            {"name": data["normal_sample_name"], "role": "normal", "files": by_type["normal"]},
        ]
        gvcf = False
        warnings.append(SOMATIC_WARNING)
        if data.get("mutect_is_export_bam"):
            warnings.append(MUTECT_BAM_WARNING)
    if data.get("knownsites"):
        warnings.append(NO_BQSR_WARNING)
    for s in samples:
        if s["name"] is not None:
            rg_id = rg_extra.get("ID") if len(samples) == 1 else None
            s["read_group"] = {"ID": rg_id or s["name"], "SM": s["name"], "LB": rg_extra.get("LB", s["name"]),
                               "PL": rg_extra.get("PL", "ILLUMINA"),
                               **{k: v for k, v in rg_extra.items() if k not in ("ID", "LB", "PL")}}  # fmt: skip
    artifact_modes = data.get("artifact_modes") or ["G/T"]
    return {
        "job_type": job_type,
        "file_type": data["file_type"].upper(),
        "caller": caller,
        "gvcf": gvcf,
        "samples": samples,
        "align_threads": settings.get("bwaspark_conf.threads"),
        "call_threads": settings.get("read_pipeline_spark_conf.threads"),
        "remove_duplicates": bool(settings.get("remove_duplicates")),
        "min_base_quality": settings.get("min_base_quality"),
        "min_mapping_quality": settings.get("min_mapping_quality"),
        "min_qual": settings.get("min_qual"),
        "orientation_modes": artifact_modes if data.get("is_filter_by_orientationBias") else [],
        "alignment_filter": bool(data.get("is_filter_by_alignmentArtifacts")),
        "warnings": warnings,
    }


def read_group_line(rg: Mapping[str, str]) -> str:
    """``@RG\\tID:..\\tSM:..`` as ``bwa mem -R`` takes it (a literal backslash-t)."""
    return "@RG" + "".join(f"\\t{k}:{v}" for k, v in rg.items())



"""The QC of a DNA job's result, for its report: ``bcftools stats`` of the delivered VCF (all
records, PASS only, each sample's own calls, the SOMATIC-classified ones), the FILTER values
counted, ``samtools flagstat`` of each duplicate-marked BAM, and one bar chart (PNG).

Counts by type, Ts/Tv and per-sample numbers are bcftools' own (its ``SN``/``TSTV`` lines);
localgene only counts the FILTER column that ``bcftools query`` prints. Every tool runs with an
argument list through :mod:`localgene.pipelines.dna_steps` (command line first in the log).
"""

from __future__ import annotations

import csv
import json
import os
import re
import shlex
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from localgene.errors import WorkflowFailed
from localgene.pipelines import dna_steps

#: bcftools' FILTER for "passed" (a VCF without filters has "." in every record).
PASSING = "PASS,."


@dataclass(frozen=True)
class StatSet:
    """One ``bcftools stats`` run: ``key`` names its file, ``view`` selects its records."""

    key: str
    label: str
    view: tuple[str, ...]  # bcftools view options (empty: every record)
    role: str | None = None  # the sample role whose own calls these are


def stat_sets(samples: Sequence[tuple[str, str]], somatic: bool) -> list[StatSet]:
    """The record sets of the report, for ``samples`` ((role, sample name) in VCF order)."""
    sets = [StatSet("all", "all records", ()), StatSet("pass", "PASS records", ("-f", PASSING))]
    if somatic:
        sets += [StatSet("somatic", "SOMATIC records", ("-i", "INFO/SOMATIC=1")),
                 StatSet("somatic.pass", "SOMATIC and PASS", ("-i", "INFO/SOMATIC=1", "-f", PASSING))]
    for role, name in samples:
        # a sample's own calls: its genotype carries an ALT allele (-c 1 after -s)
        sets += [StatSet(role, f"{name}: its calls", ("-s", name, "-c", "1"), role),
                 StatSet(f"{role}.pass", f"{name}: its PASS calls", ("-s", name, "-c", "1", "-f", PASSING), role)]
    return sets


def stats_file(out_dir: str | os.PathLike, key: str) -> str:
    return str(Path(out_dir) / "bcftools_stats" / f"{key}.txt")


def flagstat_file(out_dir: str | os.PathLike, role: str) -> str:
    return str(Path(out_dir) / "flagstat" / f"{role}.json")


FILTERS_TSV = "filters.tsv"
SAMPLES_JSON = "samples.json"  # [[role, sample name in the VCF], ...]
PLOT_PNG = "variants.png"


def outputs(out_dir: str, roles: Sequence[str], somatic: bool) -> list[str]:
    """Every file :func:`variant_qc` writes (the rule's outputs), for the VCF's sample roles."""
    return ([stats_file(out_dir, s.key) for s in stat_sets([(r, r) for r in roles], somatic)]
            + [flagstat_file(out_dir, role) for role in roles]
            + [str(Path(out_dir) / name) for name in (FILTERS_TSV, SAMPLES_JSON, PLOT_PNG)])


def read_samples(out_dir: str | os.PathLike) -> list[tuple[str, str]]:
    return [(role, name) for role, name in json.loads((Path(out_dir) / SAMPLES_JSON).read_text())]


# --------------------------------------------------------------------------------------------
# Reading bcftools' and samtools' outputs back


SN_KEYS = {"number of records:": "records", "number of no-ALTs:": "no_alts", "number of SNPs:": "snv",
           "number of MNPs:": "mnp", "number of indels:": "indel", "number of others:": "other",
           "number of multiallelic sites:": "multiallelic"}


def read_stats(path: str | os.PathLike) -> dict[str, Any]:
    """``bcftools stats``' summary numbers (SN) and first-set Ts/Tv (TSTV) of one file."""
    out: dict[str, Any] = {}
    for line in Path(path).read_text().splitlines():
        f = line.split("\t")
        if f[0] == "SN" and len(f) >= 4 and f[2] in SN_KEYS:
            out[SN_KEYS[f[2]]] = int(f[3])
        elif f[0] == "TSTV" and len(f) >= 5 and "ts" not in out:
            out["ts"], out["tv"] = int(f[2]), int(f[3])
            out["ts_tv"] = float(f[4]) if int(f[3]) else None
    return out


def read_flagstat(path: str | os.PathLike) -> dict[str, Any]:
    """``samtools flagstat -O json`` (QC-passed reads) with the duplicate rate of primary mapped reads."""
    data = json.loads(Path(path).read_text())["QC-passed reads"]
    mapped = data.get("primary mapped") or 0
    return {**data, "duplicate rate": (data.get("primary duplicates") or 0) / mapped if mapped else None}


def read_filters(path: str | os.PathLike) -> list[dict[str, Any]]:
    with open(path, newline="") as handle:
        return [{**r, "records": int(r["records"])} for r in csv.DictReader(handle, delimiter="\t")]


# --------------------------------------------------------------------------------------------
# The step


def _output(cmd: list[str], log_path) -> str:
    """A tool's standard output (the command line goes to the log first)."""
    with open(log_path, "a") as log:
        log.write(shlex.join(cmd) + "\n")
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise WorkflowFailed(f"{cmd[0]} {cmd[1]} failed (exit {proc.returncode}): {proc.stderr.strip()[-500:]}")
    return proc.stdout


def filter_counts(vcf: str, log_path) -> tuple[Counter, dict[str, str]]:
    """Records per FILTER reason (a record with several reasons counts for each), and each
    reason's header description (``bcftools query`` / ``bcftools view -h``)."""
    values = _output(["bcftools", "query", "-f", "%FILTER\\n", vcf], log_path)
    header = _output(["bcftools", "view", "-h", vcf], log_path)
    counts: Counter = Counter()
    for value in values.splitlines():
        for reason in value.split(";"):
            counts["PASS" if reason == "." else reason] += 1
    described = dict(re.findall(r'^##FILTER=<ID=([^,>]+),Description="([^"]*)"', header, flags=re.MULTILINE))
    return counts, described


def variant_qc(vcf: str, roles: Sequence[str], somatic: bool, bams: dict[str, str], out_dir: str,
               log_path) -> None:
    """Everything :func:`outputs` lists; ``roles`` are the VCF's sample columns, in order."""
    sets = len(stat_sets([(r, r) for r in roles], somatic))
    Path(log_path).write_text(f"# bcftools stats of {vcf} ({sets} record sets), bcftools query of its FILTER "
                              f"values, samtools flagstat of {', '.join(bams[r] for r in roles)} -> {out_dir}\n")
    for sub in ("bcftools_stats", "flagstat"):
        Path(out_dir, sub).mkdir(parents=True, exist_ok=True)
    names = _output(["bcftools", "query", "-l", vcf], log_path).split()
    if len(names) != len(roles):
        raise WorkflowFailed(f"{vcf} has samples {', '.join(names)}; expected one per role ({', '.join(roles)})")
    samples = list(zip(roles, names))
    dna_steps.write_json(Path(out_dir) / SAMPLES_JSON, samples)
    for s in stat_sets(samples, somatic):
        cmds = ([["bcftools", "view", *s.view, "-Ou", vcf], ["bcftools", "stats", "-"]] if s.view
                else [["bcftools", "stats", vcf]])
        dna_steps.run_pipeline(cmds, log_path, stdout=stats_file(out_dir, s.key), append=True)
    for role, _ in samples:
        dna_steps.run(["samtools", "flagstat", "-O", "json", bams[role]], log_path, stdout=flagstat_file(out_dir, role))
    counts, described = filter_counts(vcf, log_path)
    with open(Path(out_dir) / FILTERS_TSV, "w", newline="") as out:
        writer = csv.writer(out, delimiter="\t", lineterminator="\n")
        writer.writerow(["filter", "records", "description"])
        for reason, n in sorted(counts.items(), key=lambda kv: (kv[0] != "PASS", -kv[1], kv[0])):
            writer.writerow([reason, n, described.get(reason, "")])
    plot(out_dir, samples, somatic)


def plot(out_dir: str, samples: Sequence[tuple[str, str]], somatic: bool) -> None:
    """Counts by type of each record set (left) and records per FILTER reason (right)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sets = stat_sets(samples, somatic)
    stats = [read_stats(stats_file(out_dir, s.key)) for s in sets]
    filters = read_filters(Path(out_dir) / FILTERS_TSV)
    kinds = [("snv", "SNV"), ("indel", "indel"), ("mnp", "MNP"), ("other", "other")]
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 0.45 * max(len(sets), len(filters)) + 2.2),
                                      constrained_layout=True)
    y = list(range(len(sets)))
    base = [0] * len(sets)
    for (key, label), colour in zip(kinds, ("tab:blue", "tab:orange", "tab:green", "0.6")):
        values = [st.get(key, 0) for st in stats]
        left.barh(y, values, left=base, color=colour, label=label)
        base = [b + v for b, v in zip(base, values)]
    left.set_yticks(y, [s.label for s in sets], fontsize=8)
    left.invert_yaxis()
    left.set_xlabel("records (bcftools stats)")
    left.set_title("Variants by type", fontsize=10)
    left.legend(fontsize=8, loc="lower right")
    fy = list(range(len(filters)))
    right.barh(fy, [f["records"] for f in filters],
               color=["tab:green" if f["filter"] == "PASS" else "tab:red" for f in filters])
    right.set_yticks(fy, [f["filter"] for f in filters], fontsize=8)
    right.invert_yaxis()
    right.set_xlabel("records (a record with several reasons counts for each)")
    right.set_title("FILTER values", fontsize=10)
    fig.savefig(Path(out_dir) / PLOT_PNG, dpi=100)
    plt.close(fig)


def report_destination(output: str) -> str:
    """Where the report is delivered: beside the result VCF, ``<name>.report.html``."""
    for ext in (".vcf.gz", ".vcf"):
        if output.lower().endswith(ext):
            return output[: -len(ext)] + ".report.html"
    return output + ".report.html"

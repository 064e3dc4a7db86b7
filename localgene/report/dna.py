"""The DNA_GERMLINE and DNA_SOMATIC jobs' own report sections: the calls (counts by type and
Ts/Tv per record set and per sample, from ``bcftools stats``), the FILTER values (the reasons
records were filtered by), the somatic classification, and the reads (``samtools flagstat`` of
each duplicate-marked BAM: mapped, properly paired, duplicate rate).

Every number is the tools' own (:mod:`localgene.pipelines.dna_qc` ran them on the delivered
VCF and the BAMs); this module only lays them out.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from localgene.pipelines import dna_qc
from localgene.report.common import Record
from localgene.report.page import Section, fragment, png_data_uri, table

#: Where the report's inputs are, relative to the job folder: ``qc`` the folder dna_qc wrote,
#: ``logs`` the steps' logs (the first line of each is its command).
Paths = Mapping[str, str]
REQUIRED_PATHS = ("summary", "qc", "logs")

COUNT_COLUMNS = ["records", "SNV", "indel", "MNP", "other", "multiallelic", "Ts", "Tv", "Ts/Tv"]
READ_COLUMNS = ["sample", "role", "reads", "mapped", "mapped %", "properly paired %", "duplicates",
                "duplicate rate %", "singletons %"]


def count_rows(qc: Path, somatic: bool) -> tuple[list[str], list[list[Any]], list[str]]:
    """(set keys, table rows, row classes) of every record set."""
    keys, rows, classes = [], [], []
    for s in dna_qc.stat_sets(dna_qc.read_samples(qc), somatic):
        st = dna_qc.read_stats(dna_qc.stats_file(qc, s.key))
        keys.append(s.key)
        rows.append([s.label, st.get("records"), st.get("snv"), st.get("indel"), st.get("mnp"), st.get("other"),
                     st.get("multiallelic"), st.get("ts"), st.get("tv"), st.get("ts_tv")])
        classes.append("sample" if s.role else "")
    return keys, rows, classes


def read_rows(qc: Path) -> list[list[Any]]:
    rows = []
    for role, name in dna_qc.read_samples(qc):
        path = Path(dna_qc.flagstat_file(qc, role))
        if not path.is_file():
            continue
        f = dna_qc.read_flagstat(path)
        rate = f["duplicate rate"]
        rows.append([name, role, f.get("primary"), f.get("primary mapped"), f.get("primary mapped %"),
                     f.get("properly paired %"), f.get("primary duplicates"),
                     None if rate is None else round(100 * rate, 2), f.get("singletons %")])
    return rows


def sections(job_dir: Path, summary: dict[str, Any], paths: Paths) -> list[Section]:
    missing = [name for name in REQUIRED_PATHS if name not in paths]
    if missing:
        raise KeyError(f"the DNA report needs the paths of: {', '.join(missing)}")
    qc = Path(job_dir) / paths["qc"]
    somatic = summary.get("job_type") == "DNA_SOMATIC"
    keys, rows, classes = count_rows(qc, somatic)
    counts_html = table(["set", *COUNT_COLUMNS], rows, row_classes=classes, empty="no bcftools stats",
                        numeric=COUNT_COLUMNS)
    filters = dna_qc.read_filters(qc / dna_qc.FILTERS_TSV)
    total = sum(r[1] or 0 for k, r in zip(keys, rows) if k == "all")
    filters_html = table(
        ["FILTER", "records", "% of records", "description"],
        [[f["filter"], f["records"], round(100 * f["records"] / total, 1) if total else None, f["description"]]
         for f in filters],
        row_classes=["" if f["filter"] == "PASS" else "warn" for f in filters], empty="no records",
        numeric=["records", "% of records"])
    settings = summary.get("settings") or {}
    settings_html = table(["setting", "value"], [(k, "" if v is None else str(v)) for k, v in settings.items()],
                          empty="no settings recorded")
    reads_html = table(READ_COLUMNS, read_rows(qc), empty="no flagstat", numeric=READ_COLUMNS[2:])
    by_key = dict(zip(keys, rows))
    return [
        Section("overview", "Overview", fragment(
            "dna_overview.html.j2", job_type=summary.get("job_type"), caller=summary.get("caller"),
            samples=summary.get("samples") or [], somatic=somatic, all=by_key.get("all"), passed=by_key.get("pass"),
            somatic_row=by_key.get("somatic.pass"), settings=settings_html)),
        Section("calls", "Calls", fragment(
            "dna_calls.html.j2", counts=counts_html, filters=filters_html, somatic=somatic,
            classification=summary.get("counts") or {}, plot=png_data_uri(qc / dna_qc.PLOT_PNG))),
        Section("reads", "Reads", fragment("dna_reads.html.j2", reads=reads_html)),
    ]


def step_commands(log_dir: Path) -> list[tuple[str, str]]:
    """(step, first line of its log) of every ``dna_*.log``: the step's command line."""
    out = []
    for log in sorted(log_dir.glob("dna_*.log")):
        try:
            with open(log, errors="replace") as handle:
                first = handle.readline().rstrip("\n")
        except OSError:
            continue
        if first:
            out.append((log.name.removesuffix(".log"), first))
    return out


def run_record(job_dir: Path, summary: dict[str, Any], paths: Paths) -> Record:
    """The steps' command lines (their logs), job.json's warnings and tool versions (``tools``);
    no timeline (the DNA steps do not record one)."""
    return Record(options=step_commands(Path(job_dir) / paths["logs"]),
                  warnings=[str(w) for w in summary.get("warnings") or []],
                  versions=dict(summary.get("tools") or {}))

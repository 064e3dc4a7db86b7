"""The CNVkit job's own report sections: overview (sex, QC), then per sample the plots, the
called segments and the genes with copy-number changes.

Everything shown is read from CNVkit's outputs. The only judgement made here is which rows to
highlight: a segment or gene whose integer copy number (CNVkit ``call``) differs from the
neutral copy number of its chromosome for the sample's sex as CNVkit's ``sex`` inferred it
(2 on autosomes; chrX 2 in a female, 1 in a male; chrY 0 in a female, 1 in a male). Bins
dropped are the coverage bins (target + antitarget) that ``fix`` left out of the ``.cnr``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

if TYPE_CHECKING:  # pandas is imported where a table is read: not when Snakemake loads the rules
    import pandas as pd

from localgene.report.page import Section, fragment, png_data_uri, table

#: Where the report's inputs are, relative to the job folder ({sample} per sample); the report
#: rule passes the workflow's own layout (rules/common.smk), so this module never restates it.
Paths = Mapping[str, str]
REQUIRED_PATHS = ("cnr", "call", "genemetrics", "scatter", "diagram", "coverage", "sex", "metrics")

GENES_SHOWN = 3  # segment gene lists are cut to this many names


def _read(path: Path) -> pd.DataFrame | None:
    if not path.is_file():
        return None
    import pandas as pd

    return pd.read_csv(path, sep="\t", low_memory=False)


def _path(job_dir: Path, paths: Paths, name: str, **wildcards: str) -> Path:
    return job_dir / paths[name].format(**wildcards)


def _sample_of(value: str, samples: list[str]) -> str | None:
    """The sample a CNVkit table row names by file (``…/T1.targetcoverage.cnn`` -> T1)."""
    base = str(value).rsplit("/", 1)[-1]
    return next((s for s in sorted(samples, key=len, reverse=True) if base == s or base.startswith(s + ".")), None)


def _by_sample(df: pd.DataFrame | None, samples: list[str]) -> dict[str, dict[str, Any]]:
    if df is None or "sample" not in df.columns:
        return {}
    out = {}
    for row in df.to_dict("records"):
        name = _sample_of(row["sample"], samples)
        if name is not None:
            out[name] = row
    return out


def neutral_cn(chromosome: str, sex: str | None) -> int:
    chrom = str(chromosome).lower().removeprefix("chr")
    male = (sex or "").lower() == "male"
    if chrom == "x":
        return 1 if male else 2
    if chrom == "y":
        return 1 if male else 0
    return 2


def change_class(chromosome: str, cn: Any, sex: str | None) -> str:
    """``loss``/``gain`` for a non-neutral integer copy number, "" otherwise."""
    import pandas as pd

    if cn is None or pd.isna(cn):
        return ""
    neutral = neutral_cn(chromosome, sex)
    return "loss" if int(cn) < neutral else "gain" if int(cn) > neutral else ""


def _genes(text: Any) -> str:
    names = [g for g in str(text if isinstance(text, str) else "").split(",") if g and g != "-"]
    shown = ", ".join(names[:GENES_SHOWN])
    return shown + (f" +{len(names) - GENES_SHOWN}" if len(names) > GENES_SHOWN else "")


def _cols(df: pd.DataFrame, wanted: list[str]) -> list[str]:
    return [c for c in wanted if c in df.columns]


def segments_table(calls: pd.DataFrame | None, sex: str | None) -> tuple[Any, int]:
    if calls is None:
        return table([], [], empty="no called segments (call.cns missing)"), 0
    cols = _cols(calls, ["chromosome", "start", "end", "gene", "log2", "cn", "probes", "weight"])
    classes = [change_class(r.chromosome, getattr(r, "cn", None), sex) for r in calls.itertuples()]
    rows = [[_genes(v) if c == "gene" else v for c, v in zip(cols, rec)] for rec in calls[cols].itertuples(index=False)]
    header = ["genes" if c == "gene" else c for c in cols]
    html = table(header, rows, row_classes=classes, empty="no segments",
                 numeric=["start", "end", "log2", "cn", "probes", "weight"])
    return html, sum(1 for c in classes if c)


def genes_table(genes: pd.DataFrame | None, sex: str | None) -> tuple[Any, int]:
    if genes is None:
        return table([], [], empty="no gene table (genemetrics missing)"), 0
    cols = _cols(genes, ["gene", "chromosome", "start", "end", "log2", "cn", "depth", "probes", "weight"])
    if "cn" in genes.columns:
        classes = [change_class(r.chromosome, r.cn, sex) for r in genes.itertuples()]
    else:
        classes = ["loss" if r.log2 < 0 else "gain" for r in genes.itertuples()]
    rows = [list(r) for r in genes[cols].itertuples(index=False)]
    html = table(cols, rows, row_classes=classes,
                 empty="no gene passes genemetrics' threshold: no gene-level copy-number change",
                 numeric=["start", "end", "log2", "cn", "depth", "probes", "weight"])
    return html, len(rows)


def _mean_depth(path: Path) -> tuple[float | None, int]:
    df = _read(path)
    if df is None or "depth" not in df.columns:
        return None, 0
    return float(df["depth"].mean()) if len(df) else None, len(df)


def qc_rows(job_dir: Path, paths: Paths, summary: dict[str, Any], metrics: dict[str, dict[str, Any]]) -> list[list[Any]]:
    rows = []
    for role, group in (("experimental", summary.get("experimental") or {}), ("control", summary.get("controls") or {})):
        for sample in group:
            target, n_target = _mean_depth(_path(job_dir, paths, "coverage", sample=sample, kind="target"))
            anti, n_anti = _mean_depth(_path(job_dir, paths, "coverage", sample=sample, kind="antitarget"))
            cnr = _read(_path(job_dir, paths, "cnr", sample=sample)) if role == "experimental" else None
            m = metrics.get(sample, {})
            bins = len(cnr) if cnr is not None else None
            dropped = (n_target + n_anti - bins) if bins is not None else None
            rows.append([sample, role, bins, m.get("segments"), m.get("stdev"), m.get("mad"), m.get("iqr"),
                         m.get("bivar"), target, anti, dropped])
    return rows


QC_COLUMNS = ["sample", "role", "bins", "segments", "stdev", "MAD", "IQR", "bivar",
              "target depth", "antitarget depth", "bins dropped"]


def sections(job_dir: Path, summary: dict[str, Any], paths: Paths) -> list[Section]:
    missing = [name for name in REQUIRED_PATHS if name not in paths]
    if missing:
        raise KeyError(f"the CNVkit report needs the paths of: {', '.join(missing)}")
    job_dir = Path(job_dir)
    experimental = list(summary.get("experimental") or {})
    samples = list(summary.get("controls") or {}) + experimental
    sex_df = _read(_path(job_dir, paths, "sex"))
    sex = _by_sample(sex_df, samples)
    metrics = _by_sample(_read(_path(job_dir, paths, "metrics")), samples)

    sex_cols = _cols(sex_df, ["sex", "X_logratio", "Y_logratio", "Y_logratio_diff"]) if sex_df is not None else []
    sex_html = table(["sample", *sex_cols], [[s, *(sex[s].get(c) for c in sex_cols)] for s in samples if s in sex],
                     empty="no sex table (sex.tsv missing)", numeric=sex_cols[1:])
    qc_html = table(QC_COLUMNS, qc_rows(job_dir, paths, summary, metrics), empty="no samples",
                    numeric=QC_COLUMNS[2:])
    out = [Section("overview", "Overview", fragment(
        "cnvkit_overview.html.j2", experimental=experimental, controls=list(summary.get("controls") or {}),
        segment_method=summary.get("segment_method"), male_reference=summary.get("male_reference"),
        sex=sex_html, qc=qc_html))]

    for sample in experimental:
        sample_sex = sex.get(sample, {}).get("sex")
        seg_html, changed = segments_table(_read(_path(job_dir, paths, "call", sample=sample)), sample_sex)
        genes_html, n_genes = genes_table(_read(_path(job_dir, paths, "genemetrics", sample=sample)), sample_sex)
        out.append(Section(f"sample-{sample}", f"Sample {sample}", fragment(
            "cnvkit_sample.html.j2", sample=sample, sex=sample_sex,
            scatter=png_data_uri(_path(job_dir, paths, "scatter", sample=sample)),
            diagram=png_data_uri(_path(job_dir, paths, "diagram", sample=sample)),
            segments=seg_html, changed=changed, genes=genes_html, n_genes=n_genes,
            metrics=metrics.get(sample, {})), level=3))
    return out

"""Annotation files in every accepted format give CNVkit clean gene symbols."""

import gzip

import pytest

from localgene.cnvkit.annotation import prepare_annotation, sniff
from localgene.errors import InvalidRequest

GFF3 = """##gff-version 3
chr1\tHAVANA\tgene\t1001\t5000\t.\t+\t.\tID=ENSG00000157764.14;gene_id=ENSG00000157764.14;gene_type=protein_coding;gene_name=BRAF;level=2
chr1\tHAVANA\ttranscript\t1001\t5000\t.\t+\t.\tID=ENST00000288602.11;Parent=ENSG00000157764.14;gene_id=ENSG00000157764.14;transcript_id=ENST00000288602.11;gene_name=BRAF;Name=NM_004333.4
chr1\tHAVANA\texon\t1001\t1200\t.\t+\t.\tID=exon:1;Parent=ENST00000288602.11;gene_id=ENSG00000157764.14;gene_name=BRAF;exon_id=ENSE1
chr1\tHAVANA\tCDS\t1001\t1200\t.\t+\t0\tID=CDS:1;Parent=ENST00000288602.11;gene_name=BRAF;protein_id=NP_004324.2
chr2\tHAVANA\tgene\t20001\t30000\t.\t-\t.\tID=ENSG00000141510.18;gene_id=ENSG00000141510.18;gene_name=TP53
"""
GTF = """chr1\tHAVANA\tgene\t1001\t5000\t.\t+\t.\tgene_id "ENSG00000157764.14"; gene_type "protein_coding"; gene_name "BRAF";
chr1\tHAVANA\texon\t1001\t1200\t.\t+\t.\tgene_id "ENSG00000157764.14"; transcript_id "ENST1"; gene_name "BRAF"; exon_number 1;
"""
REFFLAT = "BRAF\tNM_004333\tchr1\t+\t1000\t5000\t1000\t5000\t2\t1000,3000,\t1200,5000,\n"
BED = "chr1\t1000\t5000\tBRAF\nchr2\t20000\t30000\tTP53\n"


def write(path, text, compress):
    if compress:
        with gzip.open(path, "wt") as fh:
            fh.write(text)
    else:
        path.write_text(text)
    return path


@pytest.mark.parametrize("compress", [False, True])
def test_gff3_becomes_gene_spans_named_by_symbol(tmp_path, compress):
    src = write(tmp_path / ("genes.gff3.gz" if compress else "genes.gff3"), GFF3, compress)
    fmt = prepare_annotation(src, tmp_path / "annotation.txt")
    assert fmt == "gff3"
    assert (tmp_path / "annotation.txt").read_text().splitlines() == [
        "chr1\t1000\t5000\tBRAF",
        "chr2\t20000\t30000\tTP53",
    ]


@pytest.mark.parametrize("compress", [False, True])
def test_gtf_becomes_gene_spans_named_by_symbol(tmp_path, compress):
    src = write(tmp_path / "genes.gtf", GTF, compress)
    assert prepare_annotation(src, tmp_path / "a.txt") == "gtf"
    assert (tmp_path / "a.txt").read_text() == "chr1\t1000\t5000\tBRAF\n"


@pytest.mark.parametrize("text, fmt", [(REFFLAT, "refflat"), (BED, "bed")])
@pytest.mark.parametrize("compress", [False, True])
def test_refflat_and_bed_reach_cnvkit_unchanged(tmp_path, text, fmt, compress):
    src = write(tmp_path / "ann", text, compress)
    assert prepare_annotation(src, tmp_path / "a.txt") == fmt
    assert (tmp_path / "a.txt").read_text() == text


def test_gff3_without_gene_lines_uses_the_span_of_each_genes_features(tmp_path):
    exons_only = "\n".join(row for row in GFF3.splitlines() if "\texon\t" in row or row.startswith("#")) + "\n"
    src = write(tmp_path / "x.gff3", exons_only, False)
    prepare_annotation(src, tmp_path / "a.txt")
    assert (tmp_path / "a.txt").read_text() == "chr1\t1000\t1200\tBRAF\n"


def test_cnvkit_reads_the_prepared_gff3_with_clean_names(tmp_path):
    from skgenome import tabio

    src = write(tmp_path / "genes.gff3.gz", GFF3, True)
    prepare_annotation(src, tmp_path / "annotation.txt")
    regions = tabio.read_auto(str(tmp_path / "annotation.txt"))
    assert list(regions["gene"]) == ["BRAF", "TP53"]


@pytest.mark.parametrize("text", ["", "# only a comment\n", "hello world\n", "chr1\tx\ty\n"])
def test_unreadable_annotations_are_refused(tmp_path, text):
    src = write(tmp_path / "bad.txt", text, False)
    with pytest.raises(InvalidRequest, match="^annotation_file: "):
        sniff(src)

# DESeq2 between the job's groups: every other group against the reference group.
#
#   Rscript --vanilla deseq2.R COUNTS.tsv COLDATA.tsv REFERENCE_GROUP OUTDIR
#
# COUNTS.tsv: gene_id, gene_name, one column of read-pair counts per sample.
# COLDATA.tsv: sample, group (the samples in the count columns' order).
# Writes OUTDIR/<group>_vs_<REFERENCE_GROUP>.csv (gene_id, gene_name, baseMean, log2FoldChange,
# lfcSE, stat, pvalue, padj; DESeq2's Wald test, default independent filtering and Cook's
# cutoff, no fold-change shrinkage; NA where DESeq2 gives none), OUTDIR/normalized_counts.tsv
# and OUTDIR/size_factors.tsv. Group names are used as they are only in file names: inside R
# the groups are levels L1, L2, ... (L1 = REFERENCE_GROUP), so any name the body allows works.

args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 4) {
  stop("usage: deseq2.R COUNTS.tsv COLDATA.tsv REFERENCE_GROUP OUTDIR")
}
counts_path <- args[1]; coldata_path <- args[2]; reference <- args[3]; outdir <- args[4]

suppressPackageStartupMessages(library(DESeq2))
cat("DESeq2", as.character(packageVersion("DESeq2")), "on", R.version.string, "\n")

counts <- read.delim(counts_path, check.names = FALSE, stringsAsFactors = FALSE,
                     colClasses = c(gene_id = "character", gene_name = "character"))
coldata <- read.delim(coldata_path, stringsAsFactors = FALSE, colClasses = "character")
samples <- coldata$sample
stopifnot(identical(colnames(counts)[-(1:2)], samples))
groups <- unique(coldata$group)
if (groups[1] != reference) stop("the first group in COLDATA must be the reference group")

matrix <- as.matrix(counts[, samples, drop = FALSE])
rownames(matrix) <- counts$gene_id
coldata$level <- factor(paste0("L", match(coldata$group, groups)), levels = paste0("L", seq_along(groups)))
rownames(coldata) <- samples

dds <- DESeqDataSetFromMatrix(countData = matrix, colData = coldata, design = ~ level)
dds <- DESeq(dds)

for (k in seq_along(groups)[-1]) {
  res <- results(dds, contrast = c("level", paste0("L", k), "L1"))
  table <- data.frame(
    gene_id = counts$gene_id, gene_name = counts$gene_name,
    baseMean = res$baseMean, log2FoldChange = res$log2FoldChange, lfcSE = res$lfcSE,
    stat = res$stat, pvalue = res$pvalue, padj = res$padj,
    check.names = FALSE
  )
  path <- file.path(outdir, paste0(groups[k], "_vs_", reference, ".csv"))
  write.csv(table, path, row.names = FALSE, na = "NA", quote = TRUE)
  cat(groups[k], "vs", reference, ":", sum(res$padj < 0.05, na.rm = TRUE), "genes at padj < 0.05 ->", path, "\n")
}

normalized <- counts(dds, normalized = TRUE)
write.table(data.frame(gene_id = counts$gene_id, gene_name = counts$gene_name, round(normalized, 4),
                       check.names = FALSE),
            file.path(outdir, "normalized_counts.tsv"), sep = "\t", quote = FALSE, row.names = FALSE)
write.table(data.frame(sample = samples, group = coldata$group, size_factor = sizeFactors(dds)),
            file.path(outdir, "size_factors.tsv"), sep = "\t", quote = FALSE, row.names = FALSE)

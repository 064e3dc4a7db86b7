"""The RNA_DIFF_EXPR job: FASTQ -> cutadapt -> HISAT2 -> samtools -> featureCounts -> DESeq2.

* :mod:`localgene.pipelines.rna.plan` — the job's config read once: groups, samples, reference level,
  contrasts, and the argument list of every tool step (the one source of each command).
* :mod:`localgene.pipelines.rna.index` — building a HISAT2 index into a destination folder.
* :mod:`localgene.pipelines.rna.tools` — running one argument list (or a two-process pipe) with its log.
* :mod:`localgene.pipelines.rna.counts` — featureCounts output: the count matrix and summaries.
* :mod:`localgene.pipelines.rna.strandedness` — the declared library type checked against the reads.
* :mod:`localgene.pipelines.rna.qc` — the per-sample QC table and picture.
* :mod:`localgene.pipelines.rna.plots` — MA and volcano plots of each contrast.
* :mod:`localgene.pipelines.rna.summary` — ``results/job.json`` and delivery.

The workflow is ``rules/rna_diff_expr/``; decisions are in ``docs/rna.md``.
"""

"""localgene: the gene job service API, run locally with Snakemake and the real CNVkit.

Public surface: the exception tree in :mod:`localgene.errors`; job bodies are checked by
:mod:`localgene.cnvkit.options` (CNVkit option strings) and run by :mod:`localgene.run.workflow`.
"""

__version__ = "0.1.0"

"""localgene's shared steps for the pipeline workflows (rules/<job_type>/), run by Snakemake's
script directive; ``params.step`` picks one:

``indexes``
    The reference's indexes from the shared index cache (localgene.pipelines.index_cache), built once per
    reference content and reused by every job. ``params``: ``kinds`` (a list of faidx, dict,
    bwa, hisat2, hisat2-plain), ``fasta``, optionally ``gtf`` (hisat2) and ``cache``
    (``config["index_cache"]``). The output is one folder holding ``reference.fa`` (a link
    to the FASTA) and links to every file of each index, so ``<folder>/reference.fa`` has its
    ``.fai`` and ``reference.dict`` beside it and ``<folder>/reference`` is the bwa/HISAT2
    prefix.
``deliver``
    ``params``: ``results`` (folder), ``output`` (the body's output field), ``instance_id``,
    optionally ``main`` (the file ``output`` stands for when it names a file). Writes
    ``logs/delivered.json``-style JSON to ``output[0]``.

A failure is written to the rule's log as one ``error: …`` line (which localgene shows as the
job's failure reason) and the step exits non-zero, without a traceback.
"""

import sys
from pathlib import Path

from localgene import fileio, storage
from localgene.errors import LocalgeneError
from localgene.pipelines import index_builders, index_cache

snakemake = globals()["snakemake"]  # injected by Snakemake's script directive
p, out = snakemake.params, snakemake.output


def indexes(log):
    folder = Path(out[0])
    folder.mkdir(parents=True, exist_ok=True)
    fasta = Path(p.fasta).absolute()
    link = folder / "reference.fa"
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(fasta.resolve())
    gtf = getattr(p, "gtf", None)
    for kind in p.kinds:
        build = index_builders.BUILDERS.get(kind)
        if build is None:
            raise LocalgeneError(f"unknown index kind {kind!r}; known: {', '.join(index_builders.BUILDERS)}")
        entry = build(p.cache, fasta, gtf, log, snakemake.threads)
        index_cache.link_entry(entry, folder)


def deliver(log):
    delivered = storage.deliver_output(p.results, p.output, p.instance_id, main=getattr(p, "main", None))
    log(f"delivered {len(delivered['files'])} files to {delivered['destination']}")
    fileio.atomic_write_json(out[0], delivered)


STEPS = {"indexes": indexes, "deliver": deliver}

with open(snakemake.log[0], "w") as log_file:

    def log(line):
        log_file.write(line.rstrip("\n") + "\n")
        log_file.flush()
        print(line, flush=True)

    try:
        STEPS[p.step](log)
    except LocalgeneError as exc:
        log_file.write(f"error: {exc}\n")
        sys.exit(1)
    except Exception as exc:  # a bug: keep its traceback in the log, and a readable last line
        import traceback

        log_file.write(traceback.format_exc())
        log_file.write(f"error: internal error in localgene's {p.step} step ({type(exc).__name__}: {exc})\n")
        sys.exit(1)

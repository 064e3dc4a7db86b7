"""The coverage step of one sample: its target and antitarget ``.cnn`` from one read of the BAM.

Run as ``python -m localgene.cnvkit.coverage_step REQUEST_JSON`` (a process of its own), or forked by
the job's CNVkit step server (:mod:`localgene.cnvkit.server`, entry ``coverage``), where CNVkit
is already imported: rules/coverage.smk's ``run:`` block goes through
:func:`localgene.cnvkit.step.run_entry`, which picks one or the other.

The request (JSON) holds ``sample``, ``bam``, ``bai``, ``threads``, per kind (``target``,
``antitarget``) the bins, the ``.cnn`` to write, its log and the ``cnvkit.py coverage``
argument list the ``.cnn`` stands for, the ``cache`` folder (or ""), the normalized coverage
``options`` (part of the cache key), the ``engine_options`` and the job's ``instance_id``.

:func:`localgene.cnvkit.coverage_engine.compute` writes the ``.cnn``: the mosdepth engine (one pass,
CNVkit's own table code, byte-identical) where proven, else ``cnvkit.py coverage`` itself; the
first lines of each kind's log name the engine and the command it equals.

With a shared coverage cache, a control first looks in it under each kind's key lock
(:mod:`localgene.cnvkit.coverage_cache`; the target lock first, then the antitarget lock, always in
that order): a hit is copied into the job's results and the log says whose computation it
reuses; the kinds that miss are computed (still under their locks, so a concurrent job waits
and then reuses them) and published. Experimental samples, and any sample when the cache cannot
be used, are computed.

Imports only the standard library and localgene modules that do (it also runs inside the
conda environment of envs/cnvkit.yaml, with localgene's folder on ``PYTHONPATH``).
"""

from __future__ import annotations

import contextlib
import json
import shlex
import sys
from typing import IO

from localgene import fileio
from localgene.cnvkit import coverage_cache as cc
from localgene.cnvkit import coverage_engine as engine

KINDS = ("target", "antitarget")


def compute(req: dict, kinds, logs: dict[str, IO[str]]) -> int:
    jobs = [engine.CoverageJob(kind, req["bins"][kind], req["outputs"][kind], list(map(str, req["argv"][kind])))
            for kind in kinds]
    options = {**req["engine_options"], "bam_or_bg_file": req["bam"]}
    return engine.compute(req["bam"], jobs, logs, options, threads=req["threads"])


def with_cache(req: dict, logs: dict[str, IO[str]]) -> int:
    if not req["cache"]:
        return compute(req, KINDS, logs)
    sample, outputs = req["sample"], req["outputs"]
    held = contextlib.ExitStack()
    try:
        cache = cc.CoverageCache(req["cache"])
        keys, parts, waited = {}, {}, {}
        version = cc.cnvkit_version()
        for kind in KINDS:  # always target then antitarget: two jobs never wait on each other
            keys[kind], parts[kind] = cc.cache_key(bam=req["bam"], bai=req["bai"], bins=req["bins"][kind], kind=kind,
                                                   options=req["options"], cnvkit=version)
            waited[kind] = held.enter_context(cache.locked(keys[kind]))
    except OSError as exc:  # an unusable cache never fails the job: compute as without one
        held.close()
        for log in logs.values():
            log.write(f"# coverage cache not used ({exc}); computing\n")
        return compute(req, KINDS, logs)
    with held:  # the keys' locks: nobody else computes or publishes these entries meanwhile
        missing = []
        for kind in KINDS:
            hit = cache.lookup(keys[kind])
            if hit is None:
                missing.append(kind)
                continue
            cnn, meta = hit
            fileio.atomic_copy(cnn, outputs[kind])
            logs[kind].write(
                f"# reused coverage of {sample} ({kind}) computed by job {meta.get('instance_id')} "
                f"at {meta.get('computed_at')} (sample {meta.get('sample')}); "
                f"cache entry {cache.entry_dir(keys[kind])}"
                + (f"; waited {waited[kind]:.1f}s for the job computing it" if waited[kind] >= 0.5 else "")
                + "\n"
            )
            logs[kind].write("# stands for: cnvkit.py " + shlex.join(map(str, req["argv"][kind])) + "\n")
        if not missing:
            return 0
        code = compute(req, missing, logs)
        if code != 0:
            return code
        for kind in missing:
            try:
                entry = cache.publish(keys[kind], outputs[kind], {
                    **parts[kind], "instance_id": req["instance_id"], "sample": sample, "computed_at": cc.now_iso(),
                    "host": cc.this_host(), "argv": list(map(str, req["argv"][kind]))})
                logs[kind].write(f"# computed coverage of {sample} ({kind}); published to {entry.parent}\n")
            except OSError as exc:
                logs[kind].write(f"# computed coverage of {sample} ({kind}); not published to the cache ({exc})\n")
        return 0


def main(argv: list[str] | None = None) -> int:
    """``coverage_step REQUEST_JSON``: the exit code (0, or CNVkit's).

    The target log is appended to (the caller opened it afresh, and what this process prints
    lands there too); the antitarget log is written afresh.
    """
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m localgene.cnvkit.coverage_step REQUEST_JSON", file=sys.stderr)
        return 2
    req = json.loads(argv[0])
    with open(req["logs"]["target"], "a") as target_log, open(req["logs"]["antitarget"], "w") as antitarget_log:
        return with_cache(req, {"target": target_log, "antitarget": antitarget_log})


if __name__ == "__main__":
    sys.exit(main())

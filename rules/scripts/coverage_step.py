"""The coverage step of one sample: its target and antitarget ``.cnn`` from one read of the BAM.

``params.argv`` holds, per kind, the ``cnvkit.py coverage`` argument list the ``.cnn`` stands
for. :func:`localgene.coverage_engine.compute` writes them: the mosdepth engine (one pass,
CNVkit's own table code, byte-identical) where proven, else ``cnvkit.py coverage`` itself; the
first lines of each kind's log name the engine and the command it equals.

With a shared coverage cache (config key ``coverage_cache``), a control first looks in it under
each kind's key lock (:mod:`localgene.coverage_cache`; the target lock first, then the
antitarget lock, always in that order): a hit is copied into the job's results and the log
says whose computation it reuses; the kinds that miss are computed (still under their locks,
so a concurrent job waits and then reuses them) and published. Experimental samples, and any
sample when the cache cannot be used, are computed.

Imports only the standard library and localgene modules that do (found through the workflow
folder, so this also runs inside the conda environment of envs/cnvkit.yaml).
"""

import contextlib
import resource
import shlex
import sys
import time

snakemake = globals()["snakemake"]  # injected by Snakemake's script directive
p = snakemake.params
sys.path.insert(0, str(p.basedir))

from localgene import coverage_cache as cc  # noqa: E402
from localgene import coverage_engine as engine  # noqa: E402
from localgene import timeline  # noqa: E402

KINDS = ("target", "antitarget")
sample = snakemake.wildcards.sample
bam = snakemake.input.bam
bins = {"target": snakemake.input.targets, "antitarget": snakemake.input.antitargets}
outputs = {kind: snakemake.output[kind] for kind in KINDS}
engine_options = {**dict(p.engine_options), "bam_or_bg_file": bam}


def compute(kinds, logs):
    jobs = [engine.CoverageJob(kind, bins[kind], outputs[kind], list(map(str, p.argv[kind]))) for kind in kinds]
    return engine.compute(bam, jobs, logs, engine_options, threads=snakemake.threads)


def main(logs):
    if not p.cache:
        return compute(KINDS, logs)
    held = contextlib.ExitStack()
    try:
        cache = cc.CoverageCache(p.cache)
        keys, parts, waited = {}, {}, {}
        version = cc.cnvkit_version()
        for kind in KINDS:  # always target then antitarget: two jobs never wait on each other
            keys[kind], parts[kind] = cc.cache_key(bam=bam, bai=snakemake.input.bai, bins=bins[kind], kind=kind,
                                                   options=p.options, cnvkit=version)
            waited[kind] = held.enter_context(cache.locked(keys[kind]))
    except OSError as exc:  # an unusable cache never fails the job: compute as without one
        held.close()
        for log in logs.values():
            log.write(f"# coverage cache not used ({exc}); computing\n")
        return compute(KINDS, logs)
    with held:  # the keys' locks: nobody else computes or publishes these entries meanwhile
        missing = []
        for kind in KINDS:
            hit = cache.lookup(keys[kind])
            if hit is None:
                missing.append(kind)
                continue
            cnn, meta = hit
            cc.copy_into(cnn, outputs[kind])
            logs[kind].write(
                f"# reused coverage of {sample} ({kind}) computed by job {meta.get('instance_id')} "
                f"at {meta.get('computed_at')} (sample {meta.get('sample')}); "
                f"cache entry {cache.entry_dir(keys[kind])}"
                + (f"; waited {waited[kind]:.1f}s for the job computing it" if waited[kind] >= 0.5 else "")
                + "\n"
            )
            logs[kind].write("# stands for: cnvkit.py " + shlex.join(map(str, p.argv[kind])) + "\n")
        if not missing:
            return 0
        code = compute(missing, logs)
        if code != 0:
            return code
        for kind in missing:
            try:
                entry = cache.publish(keys[kind], outputs[kind], {
                    **parts[kind], "instance_id": p.instance_id, "sample": sample, "computed_at": cc.now_iso(),
                    "host": cc.this_host(), "argv": list(map(str, p.argv[kind]))})
                logs[kind].write(f"# computed coverage of {sample} ({kind}); published to {entry.parent}\n")
            except OSError as exc:
                logs[kind].write(f"# computed coverage of {sample} ({kind}); not published to the cache ({exc})\n")
        return 0


def cpu_seconds():
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def peak_mb():
    return max(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)) / 1024


start, cpu_start = time.time(), cpu_seconds()
with open(snakemake.log["target"], "w") as target_log, open(snakemake.log["antitarget"], "w") as antitarget_log:
    code = main({"target": target_log, "antitarget": antitarget_log})
# One timeline record for the sample's coverage (both kinds). CPU: this process and the tools it
# waited for (mosdepth, a cnvkit.py process), not a step forked by the job's CNVkit step server.
timeline.record("coverage", {"sample": sample}, snakemake.log["target"], start=start, end=time.time(),
                cpu_s=cpu_seconds() - cpu_start, max_rss_mb=peak_mb(), runner="process")
if code != 0:
    sys.exit(code)

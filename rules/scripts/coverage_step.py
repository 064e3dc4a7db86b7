"""The coverage step when the job has a shared coverage cache (config key ``coverage_cache``).

Experimental samples, and any sample when the cache cannot be used, run
``cnvkit.py <params.argv>`` exactly as ``run_cnvkit.py`` does (same argument list, same log
header). A control first looks in the shared cache under the key's lock
(:mod:`localgene.coverage_cache`): on a hit the cached ``.cnn`` is copied into the job's
results and the log says whose computation it reuses; on a miss CNVkit computes it (still
under the lock, so a concurrent job waits and then reuses it) and the result is published.

Imports only the standard library and :mod:`localgene.coverage_cache` (found through the
workflow folder, so this also runs inside the conda environment of envs/cnvkit.yaml).
"""

import contextlib
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

snakemake = globals()["snakemake"]  # injected by Snakemake's script directive
p = snakemake.params
sys.path.insert(0, str(p.basedir))

from localgene import coverage_cache as cc  # noqa: E402


def cnvkit_executable():
    beside = Path(sys.executable).with_name("cnvkit.py")
    return str(beside) if beside.exists() else (shutil.which("cnvkit.py") or "cnvkit.py")


def run_cnvkit(log, argv):
    """As run_cnvkit.py: the command on the log's first line, CNVkit's output after it."""
    log.write("$ cnvkit.py " + shlex.join(argv[1:]) + "\n")
    log.flush()
    return subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL).returncode


def main(log):
    argv = [cnvkit_executable(), *map(str, p.argv)]
    out = snakemake.output[0]
    sample, kind = snakemake.wildcards.sample, snakemake.wildcards.kind
    if not p.cache:
        return run_cnvkit(log, argv)
    held = contextlib.ExitStack()
    try:
        cache = cc.CoverageCache(p.cache)
        key, parts = cc.cache_key(bam=snakemake.input.bam, bai=snakemake.input.bai,
                                  bins=snakemake.input.bins, kind=kind, options=p.options,
                                  cnvkit=cc.cnvkit_version())
        waited = held.enter_context(cache.locked(key))
    except OSError as exc:  # an unusable cache never fails the job: compute as without one
        log.write(f"# coverage cache not used ({exc}); computing\n")
        return run_cnvkit(log, argv)
    with held:  # the key's lock: nobody else computes or publishes this entry meanwhile
        hit = cache.lookup(key)
        if hit is not None:
            cnn, meta = hit
            cc.copy_into(cnn, out)
            log.write(
                f"# reused coverage of {sample} ({kind}) computed by job {meta.get('instance_id')} "
                f"at {meta.get('computed_at')} (sample {meta.get('sample')}); "
                f"cache entry {cache.entry_dir(key)}"
                + (f"; waited {waited:.1f}s for the job computing it" if waited >= 0.5 else "")
                + "\n"
            )
            log.write("# stands for: cnvkit.py " + shlex.join(argv[1:]) + "\n")
            return 0
        code = run_cnvkit(log, argv)
        if code != 0:
            return code
        try:
            entry = cache.publish(key, out, {**parts, "instance_id": p.instance_id, "sample": sample,
                                             "computed_at": cc.now_iso(), "host": cc.this_host(),
                                             "argv": argv[1:]})
            log.write(f"# computed coverage of {sample} ({kind}); published to {entry.parent}\n")
        except OSError as exc:
            log.write(f"# computed coverage of {sample} ({kind}); not published to the cache ({exc})\n")
        return 0


with open(snakemake.log[0], "w") as log:
    code = main(log)
if code != 0:
    sys.exit(code)

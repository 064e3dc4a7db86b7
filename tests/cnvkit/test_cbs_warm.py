"""CNVkit's CBS with one warm R process per segment step (localgene.cnvkit.cbs_warm).

The warm process must answer each of CNVkit's per-arm ``Rscript`` calls with the bytes the
real ``Rscript --no-restore --no-environ SCRIPT ARGS`` writes: checked on scripts that print a
visible value, read their arguments, draw seeded random numbers, write a table, quit early and
fail, and on whole ``cnvkit.py segment -m cbs`` steps forked by a real CNVkit step server,
compared byte for byte with ``cnvkit.py segment`` run as a process, on a copy-ratio table with
a planted loss that the segments must find. What it cannot answer goes to the real Rscript.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from localgene.cnvkit import cbs_warm, server_process
from localgene.cnvkit import server as cnvkit_server
from localgene.cnvkit.step import ENV_WARM, run_cnvkit

FLAGS = ["--no-restore", "--no-environ"]

SCRIPT = """\
x <- 1 + 1
x
cat("args:", commandArgs(trailingOnly = TRUE), sep = "|")
cat("\\n")
set.seed(0xA5EED); cat(runif(3), "\\n")
write.table(data.frame(a = 1:2, b = c("x", "y")), '', sep = '\\t', row.names = FALSE)
cat("left by an earlier script:", exists("left_behind"), "\\n")
left_behind <- TRUE
if (length(commandArgs(trailingOnly = TRUE)) > 1) quit(save = "no", status = 0)
cat("one argument only\\n")
"""


def rscript(script: Path, args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(["Rscript", *FLAGS, str(script), *args], capture_output=True)


@pytest.fixture
def worker():
    w = cbs_warm.Worker("Rscript")
    yield w
    w.close()


def test_each_call_gives_the_bytes_of_its_own_rscript(worker, tmp_path):
    script = tmp_path / "s.R"
    script.write_text(SCRIPT)
    for args in (["one"], ["two", "args"], ["quotes ' \" and\\backslash", "ünïcode and spaces"], ["one"]):
        real = rscript(script, args)
        assert real.returncode == 0
        assert worker.run(str(script), args) == real.stdout, args
    assert b"left by an earlier script: FALSE" in real.stdout  # each call starts afresh
    assert worker.served == 4


def test_a_failing_or_quitting_script_is_left_to_the_real_rscript(worker, tmp_path):
    failing = tmp_path / "f.R"
    failing.write_text('cat("before\\n")\nstop("boom")\n')
    assert rscript(failing, []).returncode == 1
    assert worker.run(str(failing), []) is None
    quitting = tmp_path / "q.R"
    quitting.write_text('quit(save = "no", status = 3)\n')
    assert worker.run(str(quitting), []) is None
    script = tmp_path / "s.R"
    script.write_text(SCRIPT)
    assert worker.run(str(script), ["still here"]) == rscript(script, ["still here"]).stdout
    assert worker.served == 1


def test_a_dead_worker_answers_nothing_and_a_missing_rscript_starts_none(worker, tmp_path):
    script = tmp_path / "s.R"
    script.write_text(SCRIPT)
    worker.proc.kill()
    assert worker.run(str(script), ["x"]) is None and worker.proc is None
    assert cbs_warm.Worker(str(tmp_path / "no-such-Rscript")).run(str(script), ["x"]) is None


# -- whole segment steps ---------------------------------------------------------------------

#: The planted loss: chr2 bins 60-139 (of 200) at log2 -1.
LOSS = ("chr2", 60, 140)


def write_cnr(path: Path, seed: int = 3) -> Path:
    """A CNVkit .cnr: three chromosomes, chr1 with a gap (two arms), noise, one planted loss."""
    rng = np.random.default_rng(seed)
    rows = ["chromosome\tstart\tend\tgene\tlog2\tdepth\tweight"]
    for chrom in ("chr1", "chr2", "chr3"):
        for i in range(200):
            start = i * 1000 + (500_000 if chrom == "chr1" and i >= 100 else 0)
            log2 = rng.normal(0, 0.12) + (-1.0 if chrom == LOSS[0] and LOSS[1] <= i < LOSS[2] else 0)
            rows.append(f"{chrom}\t{start}\t{start + 800}\tG{i}\t{log2:.6g}\t{100 * 2 ** log2:.6g}\t"
                        f"{rng.uniform(0.8, 1):.6g}")
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    folder = tmp_path_factory.mktemp("segment-job")
    env = dict(os.environ)
    env.pop(ENV_WARM, None)
    server = server_process.start(folder, env, local=True)
    assert server is not None, (folder / cnvkit_server.LOG).read_text()
    write_cnr(folder / "t.cnr")
    yield folder, env
    server.stop()


def segment_both_ways(served, options: list[str], name: str) -> tuple[bytes, bytes, str]:
    folder, env = served
    outs = {}
    for how, step_env in (("warm", env), ("plain", dict(env, **{ENV_WARM: "0"}))):
        out, log = folder / f"{name}.{how}.cns", folder / f"{name}.{how}.log"
        code = _run(folder, options, out, log, step_env)
        assert code == 0, log.read_text()
        outs[how] = out.read_bytes()
    notes = [line for line in (folder / cnvkit_server.LOG).read_text().splitlines() if f"-o {name}.warm.cns" in line]
    # the step's log is CNVkit's own (the output names aside)
    assert (folder / f"{name}.warm.log").read_text().replace(".warm.", ".plain.") == \
        (folder / f"{name}.plain.log").read_text()
    return outs["warm"], outs["plain"], "\n".join(notes)


def _run(folder: Path, options, out: Path, log: Path, env) -> int:
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        return run_cnvkit(["segment", "t.cnr", *options, "-o", out.name], str(log), step="segment", env=env)
    finally:
        os.chdir(cwd)


def segments(cns: bytes) -> list[tuple[str, int, int, float]]:
    lines = cns.decode().splitlines()[1:]
    return [(f[0], int(f[1]), int(f[2]), float(f[4])) for f in (line.split("\t") for line in lines)]


#: The server log's line for a segment step whose 4 arms the warm R process answered.
WARM_NOTE = ": 4 chromosome arms segmented by CNVkit's CBS script in one warm R process"


@pytest.mark.parametrize("options", [["-m", "cbs"], [], ["-m", "cbs", "--smooth-cbs", "-t", "0.001"]])
def test_a_cbs_step_in_the_server_writes_cnvkits_bytes_and_finds_the_loss(served, options):
    warm, plain, log = segment_both_ways(served, options, f"cbs{len(options)}")
    assert warm == plain
    assert WARM_NOTE in log, log
    lost = [s for s in segments(warm) if s[3] < -0.7]
    assert [(c, s, e) for c, s, e, _ in lost] == [(LOSS[0], LOSS[1] * 1000, (LOSS[2] - 1) * 1000 + 800)], lost


def test_a_pool_runs_as_cnvkit_alone_would(served):
    from cnvlib import parallel

    warm, plain, log = segment_both_ways(served, ["-m", "cbs", "-p", "2"], "cbs-p2")
    assert warm == plain
    if parallel.available_cpus() > 1:  # a pool of 2: its processes run the real Rscript
        assert log == "", log
    else:  # CNVkit runs the arms in the step's own process (SerialPool), so the warm R answers them
        assert WARM_NOTE in log, log


def test_another_method_runs_as_cnvkit_alone_would(served):
    warm, plain, log = segment_both_ways(served, ["-m", "haar"], "haar")
    assert warm == plain and log == "", log


def test_a_worker_that_dies_mid_step_leaves_the_arms_to_the_real_rscript(tmp_path, monkeypatch):
    from cnvlib import commands

    cnr = write_cnr(tmp_path / "t.cnr")
    monkeypatch.chdir(tmp_path)
    plain = subprocess.run([str(Path(sys.executable).with_name("cnvkit.py")), "segment", str(cnr), "-o", "plain.cns"], capture_output=True)
    assert plain.returncode == 0, plain.stderr
    notes: list[str] = []
    with cbs_warm.warm_cbs("Rscript", notes.append) as worker:
        worker.proc.kill()
        args = commands.parse_args(["segment", str(cnr), "-o", "warm.cns"])
        args.func(args)
    assert Path("warm.cns").read_bytes() == Path("plain.cns").read_bytes()
    assert worker.served == 0 and notes == []

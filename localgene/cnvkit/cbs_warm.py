"""``cnvkit.py segment -m cbs`` with one R process per step instead of one ``Rscript`` per
chromosome arm.

CNVkit's CBS runs DNAcopy through its own R script, ``cnvlib.segmentation.cbs.CBS_RSCRIPT``,
once per chromosome arm: ``Rscript --no-restore --no-environ SCRIPT CNR SAMPLE ALPHA SMOOTH``
through ``cnvlib.core.call_quiet``, whose stdout (the SEG table) CNVkit reads back. Each such
``Rscript`` starts R and loads DNAcopy (~0.26 s here) to segment one arm: 41 arms per human
sample, 7 on the demo genome, where it is most of the step.

In a ``segment`` step forked by the job's CNVkit step server, with method ``cbs``, one R
process (``cbs_worker.R``, started with the same Rscript and flags as CNVkit's, as the step
begins, so its start overlaps CNVkit's reading of the ``.cnr``) loads DNAcopy once; each of
CNVkit's calls is answered by running **the same script with the same arguments** in a forked
copy of that process, which starts from the state a fresh Rscript has after loading DNAcopy
(the script's ``set.seed`` included). The SEG table comes back to CNVkit as ``call_quiet``
would return it; everything before and after is CNVkit's. Only the calls CNVkit makes from the
step's own process with exactly its CBS script are answered so (``segment -p N`` too where
CNVkit sees one usable CPU and runs the arms in-process); any other call, a call from
``segment -p``'s pool processes, a worker that cannot start or dies, and any failing script go
to CNVkit's own ``call_quiet`` (a failing arm then fails as CNVkit's would, with its message).
The step's log stays what ``cnvkit.py segment`` writes; the server's log
(``logs/cnvkit-server.log``) gets a line per step saying how many arms the warm R process
segmented.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

WORKER = Path(__file__).with_name("cbs_worker.R")
FLAGS = ("--no-restore", "--no-environ")
REPLY = "LOCALGENE-CBS "


class Worker:
    """One ``cbs_worker.R`` process for this step's CBS calls."""

    def __init__(self, rscript: str) -> None:
        self.rscript = rscript
        self.owner = os.getpid()
        self.served = 0
        self.proc: subprocess.Popen[str] | None = None
        with contextlib.suppress(OSError):
            self.proc = subprocess.Popen([rscript, *FLAGS, str(WORKER)], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)

    def run(self, script: str, args: list[str]) -> bytes | None:
        """The script's stdout, or None where the warm process cannot answer (then the caller
        runs the real Rscript)."""
        if self.proc is None or os.getpid() != self.owner:
            return None
        assert self.proc.stdin is not None and self.proc.stdout is not None
        with tempfile.TemporaryDirectory(prefix="localgene-cbs-") as scratch:
            out, err = Path(scratch, "out"), Path(scratch, "err")
            fields = [str(out), str(err), script, *args]
            try:
                self.proc.stdin.write(" ".join(f.encode().hex() for f in fields) + "\n")
                self.proc.stdin.flush()
                for line in self.proc.stdout:
                    if line.startswith(REPLY):
                        status = int(line[len(REPLY):])
                        break
                else:
                    status = None  # the worker ended
            except (OSError, ValueError):
                status = None
            if status is None:
                self.close()
                return None
            if status != 0:
                return None
            self.served += 1
            return out.read_bytes()

    def close(self) -> None:
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        with contextlib.suppress(OSError):
            proc.stdin.close()  # type: ignore[union-attr]
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        with contextlib.suppress(OSError):
            proc.stdout.close()  # type: ignore[union-attr]


def _cbs_call(args: tuple, rscript: str, script_text: str) -> bool:
    if len(args) < 4 or args[0] != rscript or tuple(args[1:3]) != FLAGS:
        return False
    try:
        return Path(args[3]).read_text() == script_text
    except (OSError, UnicodeDecodeError):
        return False


def cbs_rscript(argv: list[str]) -> str | None:
    """The Rscript a ``cnvkit.py <argv>`` step runs CBS with, if it is a segment step by CBS."""
    if argv[:1] != ["segment"]:
        return None
    from cnvlib import commands

    try:
        args = commands.parse_args([str(a) for a in argv])
    except SystemExit:
        return None  # CNVkit's own parser says why, when the step runs
    return args.rscript_path if args.method == "cbs" else None


@contextlib.contextmanager
def warm_cbs(rscript: str, note: Callable[[str], None]) -> Iterator[Worker]:
    """CNVkit's CBS calls in this block answered by one warm R process; ``note`` gets a line
    saying how many it answered."""
    from cnvlib import core
    from cnvlib.segmentation import cbs

    worker = Worker(rscript)
    real: Callable[..., bytes] = core.call_quiet

    def call_quiet(*args):
        if _cbs_call(args, rscript, cbs.CBS_RSCRIPT):
            answer = worker.run(str(args[3]), [str(a) for a in args[4:]])
            if answer is not None:
                return answer
        return real(*args)

    core.call_quiet = call_quiet
    try:
        yield worker
    finally:
        core.call_quiet = real
        worker.close()
        if worker.served and os.getpid() == worker.owner:
            note(f"{worker.served} chromosome arm{'s' if worker.served != 1 else ''} segmented by CNVkit's "
                 f"CBS script in one warm R process ({rscript} {' '.join(FLAGS)} cbs_worker.R), not one "
                 "Rscript each")


def wrap(main: Callable[[list[str]], object], server_log: str) -> Callable[[list[str]], object]:
    """CNVkit's ``main`` for a step forked by the server: a CBS segment step with the warm R,
    its note appended to the server's log (the step's own log stays CNVkit's)."""

    def run(argv: list[str]) -> object:
        rscript = cbs_rscript(argv)
        if rscript is None:
            return main(argv)

        def note(line: str) -> None:
            with contextlib.suppress(OSError), open(server_log, "a") as fh:
                fh.write(f"{time.strftime('%H:%M:%S')} cnvkit-server[{os.getpid()}]: "
                         f"{' '.join(map(str, argv))}: {line}\n")

        with warm_cbs(rscript, note):
            return main(argv)

    return run

"""A one-line progress bar for a terminal, plain lines otherwise."""

from __future__ import annotations

from typing import TextIO


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


class ProgressBar:
    """``staging(done_bytes, total_bytes)`` while inputs are fetched, then ``update(k, n)`` steps.

    On a terminal one line is redrawn; otherwise (a log file, CI) plain lines are written: every
    step count, and staging in 10 % strides.
    """

    def __init__(self, stream: TextIO, width: int = 30):
        self.stream, self.width = stream, width
        self.tty = stream.isatty()
        self.last: tuple[int, int] | None = None
        self.last_staged: int | None = None  # percent
        self.drawn = False

    def _bar(self, fraction: float) -> str:
        filled = int(self.width * fraction)
        return "[" + "#" * filled + "-" * (self.width - filled) + "]"

    def staging(self, done: int, total: int) -> None:
        if total <= 0:
            return
        percent = min(100, done * 100 // total)
        stride = 1 if self.tty else 10
        if self.last_staged is not None and percent // stride == self.last_staged // stride:
            return
        self.last_staged = percent
        text = f"staging inputs: {percent}% ({_size(done)} of {_size(total)})"
        if self.tty:
            self.stream.write(f"\r{self._bar(done / total)} {text}\x1b[K")
            self.drawn = True
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def update(self, done: int, total: int) -> None:
        if (done, total) == self.last or total <= 0:
            return
        self.last = (done, total)
        if self.tty:
            self.stream.write(f"\r{self._bar(done / total)} {done}/{total} steps\x1b[K")
            self.drawn = True
        else:
            self.stream.write(f"progress: {done}/{total} steps\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty and self.drawn:
            self.stream.write("\n")
            self.stream.flush()

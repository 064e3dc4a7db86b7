"""A one-line progress bar for a terminal, plain lines otherwise."""

from __future__ import annotations

from typing import TextIO


class ProgressBar:
    def __init__(self, stream: TextIO, width: int = 30):
        self.stream, self.width = stream, width
        self.tty = stream.isatty()
        self.last: tuple[int, int] | None = None

    def update(self, done: int, total: int) -> None:
        if (done, total) == self.last or total <= 0:
            return
        self.last = (done, total)
        if self.tty:
            filled = int(self.width * done / total)
            bar = "#" * filled + "-" * (self.width - filled)
            self.stream.write(f"\r[{bar}] {done}/{total} steps")
        else:
            self.stream.write(f"progress: {done}/{total} steps\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty and self.last:
            self.stream.write("\n")
            self.stream.flush()

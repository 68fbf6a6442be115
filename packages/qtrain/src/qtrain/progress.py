"""Progress on stderr: a live bar on a terminal, one line per epoch otherwise (logs, CI)."""

from __future__ import annotations

import sys
import time
from typing import Optional, TextIO


class Progress:
    """A minimal progress bar; ``quiet`` silences everything but :meth:`summary`."""

    def __init__(self, quiet: bool = False, stream: Optional[TextIO] = None):
        self.quiet = quiet
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last = 0.0
        self._start = time.perf_counter()
        self._title = ""
        self._total = 0

    def start(self, title: str, total: int) -> None:
        self._title, self._total = title, total
        self._start = time.perf_counter()
        self._last = 0.0

    def update(self, done: int, info: str = "") -> None:
        if self.quiet or not self.tty:
            return
        now = time.perf_counter()
        if now - self._last < 0.1 and done < self._total:
            return
        self._last = now
        width = 24
        frac = done / max(1, self._total)
        bar = "#" * int(frac * width) + "-" * (width - int(frac * width))
        rate = done / max(1e-9, now - self._start)
        self.stream.write(f"\r{self._title} [{bar}] {done}/{self._total} {rate:.1f} it/s {info}\x1b[K")
        self.stream.flush()

    def end(self, line: str) -> None:
        if self.quiet:
            return
        if self.tty:
            self.stream.write("\r\x1b[K")
        self.stream.write(line + "\n")
        self.stream.flush()

    def log(self, line: str) -> None:
        if not self.quiet:
            self.stream.write(line + "\n")
            self.stream.flush()

    def summary(self, line: str) -> None:
        """The final one-line summary (printed even when quiet)."""
        if self.tty and not self.quiet:
            self.stream.write("\r\x1b[K")
        self.stream.write(line + "\n")
        self.stream.flush()

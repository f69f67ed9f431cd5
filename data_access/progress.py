"""A plain text progress bar for command-line imports (stderr, redrawn in place on a terminal)."""

from __future__ import annotations

import sys
import time


class TextProgress:
    """Callable ``progress(done, total, message)`` that draws ``[#####-----] 50% message``."""

    def __init__(self, stream=None, width: int = 30) -> None:
        self.stream = stream or sys.stderr
        self.width = width
        self.started = time.perf_counter()
        self._tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._last_line = ""

    def __call__(self, done: int, total: int, message: str = "") -> None:
        total = max(total, 1)
        share = min(max(done / total, 0.0), 1.0)
        filled = round(share * self.width)
        elapsed = time.perf_counter() - self.started
        line = f"[{'#' * filled}{'-' * (self.width - filled)}] {share:4.0%} {elapsed:5.1f}s {message}"
        if self._tty:
            self.stream.write("\r" + line.ljust(len(self._last_line)))
            if done >= total:
                self.stream.write("\n")
        elif line != self._last_line:
            self.stream.write(line + "\n")
        self.stream.flush()
        self._last_line = line

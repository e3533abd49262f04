"""A progress bar with the rate and the time left, on a terminal or in a log.

On a terminal the bar redraws in place; in a log (a Kubernetes Job's, say) it prints a line
every `log_every_s` seconds and at the end, so the log shows progress without a line per step.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

WIDTH = 24


def clock(seconds: float) -> str:
    """"1:02:03", "4:05"."""
    whole = max(0, int(round(seconds)))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class ProgressBar:
    """Steps done of `total`; the ETA from the rate since this bar started (a resumed run's
    earlier steps count as done, not in the rate)."""

    def __init__(self, total: int, done: int = 0, stream: TextIO | None = None,
                 log_every_s: float = 30.0) -> None:
        self.total, self.done, self.first = total, done, done
        self.stream = stream if stream is not None else sys.stderr
        self.terminal = self.stream.isatty()
        self.log_every_s = log_every_s
        self.started = self.last = time.monotonic()

    def update(self, done: int, text: str = "") -> None:
        """Now `done` steps are done; `text` (loss, accuracy) goes after the bar."""
        self.done = done
        now = time.monotonic()
        if self.terminal or now - self.last >= self.log_every_s or done >= self.total:
            self.last = now
            self._draw(now, text)

    def line(self, now: float, text: str) -> str:
        share = self.done / self.total if self.total else 1.0
        filled = int(WIDTH * share)
        bar = "#" * filled + "." * (WIDTH - filled)
        elapsed = now - self.started
        rate = (self.done - self.first) / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else float("nan")
        left = clock(eta) if eta == eta else "?"
        return (f"[{bar}] {self.done}/{self.total} {share:4.0%} {rate:.2f} step/s "
                f"elapsed {clock(elapsed)} ETA {left} {text}").rstrip()

    def _draw(self, now: float, text: str) -> None:
        line = self.line(now, text)
        if self.terminal:
            self.stream.write("\r\x1b[2K" + line)
            if self.done >= self.total:
                self.stream.write("\n")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def message(self, text: str) -> None:
        """A line of its own (an epoch's summary), above the bar."""
        self.stream.write(("\r\x1b[2K" if self.terminal else "") + text + "\n")
        self.stream.flush()

"""Progress of a long step on stderr: done/total, the rate and an ETA, one line at a time.

    progress = Progress("embed train", total=len(texts), unit="texts")
    for batch in batches:
        ...
        progress.advance(len(batch))
    progress.finish()

A line goes out at most every `every` seconds, and once at the end (when `done` reaches `total`, or at
finish()): a stage's log under `dvc repro` stays a few readable lines, not a redrawn bar. Without a total
(unknown in advance) the line has no percentage and no ETA. `scale` divides what is counted for the
display: Progress(label, total=size_in_bytes, unit="MB", scale=1e6) advances by bytes and shows MB.
Standard library only: the stages import it before anything heavy.
"""
from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

REPORT_EVERY_S = 10.0


def clock_text(seconds: float) -> str:
    """mm:ss, or h:mm:ss from an hour on."""
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def amount_text(value: float) -> str:
    """Whole numbers with thousands separators; anything else with one decimal."""
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


class Progress:
    def __init__(self, label: str, total: float | None = None, unit: str = "items", *, scale: float = 1.0,
                 every: float = REPORT_EVERY_S, clock: Callable[[], float] = time.monotonic,
                 stream: TextIO | None = None) -> None:
        self.label, self.total, self.unit, self.scale, self.every = label, total, unit, scale, every
        self.clock, self.stream = clock, stream
        self.done = 0.0
        self.started = self.last_report = clock()
        self.finished = False

    def advance(self, n: float = 1) -> None:
        self.done += n
        if self.total is not None and self.done >= self.total:
            self.finish()
        elif self.clock() - self.last_report >= self.every:
            self.report()

    def finish(self) -> None:
        """The closing line, once (later calls and advances print nothing more)."""
        if not self.finished:
            self.report()
            self.finished = True

    def report(self) -> None:
        if self.finished:
            return
        self.last_report = self.clock()
        print(self.line(self.last_report), file=self.stream or sys.stderr, flush=True)

    def line(self, now: float) -> str:
        """`label: done/total unit (pct), rate unit/s, ETA mm:ss` (no total: `label: done unit, rate unit/s`)."""
        elapsed = now - self.started
        done = self.done / self.scale
        rate = done / elapsed if elapsed > 0 else None
        speed = f", {rate:,.3g} {self.unit}/s" if rate else ""
        if self.total is None:
            return f"{self.label}: {amount_text(done)} {self.unit}{speed}, {clock_text(elapsed)} elapsed"
        total = self.total / self.scale
        share = self.done / self.total if self.total else 1.0
        if share >= 1:
            return f"{self.label}: {amount_text(done)}/{amount_text(total)} {self.unit} (100 %){speed}, " \
                   f"done in {clock_text(elapsed)}"
        eta = f", ETA {clock_text((total - done) / rate)}" if rate else ""
        return f"{self.label}: {amount_text(done)}/{amount_text(total)} {self.unit} ({share * 100:.0f} %){speed}{eta}"

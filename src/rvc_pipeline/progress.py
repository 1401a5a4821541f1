"""Progress of long jobs: a line at least every ``EVERY`` seconds, in the job's log and on the console.

Records go to the ``rvc_pipeline.progress`` logger, which ``logs.to_rule_log`` / ``logs.rule_log``
also send to stderr (Snakemake's console for local jobs). A background thread writes the lines,
so a job that spends minutes inside one call (a faiss training, a long recording) still reports.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Iterable, Iterator
from types import TracebackType
from typing import TypeVar

from rvc_pipeline.logs import PROGRESS_LOGGER

EVERY = 30.0

progress_log = logging.getLogger(PROGRESS_LOGGER)
T = TypeVar("T")


def format_duration(seconds: float) -> str:
    """``h:mm:ss`` of a duration (``-:--:--`` when unknown)."""
    if not math.isfinite(seconds):
        return "-:--:--"
    whole = int(round(seconds))
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def log_progress(message: str, owner: int | None = None, level: int = logging.INFO) -> None:
    """Log ``message`` as a progress line; ``owner`` is the thread whose job it belongs to.

    Thread-run jobs keep their records by the thread that made them (``logs.rule_log``), so a
    line written by a helper thread carries its owner's thread id.
    """
    if not progress_log.isEnabledFor(level):
        return
    record = progress_log.makeRecord(progress_log.name, level, __file__, 0, message, (), None)
    if owner is not None:
        record.thread = owner
    progress_log.handle(record)


class Progress:
    """Count work done and log ``label: phase, done/total unit, rate, ETA`` every ``every`` seconds.

    Use as a context manager around the work; loop over ``each(items)`` (or call ``advance()``),
    ``phase()`` before a long single step. A last line on exit gives the total time.
    """

    def __init__(
        self, label: str, total: int | None = None, unit: str = "files", every: float = EVERY
    ) -> None:
        self.label = label
        self.total = total
        self.unit = unit
        self.every = every
        self.done = 0
        self._phase = ""
        self._started = time.monotonic()
        self._stop = threading.Event()
        self._owner = threading.get_ident()
        self._thread = threading.Thread(target=self._run, name=f"progress {label}", daemon=True)

    def __enter__(self) -> Progress:
        self._started = time.monotonic()
        self._owner = threading.get_ident()
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join()
        if kind is None:
            counted = f", {self.done} {self.unit}" if self.total is not None or self.done else ""
            log_progress(f"{self.label}: done in {format_duration(self.elapsed())}{counted}", self._owner)

    def advance(self, count: int = 1) -> None:
        self.done += count

    def each(self, items: Iterable[T]) -> Iterator[T]:
        """The items, each counted once the loop body has finished with it."""
        for item in items:
            yield item
            self.done += 1

    def phase(self, text: str) -> None:
        self._phase = text

    def elapsed(self) -> float:
        return time.monotonic() - self._started

    def status(self) -> str:
        """The progress line as of now."""
        parts = [self._phase] if self._phase else []
        elapsed = self.elapsed()
        if self.total:
            rate = self.done / elapsed if elapsed > 0 else 0.0
            left = (self.total - self.done) / rate if rate > 0 else float("nan")
            parts.append(
                f"{self.done}/{self.total} {self.unit} ({100 * self.done / self.total:.0f} %), "
                f"{rate:.2f} {self.unit}/s, ETA {format_duration(left)}"
            )
        parts.append(f"{format_duration(elapsed)} elapsed")
        return f"{self.label}: " + ", ".join(parts)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            log_progress(self.status(), self._owner)

"""Throttled progress for long steps: count items as they finish, report every N items or T seconds.

One helper for every long step (sampling contexts, LLM requests of Phase 1, Phase 2 and pass^k,
exporting rows), so their progress lines arrive at the same pace; what a line says and where it goes
is the callback's business (the Dagster shell logs it with `context.log`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class ProgressUpdate:
    done: int
    total: int | None
    elapsed_s: float
    final: bool


ProgressCallback = Callable[[ProgressUpdate], None]


class ProgressThrottle:
    """Calls `report` when `every_items` more items finished or `every_seconds` passed since the last
    report (checked as items finish), and once more from `finish()` with the final count."""

    def __init__(self, report: ProgressCallback, total: int | None = None, every_items: int = 50,
                 every_seconds: float = 10.0, clock: Callable[[], float] = time.monotonic):
        if every_items < 1 or every_seconds <= 0:
            raise ValueError("progress is reported every >= 1 items and every > 0 seconds")
        self.report = report
        self.total = total
        self.every_items = every_items
        self.every_seconds = every_seconds
        self.clock = clock
        self.done = 0
        self._started = clock()
        self._last_done = 0
        self._last_at = self._started

    def advance(self, items: int = 1) -> None:
        self.done += items
        now = self.clock()
        if self.done - self._last_done >= self.every_items or now - self._last_at >= self.every_seconds:
            self._emit(now, final=False)

    def finish(self) -> None:
        self._emit(self.clock(), final=True)

    def _emit(self, now: float, final: bool) -> None:
        self._last_done, self._last_at = self.done, now
        self.report(ProgressUpdate(done=self.done, total=self.total, elapsed_s=round(now - self._started, 3),
                                   final=final))

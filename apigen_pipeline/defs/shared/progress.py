"""Progress lines in the run's log (`context.log`) from every long step, at the pace of the core
`ProgressThrottle`: items done, what they yielded and what they cost so far."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import dagster as dg

from apigen_pipeline.llm.gateway import LLMGateway
from apigen_pipeline.llm.request_log import LogRecord, RequestStore
from apigen_pipeline.progress import ProgressThrottle, ProgressUpdate

# A line per 25 items or per 10 s, whichever comes first: a 20-context batch logs a few lines, a long
# LLM stage one every ten seconds.
PROGRESS_EVERY_ITEMS = 25
PROGRESS_EVERY_SECONDS = 10.0


def logged_progress(log: dg.DagsterLogManager, what: str, total: int | None = None,
                    details: Callable[[], str] | None = None) -> ProgressThrottle:
    """A throttle whose reports are info lines: `<what>: 50/120 (...) after 12.3 s`."""

    def report(update: ProgressUpdate) -> None:
        count = f"{update.done}/{update.total}" if update.total is not None else str(update.done)
        extra = f" ({details()})" if details is not None else ""
        log.info(f"{what}: {count}{extra}{', finished' if update.final else ''} after {update.elapsed_s:.1f} s")

    return ProgressThrottle(report, total=total, every_items=PROGRESS_EVERY_ITEMS,
                            every_seconds=PROGRESS_EVERY_SECONDS)


class _CountingRequestLog:
    """The gateway's request log, unchanged, telling `on_record` about every request it records."""

    def __init__(self, inner: RequestStore, on_record: Callable[[], None]):
        self._inner = inner
        self._on_record = on_record

    def append(self, record: LogRecord) -> None:
        self._inner.append(record)
        self._on_record()

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)


@contextmanager
def llm_request_progress(gateway: LLMGateway, log: dg.DagsterLogManager, stage: str) -> Iterator[None]:
    """Progress of a stage's LLM requests (answered, failed, cache hits, cost and projected cost so far)
    while the gateway works; the last line is logged when the stage's LLM work ends."""
    stats = gateway.stats

    def details() -> str:
        return (f"{int(stats.total('answered'))} answered, {int(stats.total('failed'))} failed, "
                f"{int(stats.total('cache_hits'))} from the request log; cost so far ${stats.cost_usd:.4f}, "
                f"projected on the configured models ${stats.projected_cost_usd:.4f}")

    progress = logged_progress(log, f"{stage}: LLM requests sent", details=details)
    recording = gateway.request_log
    gateway.request_log = _CountingRequestLog(recording, progress.advance)  # type: ignore[assignment]
    try:
        yield
    finally:
        gateway.request_log = recording
        progress.finish()

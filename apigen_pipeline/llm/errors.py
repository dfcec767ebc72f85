"""The classified provider error: what every provider raises and the gateway retries (or not) by kind."""

from __future__ import annotations

from apigen_pipeline.llm.types import ErrorKind


class ProviderError(Exception):
    """A failed send, classified so the gateway knows whether and when to retry."""

    def __init__(self, kind: ErrorKind, message: str, retry_after: float | None = None,
                 status_code: int | None = None):
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.retry_after = retry_after
        self.status_code = status_code

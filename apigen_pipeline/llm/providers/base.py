"""The provider interface: one async `send` per request, errors raised as classified `ProviderError`s."""

from __future__ import annotations

from typing import Protocol

from apigen_pipeline.llm.types import ErrorKind, LLMRequest, LLMResponse


class ProviderError(Exception):
    """A failed send, classified so the gateway knows whether and when to retry."""

    def __init__(self, kind: ErrorKind, message: str, retry_after: float | None = None,
                 status_code: int | None = None):
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.retry_after = retry_after
        self.status_code = status_code


class Provider(Protocol):
    """Sends one request to one model. Implementations must not retry: the gateway owns retries."""

    name: str

    async def send(self, request: LLMRequest, model: str) -> LLMResponse: ...

    async def aclose(self) -> None: ...

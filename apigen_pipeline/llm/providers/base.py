"""The provider interface: one async `send` per request, errors raised as classified `ProviderError`s
(`apigen_pipeline.llm.errors`)."""

from __future__ import annotations

from typing import Protocol

from apigen_pipeline.llm.types import LLMRequest, LLMResponse


class Provider(Protocol):
    """Sends one request to one model. Implementations must not retry: the gateway owns retries."""

    name: str

    async def send(self, request: LLMRequest, model: str) -> LLMResponse: ...

    async def aclose(self) -> None: ...

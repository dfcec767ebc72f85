"""The narrow interface pipeline stages use to call LLMs.

Stages depend on `LLMClient`, not on the gateway: production binds the gateway (cache, limits,
retries, repair, cost) to a partition; unit tests can use `DirectClient` over any provider.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from typing import Protocol

from apigen_pipeline.llm.errors import ProviderError
from apigen_pipeline.llm.providers.base import Provider
from apigen_pipeline.llm.types import ErrorKind, LLMRequest, LLMResult, request_key


class LLMClient(Protocol):
    def complete_many(self, requests: Sequence[LLMRequest]) -> list[LLMResult]:
        """One result per request, in order: answered, or a classified failure (never None)."""
        ...


class DirectClient:
    """Sends straight to one provider: no cache, no retries, no repair. For tests and debugging."""

    def __init__(self, provider: Provider, model: str = "simulated", simulated: bool = True):
        self.provider = provider
        self.model = model
        self.simulated = simulated
        self.sent = 0

    def complete_many(self, requests: Sequence[LLMRequest]) -> list[LLMResult]:
        return asyncio.run(self._complete_all(list(requests)))

    async def _complete_all(self, requests: list[LLMRequest]) -> list[LLMResult]:
        return list(await asyncio.gather(*(self._complete(r) for r in requests)))

    async def _complete(self, request: LLMRequest) -> LLMResult:
        key = request_key(request, self.provider.name, self.model)
        started = time.perf_counter()
        self.sent += 1
        base = {"request_key": key, "attempts": 1, "provider": self.provider.name, "model": self.model,
                "simulated": self.simulated}
        try:
            response = await self.provider.send(request, self.model)
        except ProviderError as error:
            return LLMResult(status="failed", error_kind=error.kind, error_message=error.message, **base)
        if request.response_schema is not None:
            try:
                response.parsed = json.loads(response.text or "")
            except json.JSONDecodeError as error:
                return LLMResult(status="failed", error_kind=ErrorKind.INVALID_OUTPUT, response=response,
                                 error_message=f"reply is not JSON: {error}", **base)
        return LLMResult(status="answered", response=response, latency_s=time.perf_counter() - started, **base)

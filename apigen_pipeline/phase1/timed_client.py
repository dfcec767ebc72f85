"""An `LLMClient` wrapper that measures time spent waiting on LLM calls and counts requests.

The benchmark's "non-LLM time per attempt" is total wall time minus this; the counts feed stats.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from apigen_pipeline.llm.client import LLMClient
from apigen_pipeline.llm.context_window import ContextWindow
from apigen_pipeline.llm.types import LLMRequest, LLMResult, Role


class TimedClient:
    def __init__(self, client: LLMClient):
        self.client = client
        self.llm_s = 0.0
        self.requests = 0
        self.failures = 0
        self.calls = 0

    def context_window(self, role: Role) -> ContextWindow | None:
        """The context window of the role's model when the wrapped client knows it (the gateway's does)."""
        window_of = getattr(self.client, "context_window", None)
        return window_of(role) if window_of is not None else None

    def complete_many(self, requests: Sequence[LLMRequest]) -> list[LLMResult]:
        if not requests:
            return []
        started = time.perf_counter()
        results = self.client.complete_many(requests)
        self.llm_s += time.perf_counter() - started
        if len(results) != len(requests):
            # A client that loses results breaks the one-result-per-request contract: fail loudly.
            raise RuntimeError(f"LLM client returned {len(results)} results for {len(requests)} requests")
        self.calls += 1
        self.requests += len(requests)
        self.failures += sum(1 for r in results if not r.ok)
        return list(results)

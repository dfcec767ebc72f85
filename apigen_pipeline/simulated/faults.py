"""Configurable, deterministic fault injection for the simulated backend.

The rates (`FaultKind`, `FaultRates`) are part of the LLM settings (`llm.simulated_faults`); this
module decides, per request, whether a fault fires.

Repair requests never get a fault: when the gateway re-asks after an invalid reply it appends the
bad answer and a user message starting with `REPAIR_MARKER`; injecting again there would make
repairs fail at the fault rate a second time and the repair path would never be seen to succeed.
"""

from __future__ import annotations

import random

from apigen_pipeline.llm.simulated_faults import FaultKind, FaultRates
from apigen_pipeline.llm.structured import REPAIR_MARKER
from apigen_pipeline.llm.types import LLMRequest

__all__ = ["REPAIR_MARKER", "FaultInjector", "FaultKind", "FaultRates", "is_repair_request"]


class FaultInjector:
    """Decides whether a fault fires, from a caller-supplied seeded `random.Random` only."""

    def __init__(self, rates: FaultRates | None = None):
        self.rates = rates if rates is not None else FaultRates()

    def fires(self, kind: FaultKind | str, rng: random.Random) -> bool:
        # Always draw exactly once, whatever the rate, so one kind's rate never shifts the
        # random stream (and therefore the answers) seen by the decisions that follow.
        draw = rng.random()
        return draw < self.rates.rate(kind)


def is_repair_request(request: LLMRequest) -> bool:
    """True when the last user message is the gateway's re-ask after an invalid reply."""
    for message in reversed(request.messages):
        if message.role == "user":
            return (message.content or "").lstrip().startswith(REPAIR_MARKER)
    return False

from __future__ import annotations

import pytest

from apigen_pipeline.llm.types import ChatMessage, LLMRequest, LLMResponse
from apigen_pipeline.simulated.context import SimulationContext
from apigen_pipeline.simulated.provider import SimulatedProvider
from apigen_pipeline.simulated.registry import RoleHandlerRegistry


def _handler(request: LLMRequest, ctx: SimulationContext) -> LLMResponse | None:
    return ctx.text_response("handled")


def _other_handler(request: LLMRequest, ctx: SimulationContext) -> LLMResponse | None:
    return None


def test_registry_registers_gets_and_unregisters() -> None:
    registry = RoleHandlerRegistry()
    assert registry.get("judge") is None
    registry.register("judge", _handler)
    assert registry.get("judge") is _handler
    assert registry.roles() == ["judge"]
    registry.unregister("judge")
    assert registry.get("judge") is None


def test_registering_a_different_handler_needs_replace() -> None:
    registry = RoleHandlerRegistry()
    registry.register("judge", _handler)
    registry.register("judge", _handler)  # the same handler again is harmless
    with pytest.raises(ValueError, match="already registered"):
        registry.register("judge", _other_handler)
    registry.register("judge", _other_handler, replace=True)
    assert registry.get("judge") is _other_handler


def test_registration_reaches_the_provider_holding_the_registry() -> None:
    request = LLMRequest(role="summarizer", messages=[ChatMessage(role="user", content="Summarise.")])
    registry = RoleHandlerRegistry()
    assert SimulatedProvider(handlers=registry).simulate(request, "m").handled_by == "generic"
    registry.register("summarizer", _handler)
    assert registry.get("summarizer") is _handler
    outcome = SimulatedProvider(handlers=registry).simulate(request, "m")
    assert (outcome.handled_by, outcome.response.text) == ("summarizer", "handled")
    registry.unregister("summarizer")
    assert registry.get("summarizer") is None
    # Nothing is process-wide: a provider without the registry never sees its handlers.
    registry.register("summarizer", _handler)
    assert SimulatedProvider().simulate(request, "m").handled_by == "generic"

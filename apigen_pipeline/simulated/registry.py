"""Role handlers: how the simulated backend plays each pipeline role.

A handler is `handler(request, ctx) -> LLMResponse | None`; returning None falls back to the generic
behaviour. A `RoleHandlerRegistry` is an ordinary object handed to the `SimulatedProvider` that uses
it: nothing is registered process-wide, so two providers (two partitions, two tests) never share
handlers by accident. `roles.role_registry` builds the registry of every pipeline role.
"""

from __future__ import annotations

from collections.abc import Callable

from apigen_pipeline.llm.types import LLMRequest, LLMResponse
from apigen_pipeline.simulated.context import SimulationContext

RoleHandler = Callable[[LLMRequest, SimulationContext], LLMResponse | None]


class RoleHandlerRegistry:
    """Role name -> handler. One handler per role; it can dispatch further on `request.tags`."""

    def __init__(self) -> None:
        self._handlers: dict[str, RoleHandler] = {}

    def register(self, role: str, handler: RoleHandler, *, replace: bool = False) -> None:
        current = self._handlers.get(role)
        if current is not None and current is not handler and not replace:
            raise ValueError(f"a simulated handler for role {role!r} is already registered; pass replace=True")
        self._handlers[role] = handler

    def unregister(self, role: str) -> None:
        self._handlers.pop(role, None)

    def get(self, role: str) -> RoleHandler | None:
        return self._handlers.get(role)

    def roles(self) -> list[str]:
        return sorted(self._handlers)

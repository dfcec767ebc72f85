"""`SimulationContext`: everything a role handler needs to answer one request deterministically.

A `random.Random` seeded from (seed, request, model), the fault injector (which never fires on
repair requests) with its own stream, the JSON found in the prompt with a grounding index over it,
and response builders.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from apigen_pipeline.llm.structured import REPAIR_MARKER
from apigen_pipeline.llm.tokens import estimate_tokens, json_text
from apigen_pipeline.llm.types import ChatMessage, LLMRequest, LLMResponse, ToolCallData
from apigen_pipeline.phase1.compact_records import expand
from apigen_pipeline.simulated.faults import FaultInjector, FaultKind
from apigen_pipeline.simulated.prompt_json import GroundingIndex, extract_json_blocks
from apigen_pipeline.simulated.schema_values import value_for_schema


@dataclass
class SimulationContext:
    request: LLMRequest
    model: str
    seed: int
    rng: random.Random
    faults: FaultInjector
    # Fault decisions draw from their own stream so that enabling faults never changes the
    # answers to requests on which no fault fires.
    fault_rng: random.Random
    is_repair: bool
    fired_faults: list[FaultKind] = field(default_factory=list)

    extract_json_blocks = staticmethod(extract_json_blocks)
    estimate_tokens = staticmethod(estimate_tokens)

    def fires(self, kind: FaultKind | str) -> bool:
        """Should this fault happen on this request? Never on a repair request; recorded when it does."""
        hit = self.faults.fires(kind, self.fault_rng)
        if hit and not self.is_repair:
            self.fired_faults.append(FaultKind(kind))
            return True
        return False

    # -- what the prompt holds -------------------------------------------------------------------
    @cached_property
    def prompt_json(self) -> tuple[Any, ...]:
        """Every JSON object/array in the messages (text, tool results) and earlier tool-call arguments."""
        found: list[Any] = []
        for message in self.request.messages:
            found.extend(extract_json_blocks(message.content))
            found.extend(call.arguments for call in message.tool_calls)
        return tuple(found)

    @cached_property
    def grounding(self) -> GroundingIndex:
        # Tables (prompt v3 writes records as tables) are read as the records they hold, by field name.
        return GroundingIndex.from_values(expand(value) for value in self.prompt_json)

    @property
    def last_user_text(self) -> str | None:
        """The last user message that poses the task: a repair re-ask names only the error, so a role asked to
        repair its invalid reply answers the task again (instead of the generic filler echoing the prompt)."""
        return _last_content([m for m in self.request.messages
                              if not (m.content or "").lstrip().startswith(REPAIR_MARKER)], "user")

    @property
    def system_text(self) -> str | None:
        return _last_content(self.request.messages, "system")

    # -- building answers ------------------------------------------------------------------------
    def value_for_schema(self, schema: Mapping[str, Any] | bool, name: str | None = None) -> Any:
        """A value for `schema` from this request's stream, reusing values seen in the prompt."""
        return value_for_schema(schema, self.rng, grounding=self.grounding, name=name)

    def new_call_id(self) -> str:
        return f"call_{self.rng.getrandbits(64):016x}"

    def text_response(self, text: str) -> LLMResponse:
        return LLMResponse(text=text, finish_reason="stop")

    def json_response(self, value: Any) -> LLMResponse:
        return LLMResponse(text=json_text(value), finish_reason="stop")

    def tool_call_response(self, name: str, arguments: dict[str, Any], text: str | None = None) -> LLMResponse:
        call = ToolCallData(id=self.new_call_id(), name=name, arguments=arguments)
        return LLMResponse(text=text, tool_calls=[call], finish_reason="tool_calls")


def _last_content(messages: Sequence[ChatMessage], role: str) -> str | None:
    for message in reversed(messages):
        if message.role == role:
            return message.content
    return None

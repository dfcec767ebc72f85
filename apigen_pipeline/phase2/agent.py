"""The agent under simulation: domain policy as a static system prompt, the domain's tool schemas, and
the conversation so far. It never sees the blueprint.

In `native` tool-call mode the request carries the tools; in `json` mode it is rewritten into a
next-action JSON request (`llm.tool_call_modes`) and the reply is turned back into typed tool calls,
so both modes give the same data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from apigen_pipeline.environments.base import Environment
from apigen_pipeline.llm.errors import ProviderError
from apigen_pipeline.llm.tool_call_modes import from_json_mode, to_json_mode
from apigen_pipeline.llm.types import (
    ChatMessage,
    LLMRequest,
    LLMResult,
    SamplingParams,
    ToolCallData,
    ToolSchema,
)
from apigen_pipeline.phase2.models import Phase2Settings, TrajectoryMessage
from apigen_pipeline.phase2.prompts import prompt_version, render


def agent_system_text(environment: Environment, domain: str, version: str) -> str:
    return _system_text(version, domain, environment.policy_text)


@lru_cache(maxsize=16)
def _system_text(version: str, domain: str, policy: str) -> str:
    return render("agent", version, "system", domain=domain, policy=policy)


def agent_tools(environment: Environment) -> list[ToolSchema]:
    return [ToolSchema(name=s.name, description=s.description, parameters=s.parameters)
            for s in environment.tool_specs]


def agent_history(messages: Sequence[TrajectoryMessage]) -> list[ChatMessage]:
    return [ChatMessage(role=m.role, content=m.content, tool_calls=list(m.tool_calls), tool_call_id=m.tool_call_id,
                        name=m.name) for m in messages]


def agent_request(system_text: str, tools: list[ToolSchema], messages: Sequence[TrajectoryMessage],
                  tags: Mapping[str, str], settings: Phase2Settings) -> LLMRequest:
    request = LLMRequest(
        role="agent",
        messages=[ChatMessage(role="system", content=system_text, cacheable=True), *agent_history(messages)],
        tools=tools,
        prompt_version=prompt_version("agent", settings.prompts.agent),
        sampling=SamplingParams(temperature=settings.agent_temperature, max_tokens=settings.max_tokens),
        tags=dict(tags),
    )
    return to_json_mode(request) if settings.tool_call_mode == "json" else request


@dataclass(frozen=True)
class AgentReply:
    """What one agent step produced: text for the user, or one call to execute (extra calls are violations)."""

    text: str | None
    call: ToolCallData | None
    extra_calls: list[ToolCallData] = field(default_factory=list)
    failure: str | None = None  # the step failed: the episode ends with provider_failure


def interpret_agent_result(result: LLMResult, settings: Phase2Settings, tool_names: Sequence[str]) -> AgentReply:
    if not result.ok or result.response is None:
        detail = f"{result.status}: {result.error_kind or ''} {result.error_message or ''}".strip()
        return AgentReply(text=None, call=None, failure=f"agent {detail}")
    response = result.response
    if settings.tool_call_mode == "json":
        try:
            response = from_json_mode(response, tool_names)
        except ProviderError as error:
            return AgentReply(text=None, call=None, failure=f"agent invalid_output: {error.message}")
    calls = list(response.tool_calls)
    text = (response.text or "").strip() or None
    if not calls and text is None:
        return AgentReply(text=None, call=None, failure="agent invalid_output: empty reply")
    return AgentReply(text=text, call=calls[0] if calls else None, extra_calls=calls[1:])

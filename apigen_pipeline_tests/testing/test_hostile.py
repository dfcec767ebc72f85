"""Each weak-model profile through the real OpenAI SDK and the gateway, then the stage code that reads the
answer: every degraded reply is either parsed back to what the model meant or classified as a failure
(invalid output, a failed format stage, an agent failure), never taken as a good answer."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from apigen_pipeline.llm.config import LLMSettings, ModelRef, RoleModels
from apigen_pipeline.llm.gateway import CallContext, LLMGateway
from apigen_pipeline.llm.request_log import RequestLog
from apigen_pipeline.llm.types import ChatMessage, ErrorKind, LLMRequest, LLMResult, ToolSchema
from apigen_pipeline.phase1.prompts import GENERATOR_SCHEMA
from apigen_pipeline.phase1.settings import ValidityConfig
from apigen_pipeline.phase1.validation.generation import check_generation
from apigen_pipeline.phase1.validation.scope import ToolScope
from apigen_pipeline.phase1.validation.staged import validate_payload
from apigen_pipeline.phase2.agent import agent_tools, interpret_agent_result
from apigen_pipeline.phase2.models import STOP_TOKEN, Phase2Settings
from apigen_pipeline.testing.hostile import (
    HOSTILE_PROFILES,
    NEVER_DONE,
    UNKNOWN_TOOL,
    HostileProfile,
    degrade,
    hostile_responder,
)
from apigen_pipeline.testing.wire_servers import AnthropicWireServer, OpenAIWireServer, WireReply, WireServer
from apigen_pipeline.warehouse import Warehouse
from apigen_pipeline_tests.phase2.helpers import mock_environment

KEY_ENV = "APIGEN_HOSTILE_TEST_KEY"
CONTEXT = CallContext(domain="mockshop", batch="b1", run_id="hostile", asset="blueprints")
ENVIRONMENT = mock_environment()
SCOPE = ToolScope(tools=frozenset({"find_user", "cancel_order"}), write_tools=frozenset({"cancel_order"}))
BLUEPRINT = {"instruction": "You are user_000 (user_000@example.com) and you want your pending order O0000 "
                            "cancelled because you ordered it twice.",
             "actions": [{"name": "find_user", "arguments": {"email": "user_000@example.com"}},
                         {"name": "cancel_order", "arguments": {"order_id": "O0000"}}],
             "outputs": []}
AGENT_CALL = {"name": "find_user", "arguments": {"email": "user_000@example.com"}}


def plausible(body: dict[str, Any], call_index: int) -> WireReply:
    """A competent model: a good blueprint, a well-formed tool call, a user who says when it is done."""
    if body.get("response_format"):
        return WireReply.of_json({"reasoning": "find the user, then cancel", "blueprint": BLUEPRINT})
    forced = (body.get("tool_choice") or {}).get("name") if isinstance(body.get("tool_choice"), dict) else None
    if forced == "generator":  # Anthropic: the schema is a forced tool, the answer its input
        return WireReply.of_tool_call("generator", {"reasoning": "find the user, then cancel", "blueprint": BLUEPRINT})
    if body.get("tools"):
        return WireReply.of_tool_call(AGENT_CALL["name"], AGENT_CALL["arguments"])
    return WireReply.of_text(f"That's everything, thank you! {STOP_TOKEN}")


def generator_request(tag: str) -> LLMRequest:
    return LLMRequest(role="generator", messages=[ChatMessage(role="system", content="You design verified training "
                                                              "tasks"), ChatMessage(role="user", content=tag)],
                      response_schema=GENERATOR_SCHEMA, response_schema_name="generator")


def agent_request(tag: str) -> LLMRequest:
    tools = [ToolSchema(name=t.name, description=t.description, parameters=t.parameters)
             for t in agent_tools(ENVIRONMENT)]
    return LLMRequest(role="agent", tools=tools, messages=[
        ChatMessage(role="system", content="You are a customer-service agent"),
        ChatMessage(role="user", content=f"Hi, I am user_000@example.com. {tag}")])


@pytest.fixture()
def ask(tmp_path, monkeypatch) -> Iterator[Any]:
    """ask(profile, request) -> the gateway's result, through the SDK, with every reply degraded by profile."""
    monkeypatch.setenv(KEY_ENV, "sk-test-hostile")
    warehouse = Warehouse(tmp_path / "w.duckdb")
    servers: list[WireServer] = []

    def send(profile: HostileProfile, request: LLMRequest, provider: str = "openai") -> LLMResult:
        server_type = OpenAIWireServer if provider == "openai" else AnthropicWireServer
        server = server_type(hostile_responder(plausible, provider, [profile], share=1.0)).start()  # type: ignore[arg-type]
        servers.append(server)
        ref = ModelRef(provider=provider, model="weak-model", base_url=server.base_url, api_key_env=KEY_ENV)
        settings = LLMSettings(backend_override="configured",
                               roles=RoleModels(generator=ref, agent=ref, human=ref), max_repair_turns=1)
        with RequestLog(warehouse, background=False) as log:
            (result,) = LLMGateway(settings, log).complete_many([request], CONTEXT)
        return result

    yield send
    for server in servers:
        server.stop()


def test_every_profile_is_known_and_degrades_something():
    assert len(HOSTILE_PROFILES) == 8
    replies = {"generator": WireReply.of_json({"reasoning": "r", "blueprint": BLUEPRINT}),
               "agent": WireReply.of_tool_call(AGENT_CALL["name"], AGENT_CALL["arguments"]),
               "human": WireReply.of_text(f"Thanks! {STOP_TOKEN}")}
    for profile in HOSTILE_PROFILES:
        changed = [role for role, reply in replies.items() if degrade(profile, reply, role, None) not in (None, reply)]
        assert changed, profile
    with pytest.raises(ValueError, match="unknown or no hostile profiles"):
        hostile_responder(plausible, "openai", ["polite"])  # type: ignore[list-item]


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
@pytest.mark.parametrize("profile", ["code_fenced_json", "prose_around_json"])
def test_json_wrapped_in_a_fence_or_prose_is_read_back_exactly(ask, profile, provider):
    result = ask(profile, generator_request(profile), provider)
    assert result.ok and result.repair_turns == 0
    assert result.response.text.startswith("```json" if profile == "code_fenced_json" else "Sure!")  # as sent
    payload, verdict = check_generation(result)
    assert verdict.passed and payload == BLUEPRINT


def test_truncated_json_is_an_invalid_output_after_its_repair_turns(ask):
    result = ask("truncated_json", generator_request("truncated"))
    assert not result.ok and result.error_kind is ErrorKind.INVALID_OUTPUT
    assert result.repair_turns == 1
    _, verdict = check_generation(result)
    assert not verdict.passed


def test_truncated_tool_arguments_are_an_invalid_output(ask):
    result = ask("truncated_json", agent_request("truncated"))
    assert not result.ok and result.error_kind is ErrorKind.INVALID_OUTPUT
    reply = interpret_agent_result(result, Phase2Settings(), [t.name for t in agent_tools(ENVIRONMENT)])
    assert reply.call is None and reply.failure is not None and reply.failure.startswith("agent failed")


@pytest.mark.parametrize(("profile", "reason"), [("empty_actions", "format.no_write_action"),
                                                 ("unknown_tool", "format.unknown_tool"),
                                                 ("wrong_argument_types", "format.invalid_arguments")])
def test_a_schema_valid_but_broken_blueprint_fails_the_format_stage(ask, profile, reason):
    result = ask(profile, generator_request(profile))
    assert result.ok  # the JSON matches the generator's schema: only the stages can tell
    payload, verdict = check_generation(result)
    assert verdict.passed
    staged = validate_payload(payload, ENVIRONMENT, SCOPE, ValidityConfig())
    assert not staged.passed
    assert staged.verdicts[-1].stage == "format" and staged.verdicts[-1].reason == reason


@pytest.mark.parametrize(("profile", "message"), [("unknown_tool", f"'{UNKNOWN_TOOL}' names an unknown tool"),
                                                  ("wrong_argument_types", "arguments of tool call 'find_user' are "
                                                                           "invalid")])
def test_a_broken_tool_call_is_an_invalid_output_never_executed(ask, profile, message):
    result = ask(profile, agent_request(profile))
    assert not result.ok and result.error_kind is ErrorKind.INVALID_OUTPUT
    assert message in (result.error_message or "")
    reply = interpret_agent_result(result, Phase2Settings(), [t.name for t in agent_tools(ENVIRONMENT)])
    assert reply.call is None and reply.failure is not None


def test_an_empty_agent_reply_ends_the_episode_as_an_agent_failure(ask):
    result = ask("empty_actions", agent_request("empty"))
    assert result.ok
    reply = interpret_agent_result(result, Phase2Settings(), [t.name for t in agent_tools(ENVIRONMENT)])
    assert reply.failure == "agent invalid_output: empty reply"


def test_an_agent_that_only_talks_makes_no_call(ask):
    result = ask("agent_never_calls_tool", agent_request("talk"))
    assert result.ok and not result.response.tool_calls
    reply = interpret_agent_result(result, Phase2Settings(), [t.name for t in agent_tools(ENVIRONMENT)])
    assert reply.call is None and reply.failure is None and reply.text


def test_an_endless_user_never_says_the_stop_token(ask):
    request = LLMRequest(role="human", messages=[ChatMessage(role="system", content="You are role-playing a customer"),
                                                 ChatMessage(role="user", content="Is there anything else?")])
    result = ask("endless_user", request)
    assert result.ok and result.response.text == NEVER_DONE and STOP_TOKEN not in result.response.text


def test_a_share_of_requests_is_degraded_by_a_draw_per_body():
    responder = hostile_responder(plausible, "openai", list(HOSTILE_PROFILES), share=0.5, seed=3)
    bodies = [{"model": "m", "messages": [{"role": "user", "content": f"task {i}"}],
               "response_format": {"type": "json_schema", "json_schema": {"name": "generator",
                                                                          "schema": GENERATOR_SCHEMA}}}
              for i in range(200)]
    first = [responder(body, i) for i, body in enumerate(bodies)]
    degraded = sum(reply != plausible(body, 0) for reply, body in zip(first, bodies, strict=True))
    assert 70 <= degraded <= 130
    assert [responder(body, 0) for body in bodies] == first  # the same body, the same reply
    assert {"code_fenced_json", "prose_around_json", "truncated_json", "empty_actions", "unknown_tool",
            "wrong_argument_types"} <= set(responder.fired)


def test_cover_all_degrades_the_first_reply_each_profile_applies_to_and_keeps_it():
    responder = hostile_responder(plausible, "openai", list(HOSTILE_PROFILES), share=0.0, cover_all=True)
    body = {"model": "m", "messages": [{"role": "user", "content": "task"}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "generator", "schema": GENERATOR_SCHEMA}}}
    first = responder(body, 0)
    assert first != plausible(body, 0) and sum(responder.fired.values()) == 1
    assert responder(body, 1) == first and sum(responder.fired.values()) == 1  # the same body, the same reply
    other = {**body, "messages": [{"role": "user", "content": "another task"}]}
    assert responder(other, 2) != plausible(other, 2) and len(responder.fired) == 2  # the next unmet profile


def test_a_cut_answer_is_cut_again_when_re_asked(tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, "sk-test-hostile")
    # share 0: only cover_all's first reply is cut; the repair re-ask is cut again by the same token limit.
    responder = hostile_responder(plausible, "openai", ["truncated_json"], share=0.0, cover_all=True)
    with OpenAIWireServer(responder) as server:
        ref = ModelRef(provider="openai", model="weak-model", base_url=server.base_url, api_key_env=KEY_ENV)
        settings = LLMSettings(backend_override="configured", roles=RoleModels(generator=ref), max_repair_turns=2)
        with RequestLog(Warehouse(tmp_path / "w.duckdb"), background=False) as log:
            (result,) = LLMGateway(settings, log).complete_many([generator_request("cut")], CONTEXT)
        assert server.request_count == 3
    assert not result.ok and result.error_kind is ErrorKind.INVALID_OUTPUT and responder.fired["truncated_json"] == 3

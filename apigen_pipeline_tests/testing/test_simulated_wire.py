"""The simulated wire responder: bodies sent by the real SDKs decode back into the requests they came from,
roles and domains are inferred from what the wire carries, and answers come back in each wire format."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest

from apigen_pipeline.llm.errors import ProviderError
from apigen_pipeline.llm.providers.anthropic_provider import AnthropicProvider
from apigen_pipeline.llm.providers.openai_provider import OpenAIProvider, chat_completion_params
from apigen_pipeline.llm.types import ChatMessage, ErrorKind, LLMRequest, LLMResponse, ToolCallData
from apigen_pipeline.phase1.prompts import JUDGE_SCHEMA, load_template
from apigen_pipeline.phase2.agent import agent_request, agent_system_text, agent_tools
from apigen_pipeline.phase2.human import CRITIC_SCHEMA, critic_request, human_requests, human_system_text
from apigen_pipeline.phase2.models import Phase2Settings, TrajectoryMessage
from apigen_pipeline.phase2.prompts import render
from apigen_pipeline.testing.simulated_wire import (
    SimulatedWireResponder,
    error_reply,
    infer_domain,
    infer_role,
    request_from_body,
    request_from_openai_body,
    simulated_responder,
    wire_reply_for,
)
from apigen_pipeline.testing.wire_servers import AnthropicWireServer, OpenAIWireServer, WireServer
from apigen_pipeline_tests.phase2.helpers import mock_environment

DOMAIN = "mockshop"
SETTINGS = Phase2Settings()
TAGS = {"domain": DOMAIN, "blueprint_id": "bp-1", "attempt": "0", "turn": "2"}
PROVIDERS = ["openai", "anthropic"]
ENVIRONMENTS = {DOMAIN: mock_environment()}


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, WireServer]]:
    with OpenAIWireServer(simulated_responder("openai", environments=ENVIRONMENTS)) as openai_server, \
            AnthropicWireServer(simulated_responder("anthropic", environments=ENVIRONMENTS)) as anthropic_server:
        yield {"openai": openai_server, "anthropic": anthropic_server}


def send_through_sdk(server: WireServer, provider_name: str, request: LLMRequest, model: str = "wire-model",
                     **options: Any) -> tuple[LLMResponse, dict[str, Any]]:
    """Send with the pipeline's provider (the official SDK over HTTP); the answer and the body the server got."""
    async def send() -> LLMResponse:
        provider = (OpenAIProvider(base_url=server.base_url, api_key_env="UNSET_TEST_KEY", **options)
                    if provider_name == "openai"
                    else AnthropicProvider(base_url=server.base_url, api_key_env="UNSET_TEST_KEY"))
        try:
            return await provider.send(request, model)
        finally:
            await provider.aclose()

    before = server.request_count
    response = asyncio.run(send())
    assert server.request_count == before + 1
    return response, server.requests[-1].body


def conversation() -> list[TrajectoryMessage]:
    """A mid-episode agent view: a request, an authentication call and its result, a question, an answer."""
    call = ToolCallData(id="call_auth1", name="find_user", arguments={"email": "user_001@example.com"})
    return [
        TrajectoryMessage(role="user", content="Hi, I'd like to cancel an order."),
        TrajectoryMessage(role="assistant", content="Sure. What is your email?"),
        TrajectoryMessage(role="user", content="It is user_001@example.com."),
        TrajectoryMessage(role="assistant", tool_calls=[call]),
        TrajectoryMessage(role="tool", content='{"user_id": "user_001"}', tool_call_id="call_auth1",
                          name="find_user"),
        TrajectoryMessage(role="assistant", content="Thanks, you are verified. Which order?"),
        TrajectoryMessage(role="user", content="Order O0003, please."),
    ]


def agent_llm_request() -> LLMRequest:
    environment = mock_environment()
    system = agent_system_text(environment, DOMAIN, "v1")
    return agent_request(system, agent_tools(environment), conversation(), TAGS, SETTINGS)


def critic_llm_request() -> LLMRequest:
    return critic_request("You are Ann. Cancel order O0003.", conversation(), "Yes, please cancel it.", 2, TAGS,
                          SETTINGS)


def message_view(messages: list[ChatMessage]) -> list[tuple[Any, ...]]:
    return [(m.role, m.content or None, [(c.id, c.name, c.arguments) for c in m.tool_calls], m.tool_call_id, m.name)
            for m in messages]


def responder_for(provider_name: str) -> SimulatedWireResponder:
    return simulated_responder(provider_name, environments=ENVIRONMENTS)  # type: ignore[arg-type]


@pytest.mark.parametrize("provider_name", PROVIDERS)
def test_an_agent_turn_sent_by_the_sdk_decodes_to_the_same_conversation_and_tools(servers, provider_name):
    original = agent_llm_request()
    response, body = send_through_sdk(servers[provider_name], provider_name, original)
    decoded = request_from_body(provider_name, body)

    request = decoded.request
    assert decoded.model == "wire-model"
    assert request.role == "agent" and request.tags == {"domain": DOMAIN}
    # Tool results name their tool again (the wire drops it), so the conversation is the original one.
    assert message_view(request.messages) == message_view(original.messages)
    assert [(t.name, t.description, t.parameters) for t in request.tools] == \
        [(t.name, t.description, t.parameters) for t in original.tools]
    assert request.tool_choice == "auto" and request.response_schema is None
    assert request.sampling.temperature == original.sampling.temperature
    assert request.sampling.max_tokens == original.sampling.max_tokens

    # The SDK hands back what the offline backend answers to the decoded request.
    offline = responder_for(provider_name).simulator.simulate(request, decoded.model).response
    assert [(c.name, c.arguments) for c in response.tool_calls] == [(c.name, c.arguments) for c in offline.tool_calls]
    assert response.text == offline.text
    assert response.usage.input_tokens == offline.usage.input_tokens > 0
    assert response.usage.output_tokens == offline.usage.output_tokens > 0


@pytest.mark.parametrize("provider_name", PROVIDERS)
def test_a_structured_request_keeps_its_schema_and_name_and_the_answer_conforms(servers, provider_name):
    response, body = send_through_sdk(servers[provider_name], provider_name, critic_llm_request())
    request = request_from_body(provider_name, body).request

    assert request.role == "critic"
    assert request.response_schema == CRITIC_SCHEMA and request.response_schema_name == "critic"
    assert request.tools == []  # Anthropic's forced answer tool is the schema, not an agent tool
    answer = json.loads(response.text or "")
    assert set(answer) == {"score", "reason"} and 0 <= answer["score"] <= 10
    assert response.tool_calls == [] and response.finish_reason == "stop"


@pytest.mark.parametrize("structured_mode", ["json_object", "prompt"])
def test_structured_modes_without_a_schema_name_are_recognised_by_the_prompt(servers, structured_mode):
    response, body = send_through_sdk(servers["openai"], "openai", critic_llm_request(),
                                      structured_mode=structured_mode)
    request = request_from_openai_body(body).request
    assert request.response_schema == CRITIC_SCHEMA
    assert request.role == "critic"
    assert isinstance(json.loads(response.text or "")["score"], int)


def shipped_system_prompts() -> dict[str, str]:
    """The system prompt of every role as the pipeline renders it (domain "mockshop")."""
    prompts = {role: load_template(role, "v1")["system"].safe_substitute(domain=DOMAIN, policy="P", tools="[]")
               for role in ("generator", "judge", "summarizer", "recombiner")}
    prompts["critic"] = render("critic", "v1", "system")
    prompts["human"] = human_system_text("You are Ann.", "a patient teacher", DOMAIN, "v1")
    prompts["agent"] = agent_system_text(mock_environment(), DOMAIN, "v1")
    return prompts


@pytest.mark.parametrize("role", ["generator", "judge", "summarizer", "recombiner", "critic", "human", "agent"])
def test_every_shipped_prompt_is_recognised_without_a_schema_name(role):
    system = ChatMessage(role="system", content=shipped_system_prompts()[role])
    assert infer_role(None, [system, ChatMessage(role="user", content="hi")], has_tools=False) == role
    assert infer_domain([system]) == (None if role == "critic" else DOMAIN)


def test_schema_names_decide_the_role_before_the_prompt_and_tools_decide_last():
    human_prompt = ChatMessage(role="system", content=shipped_system_prompts()["human"])
    assert infer_role("judge", [human_prompt], has_tools=False) == "judge"
    assert infer_role("next_action", [], has_tools=False) == "agent"
    assert infer_role("response", [human_prompt], has_tools=False) == "human"
    assert infer_role(None, [ChatMessage(role="system", content="You are helpful.")], has_tools=True) == "agent"
    assert infer_role(None, [ChatMessage(role="user", content="hi")], has_tools=False) == "default"


def human_body(temperature: float) -> dict[str, Any]:
    system = human_system_text("You are Ann. If asked to identify yourself, give your email ann@example.com.\n"
                               "Your request: cancel order O0003.", "a patient teacher", DOMAIN, "v1")
    request = human_requests(system, [], TAGS, SETTINGS)[0]
    request = request.model_copy(update={"sampling": request.sampling.model_copy(update={"temperature": temperature})})
    return chat_completion_params(request, "gpt-4o-mini", None)


def test_a_repeated_body_is_a_new_sample_only_when_sampled_with_temperature():
    sampled, greedy, pinned = responder_for("openai"), responder_for("openai"), \
        simulated_responder("openai", environments=ENVIRONMENTS, vary_repeats=False)
    sampled_texts = {sampled(human_body(1.0), i).text for i in range(8)}
    greedy_texts = {greedy(human_body(0.0), i).text for i in range(8)}
    pinned_texts = {pinned(human_body(1.0), i).text for i in range(8)}
    assert len(sampled_texts) > 1
    assert len(greedy_texts) == 1 and len(pinned_texts) == 1
    assert sampled.roles_seen == {"human": 8}


def test_the_same_body_gets_the_same_answer_from_a_fresh_responder_with_the_same_seed():
    body = chat_completion_params(agent_llm_request(), "gpt-4o", None)
    first, second, other_seed = responder_for("openai"), responder_for("openai"), simulated_responder("openai", seed=1, environments=ENVIRONMENTS)
    assert first(body, 0) == second(body, 5)
    human = human_body(1.0)
    assert {first(human, i).text for i in range(6)} == {second(human, i).text for i in range(6)}
    assert {first(human, i).text for i in range(6, 12)} != {other_seed(human, i).text for i in range(6)}


def schema_request() -> LLMRequest:
    return LLMRequest(role="judge", messages=[ChatMessage(role="user", content="Judge this.")],
                      response_schema=JUDGE_SCHEMA, response_schema_name="judge")


def test_anthropic_answers_a_schema_with_the_forced_tool_and_garbled_json_as_text():
    valid = LLMResponse(text='{"scores": {}, "reflection": "ok", "correction": "none"}')
    reply = wire_reply_for("anthropic", schema_request(), valid)
    assert reply.text is None and [(c.name, c.arguments) for c in reply.tool_calls] == \
        [("judge", {"scores": {}, "reflection": "ok", "correction": "none"})]
    garbled = wire_reply_for("anthropic", schema_request(), LLMResponse(text='{"scores": {"corr'))
    assert garbled.text == '{"scores": {"corr' and garbled.tool_calls == ()
    openai_reply = wire_reply_for("openai", schema_request(), valid)
    assert openai_reply.text == valid.text and openai_reply.tool_calls == ()


def test_tool_calls_keep_their_ids_in_each_providers_style():
    answer = LLMResponse(tool_calls=[ToolCallData(id="call_abc123", name="cancel_order", arguments={"order_id": "O1"})])
    request = agent_llm_request()
    assert wire_reply_for("openai", request, answer).tool_calls[0].id == "call_abc123"
    assert wire_reply_for("anthropic", request, answer).tool_calls[0].id == "toolu_abc123"
    cut_off = LLMResponse(text="I was", finish_reason="length")
    assert wire_reply_for("openai", request, cut_off).finish_reason == "length"
    assert wire_reply_for("anthropic", request, cut_off).finish_reason == "max_tokens"


def test_simulated_failures_become_the_http_errors_a_provider_sends():
    assert error_reply(ProviderError(ErrorKind.PERMANENT, "broken handler")).status == 400
    assert error_reply(ProviderError(ErrorKind.TRANSIENT, "flaky")).status == 500
    limited = error_reply(ProviderError(ErrorKind.RATE_LIMIT, "slow down", retry_after=3))
    assert limited.status == 429 and limited.headers["retry-after"] == "3"

    responder = responder_for("openai")

    def broken(request: LLMRequest, ctx: object) -> LLMResponse:
        raise RuntimeError("bug in a handler")

    responder.simulator.handlers.register("critic", broken, replace=True)
    reply = responder(chat_completion_params(critic_llm_request(), "gpt-4o-mini", "json_schema"), 0)
    assert reply.status == 400 and "bug in a handler" in (reply.error_message or "")


def test_an_unknown_provider_is_refused():
    with pytest.raises(ValueError, match="unknown wire provider"):
        simulated_responder("gemini", environments=ENVIRONMENTS)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown wire provider"):
        request_from_body("gemini", {})  # type: ignore[arg-type]

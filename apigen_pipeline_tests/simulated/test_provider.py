from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
import pytest

from apigen_pipeline.llm.errors import ProviderError
from apigen_pipeline.llm.tokens import estimate_request_tokens, estimate_tokens
from apigen_pipeline.llm.types import ChatMessage, ErrorKind, LLMRequest, LLMResponse, ToolCallData
from apigen_pipeline.simulated.context import SimulationContext
from apigen_pipeline.simulated.faults import FaultRates
from apigen_pipeline.simulated.provider import GENERIC_HANDLER, SIMULATED_MODEL, SimulatedProvider
from apigen_pipeline.simulated.registry import RoleHandlerRegistry
from apigen_pipeline_tests.simulated.schema_corpus import (
    RESPONSE_SCHEMAS,
    TAU_LIKE_PARAMETERS,
    TAU_LIKE_TOOLS,
)

BLUEPRINT = RESPONSE_SCHEMAS["blueprint"]
USER_DATA = {
    "user_id": "mei_chen_4821",
    "orders": ["#W4817420", "#W6679257"],
    "payment_methods": {"gift_card_7214": {"balance": 50}},
    "address": {"zip": "80279", "city": "Denver"},
}


def _quiet() -> SimulatedProvider:
    return SimulatedProvider(seed=3, faults=FaultRates.none(), handlers=RoleHandlerRegistry())


def _schema_request(**extra: object) -> LLMRequest:
    return LLMRequest(role="generator", messages=[ChatMessage(role="user", content="Write one blueprint.")],
                      response_schema=BLUEPRINT, **extra)


def _agent_request(messages: list[ChatMessage], **extra: object) -> LLMRequest:
    return LLMRequest(role="agent", messages=messages, tools=TAU_LIKE_TOOLS, **extra)


def test_send_is_async_and_labels_the_model_simulated() -> None:
    response = asyncio.run(_quiet().send(_schema_request(), "gpt-4o"))
    assert response.model == SIMULATED_MODEL
    assert jsonschema.Draft202012Validator(BLUEPRINT).is_valid(json.loads(response.text))


def test_the_same_request_gives_an_identical_response() -> None:
    provider = _quiet()
    first = provider.simulate(_schema_request(), "m").response
    assert SimulatedProvider(seed=3, faults=FaultRates.none()).simulate(_schema_request(), "m").response == first


def test_answers_do_not_depend_on_the_process_hash_seed() -> None:
    request = LLMRequest(role="generator", messages=[ChatMessage(role="user", content="Any data?")],
                         response_schema=RESPONSE_SCHEMAS["judge_vote"], tags={"k": "v"})
    script = (
        "import sys\n"
        "from apigen_pipeline.simulated import SimulatedProvider, FaultRates\n"
        "from apigen_pipeline.llm.types import LLMRequest\n"
        "request = LLMRequest.model_validate_json(sys.stdin.read())\n"
        "print(SimulatedProvider(seed=3, faults=FaultRates.none()).simulate(request, 'm').response.text)\n"
    )
    here = _quiet().simulate(request, "m").response.text
    repo_root = Path(__file__).resolve().parents[2]
    there = subprocess.run([sys.executable, "-c", script], input=request.model_dump_json(), capture_output=True,
                           text=True, check=True, cwd=repo_root, env={"PYTHONHASHSEED": "12345"}).stdout.strip()
    assert there == here


@pytest.mark.parametrize("change", [
    {"seed": 4},
    {"sample_index": 1},
    {"model": "other-model"},
    {"tags": {"judge": "2"}},
])
def test_seed_sample_index_model_and_tags_change_schema_answers(change: dict[str, object]) -> None:
    seed = int(change.get("seed", 3))
    model = str(change.get("model", "m"))
    request_extra = {key: value for key, value in change.items() if key in ("sample_index", "tags")}
    baseline = _quiet().simulate(_schema_request(), "m").response.text
    provider = SimulatedProvider(seed=seed, faults=FaultRates.none())
    assert provider.simulate(_schema_request(**request_extra), model).response.text != baseline


def test_usage_is_estimated_from_the_request_and_the_answer() -> None:
    request = _schema_request()
    response = _quiet().simulate(request, "m").response
    assert response.usage.input_tokens == estimate_request_tokens(request)
    assert response.usage.output_tokens == estimate_tokens(response.text)
    assert response.usage.output_tokens > 0


def test_latency_is_simulated_without_blocking_the_answer() -> None:
    provider = SimulatedProvider(faults=FaultRates.none(), latency_s=0.1)

    async def two_at_once() -> float:
        start = time.perf_counter()
        await asyncio.gather(provider.send(_schema_request(), "m"), provider.send(_schema_request(), "m"))
        return time.perf_counter() - start

    elapsed = asyncio.run(two_at_once())
    assert 0.1 <= elapsed < 0.19  # concurrent sleeps, not sequential ones
    with pytest.raises(ValueError):
        SimulatedProvider(latency_s=-1)


def test_agent_with_tools_calls_one_tool_with_schema_valid_grounded_arguments() -> None:
    messages = [
        ChatMessage(role="system", content="Policy: authenticate first."),
        ChatMessage(role="user", content="Here is my account:\n<context>" + json.dumps(USER_DATA) + "</context>"),
    ]
    offered = {tool.name: tool.parameters for tool in TAU_LIKE_TOOLS}
    provider = _quiet()
    grounded_seen = 0
    for index in range(60):
        response = provider.simulate(_agent_request(messages, sample_index=index), "m").response
        assert response.finish_reason == "tool_calls"
        assert len(response.tool_calls) == 1
        call = response.tool_calls[0]
        assert jsonschema.Draft202012Validator(offered[call.name]).is_valid(call.arguments), call
        if "user_id" in call.arguments:
            assert call.arguments["user_id"] == "mei_chen_4821"
            grounded_seen += 1
        if "order_id" in call.arguments:
            assert call.arguments["order_id"] in USER_DATA["orders"]
            grounded_seen += 1
        if "payment_method_id" in call.arguments:
            assert call.arguments["payment_method_id"] == "gift_card_7214"
        if call.name in ("find_user_id_by_name_zip", "modify_user_address"):
            assert call.arguments["zip"] == "80279"
    assert grounded_seen > 10


def test_grounding_also_uses_tool_results_and_earlier_tool_calls() -> None:
    tool = next(tool for tool in TAU_LIKE_TOOLS if tool.name == "cancel_pending_order")
    earlier = ToolCallData(id="c1", name="get_order_details", arguments={"order_id": "#W1111111"})
    messages = [
        ChatMessage(role="user", content="Cancel it."),
        ChatMessage(role="assistant", tool_calls=[earlier]),
        ChatMessage(role="tool", tool_call_id="c1", name="get_order_details",
                    content=json.dumps({"order_id": "#W1111111", "status": "pending"})),
    ]
    for index in range(10):
        request = LLMRequest(role="agent", messages=messages, tools=[tool], sample_index=index)
        call = _quiet().simulate(request, "m").response.tool_calls[0]
        assert call.arguments["order_id"] == "#W1111111"


def test_format_follows_the_request() -> None:
    provider = _quiet()
    hello = [ChatMessage(role="user", content="Hello")]
    # tool_choice="none" on an agent request: text, even with tools.
    text_reply = provider.simulate(_agent_request(hello, tool_choice="none"), "m").response
    assert text_reply.text and not text_reply.tool_calls and text_reply.finish_reason == "stop"
    # tool_choice="required" wins even for a non-agent role.
    forced = provider.simulate(LLMRequest(role="critic", messages=hello, tools=TAU_LIKE_TOOLS,
                                          tool_choice="required"), "m").response
    assert len(forced.tool_calls) == 1
    # A non-agent role with tools and a schema answers in JSON.
    judged = provider.simulate(LLMRequest(role="judge", messages=hello, tools=TAU_LIKE_TOOLS,
                                          response_schema=RESPONSE_SCHEMAS["judge_vote"]), "m").response
    assert jsonschema.Draft202012Validator(RESPONSE_SCHEMAS["judge_vote"]).is_valid(json.loads(judged.text))
    # No tools, no schema: a short plain reply.
    plain = provider.simulate(LLMRequest(role="human", messages=hello), "m").response
    assert plain.text and len(plain.text) < 200 and not plain.tool_calls


def test_json_mode_next_action_answers_are_valid_and_grounded() -> None:
    schema = RESPONSE_SCHEMAS["next_action"]
    validator = jsonschema.Draft202012Validator(schema)
    messages = [ChatMessage(role="user", content=json.dumps({"orders": ["#W4817420"]}))]
    actions = set()
    for index in range(40):
        request = LLMRequest(role="agent", messages=messages, response_schema=schema, sample_index=index)
        value = json.loads(_quiet().simulate(request, "m").response.text)
        assert validator.is_valid(value)
        actions.add(value["action"])
        if value["action"] == "cancel_pending_order":
            assert value["arguments"]["order_id"] == "#W4817420"
    assert len(actions) >= 3


def test_role_handler_answers_first_and_none_falls_back_to_generic() -> None:
    registry = RoleHandlerRegistry()
    seen: list[str] = []

    def judge(request: LLMRequest, ctx: SimulationContext) -> LLMResponse | None:
        seen.append(ctx.model)
        if request.tags.get("mode") == "defer":
            return None
        return ctx.json_response({"verdict": "pass"})

    registry.register("judge", judge)
    provider = SimulatedProvider(faults=FaultRates.none(), handlers=registry)
    answered = provider.simulate(_schema_request().model_copy(update={"role": "judge"}), "judge-model")
    assert answered.handled_by == "judge"
    assert json.loads(answered.response.text) == {"verdict": "pass"}
    assert answered.response.usage.output_tokens > 0 and answered.response.model == SIMULATED_MODEL

    deferred = provider.simulate(_schema_request(tags={"mode": "defer"}).model_copy(update={"role": "judge"}), "m")
    assert deferred.handled_by == GENERIC_HANDLER
    assert jsonschema.Draft202012Validator(BLUEPRINT).is_valid(json.loads(deferred.response.text))
    assert seen == ["judge-model", "m"]

    other_role = provider.simulate(_schema_request(), "m")
    assert other_role.handled_by == GENERIC_HANDLER


def test_a_crashing_handler_is_a_permanent_provider_error() -> None:
    registry = RoleHandlerRegistry()

    def broken(request: LLMRequest, ctx: SimulationContext) -> LLMResponse | None:
        raise KeyError("missing blueprint")

    registry.register("human", broken)
    provider = SimulatedProvider(handlers=registry)
    with pytest.raises(ProviderError) as caught:
        asyncio.run(provider.send(LLMRequest(role="human", messages=[ChatMessage(role="user", content="hi")]), "m"))
    assert caught.value.kind is ErrorKind.PERMANENT


def test_generic_send_is_fast() -> None:
    tools = [tool for tool in TAU_LIKE_TOOLS if tool.name != "book_reservation"]
    messages = [ChatMessage(role="system", content="Policy. " * 400),
                ChatMessage(role="user", content=json.dumps(USER_DATA))]
    requests = [LLMRequest(role="agent", messages=messages, tools=tools, sample_index=index) for index in range(300)]
    provider = _quiet()
    start = time.process_time()
    for request in requests:
        provider.simulate(request, "m")
    per_request = (time.process_time() - start) / len(requests)
    assert per_request < 0.002  # typically ~0.15 ms; generous for loaded CI machines


def test_tool_parameters_without_required_arguments_are_still_valid() -> None:
    parameters = TAU_LIKE_PARAMETERS["transfer_to_human_agents"] | {"required": []}
    tool = TAU_LIKE_TOOLS[0].model_copy(update={"name": "transfer", "parameters": parameters})
    for index in range(20):
        request = LLMRequest(role="agent", messages=[ChatMessage(role="user", content="x")], tools=[tool],
                             sample_index=index)
        call = _quiet().simulate(request, "m").response.tool_calls[0]
        assert jsonschema.Draft202012Validator(parameters).is_valid(call.arguments)


def test_an_unsatisfiable_response_schema_is_a_permanent_provider_error() -> None:
    request = LLMRequest(role="generator", messages=[ChatMessage(role="user", content="x")],
                         response_schema={"type": "object", "properties": {"a": {"enum": []}}, "required": ["a"]})
    with pytest.raises(ProviderError) as caught:
        _quiet().simulate(request, "m")
    assert caught.value.kind is ErrorKind.PERMANENT

from __future__ import annotations

import json
import math
import random

import jsonschema
import pytest
from pydantic import ValidationError

from apigen_pipeline.llm.types import ChatMessage, LLMRequest, LLMResponse
from apigen_pipeline.simulated.context import SimulationContext
from apigen_pipeline.simulated.faults import (
    REPAIR_MARKER,
    FaultInjector,
    FaultKind,
    FaultRates,
    is_repair_request,
)
from apigen_pipeline.simulated.provider import SimulatedProvider
from apigen_pipeline.simulated.registry import RoleHandlerRegistry
from apigen_pipeline_tests.simulated.schema_corpus import RESPONSE_SCHEMAS, TAU_LIKE_TOOLS

N_REQUESTS = 2000
RATE = 0.2
# Five standard deviations of a binomial count: a miscounting implementation fails, noise never does.
TOLERANCE = 5 * math.sqrt(N_REQUESTS * RATE * (1 - RATE))


# A few small tau-like tools keep 2,000-request loops fast; the full set is covered by schema tests.
FAULT_TOOLS = [tool for tool in TAU_LIKE_TOOLS
               if tool.name in ("cancel_pending_order", "find_user_id_by_name_zip", "modify_pending_order_items")]
VALIDATORS = {tool.name: jsonschema.Draft202012Validator(tool.parameters) for tool in FAULT_TOOLS}


def _only(kind: FaultKind, rate: float = RATE) -> FaultRates:
    return FaultRates.none().model_copy(update={kind.value: rate})


def _assert_near_rate(count: int, rate: float = RATE) -> None:
    assert abs(count - N_REQUESTS * rate) <= TOLERANCE, (count, N_REQUESTS * rate)


def _schema_request(index: int, *, repair: bool = False) -> LLMRequest:
    messages = [ChatMessage(role="user", content=f"Write blueprint number {index}.")]
    if repair:
        messages += [ChatMessage(role="assistant", content='{"instruction": '),
                     ChatMessage(role="user", content=f"{REPAIR_MARKER}: Expecting value at line 1.")]
    return LLMRequest(role="generator", messages=messages, response_schema=RESPONSE_SCHEMAS["blueprint"])


def _tool_request(index: int, *, repair: bool = False) -> LLMRequest:
    messages = [ChatMessage(role="user", content=f"Please help with case {index}.")]
    if repair:
        messages.append(ChatMessage(role="user", content=f"{REPAIR_MARKER}: unknown tool 'x'."))
    return LLMRequest(role="agent", messages=messages, tools=FAULT_TOOLS, tool_choice="required")


def _parses(text: str | None) -> bool:
    try:
        json.loads(text or "")
    except ValueError:
        return False
    return True


def test_rates_are_validated_between_zero_and_one() -> None:
    with pytest.raises(ValidationError):
        FaultRates(invalid_json=1.5)
    with pytest.raises(ValidationError):
        FaultRates(user_drift=-0.1)
    with pytest.raises(ValidationError):
        FaultRates(not_a_fault=0.1)


def test_defaults_are_a_small_mix_and_none_disables_everything() -> None:
    defaults = FaultRates()
    assert all(0 < defaults.rate(kind) <= 0.1 for kind in FaultKind)
    assert all(FaultRates.none().rate(kind) == 0 for kind in FaultKind)


def test_injector_is_deterministic_for_a_given_stream() -> None:
    injector = FaultInjector(FaultRates(judge_disagree=0.5))
    first = [injector.fires(FaultKind.JUDGE_DISAGREE, rng) for rng in [random.Random(1)] for _ in range(50)]
    second = [injector.fires(FaultKind.JUDGE_DISAGREE, rng) for rng in [random.Random(1)] for _ in range(50)]
    assert first == second
    assert 0 < sum(first) < 50


def test_injector_draws_once_whatever_the_rate() -> None:
    # A zero rate must still consume its draw, so turning one fault off never reshuffles the others.
    off, on = random.Random(5), random.Random(5)
    FaultInjector(FaultRates.none()).fires(FaultKind.USER_DRIFT, off)
    FaultInjector(FaultRates(user_drift=1.0)).fires(FaultKind.USER_DRIFT, on)
    assert off.random() == on.random()


def test_repair_requests_are_recognised_by_the_last_user_message() -> None:
    assert is_repair_request(_schema_request(0, repair=True))
    assert not is_repair_request(_schema_request(0))
    earlier_repair = _schema_request(0, repair=True)
    earlier_repair.messages.append(ChatMessage(role="user", content="A new question."))
    assert not is_repair_request(earlier_repair)


def test_invalid_json_fires_at_its_rate_and_manifests_as_unparseable_text() -> None:
    provider = SimulatedProvider(seed=11, faults=_only(FaultKind.INVALID_JSON))
    fired = 0
    for index in range(N_REQUESTS):
        outcome = provider.simulate(_schema_request(index), "m")
        hit = FaultKind.INVALID_JSON in outcome.fired_faults
        fired += hit
        assert _parses(outcome.response.text) is not hit
    _assert_near_rate(fired)


def test_unknown_tool_fires_at_its_rate_and_names_a_tool_not_offered() -> None:
    offered = {tool.name for tool in FAULT_TOOLS}
    provider = SimulatedProvider(seed=12, faults=_only(FaultKind.UNKNOWN_TOOL))
    fired = 0
    for index in range(N_REQUESTS):
        outcome = provider.simulate(_tool_request(index), "m")
        hit = FaultKind.UNKNOWN_TOOL in outcome.fired_faults
        fired += hit
        assert (outcome.response.tool_calls[0].name not in offered) is hit
    _assert_near_rate(fired)


def test_wrong_argument_fires_at_its_rate_and_breaks_the_schema() -> None:
    provider = SimulatedProvider(seed=13, faults=_only(FaultKind.WRONG_ARGUMENT))
    fired = 0
    for index in range(N_REQUESTS):
        outcome = provider.simulate(_tool_request(index), "m")
        call = outcome.response.tool_calls[0]
        hit = FaultKind.WRONG_ARGUMENT in outcome.fired_faults
        fired += hit
        valid = VALIDATORS[call.name].is_valid(call.arguments)
        assert valid is not hit, (call, outcome.fired_faults)
    _assert_near_rate(fired)


@pytest.mark.parametrize("kind", list(FaultKind))
def test_every_kind_fires_at_its_rate_for_role_handlers(kind: FaultKind) -> None:
    registry = RoleHandlerRegistry()

    def handler(request: LLMRequest, ctx: SimulationContext) -> LLMResponse:
        return ctx.text_response("faulty" if ctx.fires(kind) else "fine")

    registry.register("critic", handler)
    provider = SimulatedProvider(seed=14, faults=_only(kind), handlers=registry)
    texts = [
        provider.simulate(LLMRequest(role="critic", messages=[ChatMessage(role="user", content=f"turn {i}")]), "m")
        for i in range(N_REQUESTS)
    ]
    fired = sum(outcome.response.text == "faulty" for outcome in texts)
    assert fired == sum(kind in outcome.fired_faults for outcome in texts)
    _assert_near_rate(fired)


def test_no_fault_ever_fires_on_repair_requests() -> None:
    always = FaultRates(**{kind.value: 1.0 for kind in FaultKind})
    provider = SimulatedProvider(seed=15, faults=always)
    for index in range(N_REQUESTS // 2):
        schema_outcome = provider.simulate(_schema_request(index, repair=True), "m")
        assert schema_outcome.fired_faults == ()
        assert _parses(schema_outcome.response.text)
        tool_outcome = provider.simulate(_tool_request(index, repair=True), "m")
        call = tool_outcome.response.tool_calls[0]
        assert tool_outcome.fired_faults == ()
        assert VALIDATORS[call.name].is_valid(call.arguments)


def test_faults_fire_on_the_same_requests_when_not_repairs() -> None:
    always = FaultRates(**{kind.value: 1.0 for kind in FaultKind})
    outcome = SimulatedProvider(seed=15, faults=always).simulate(_tool_request(0), "m")
    assert set(outcome.fired_faults) == {FaultKind.UNKNOWN_TOOL, FaultKind.WRONG_ARGUMENT}


def test_enabling_faults_does_not_change_answers_where_none_fires() -> None:
    clean = SimulatedProvider(seed=16, faults=FaultRates.none())
    noisy = SimulatedProvider(seed=16, faults=_only(FaultKind.INVALID_JSON, 0.5))
    unchanged = 0
    for index in range(200):
        request = _schema_request(index)
        noisy_outcome = noisy.simulate(request, "m")
        if not noisy_outcome.fired_faults:
            assert noisy_outcome.response.text == clean.simulate(request, "m").response.text
            unchanged += 1
    assert 50 < unchanged < 150

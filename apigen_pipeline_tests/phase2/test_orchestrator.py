from __future__ import annotations

from dataclasses import replace

from apigen_pipeline.environments.base import Environment
from apigen_pipeline.llm.types import ErrorKind, LLMRequest, LLMResponse, LLMResult, ToolCallData
from apigen_pipeline.phase2.audit import ONE_CALL_RULE
from apigen_pipeline.phase2.models import Phase2Settings
from apigen_pipeline.phase2.runner import run_phase2
from apigen_pipeline_tests.phase2.helpers import (
    CachingClient,
    ScriptedClient,
    cancel_blueprint,
    failed,
    mock_environment,
    simulated_client,
)

SINGLE = Phase2Settings(best_of_n=1, attempts_per_blueprint=1)


def _run(responder, settings: Phase2Settings = SINGLE):  # type: ignore[no-untyped-def]
    environment = mock_environment()
    return run_phase2([cancel_blueprint(environment, 0)], environment, ScriptedClient(responder), settings,
                      "mockshop").attempts[0]


def _call(name: str, **arguments: object) -> ToolCallData:
    return ToolCallData(id="x", name=name, arguments=arguments)


def test_the_agent_step_limit_ends_the_episode_as_turn_limit() -> None:
    def responder(request: LLMRequest) -> LLMResponse:
        if request.role == "human":
            return LLMResponse(text="hello")
        return LLMResponse(tool_calls=[_call("get_order", order_id="O0000")])

    attempt = _run(responder, SINGLE.model_copy(update={"max_agent_steps": 5}))
    assert attempt.end_reason == "turn_limit" and attempt.failure_reason == "turn_limit"
    assert attempt.tool_calls == 5 and attempt.agent_turns == 5


def test_an_agent_provider_failure_ends_the_episode_classified() -> None:
    def responder(request: LLMRequest) -> LLMResponse | LLMResult:
        return LLMResponse(text="hello") if request.role == "human" else failed(ErrorKind.RATE_LIMIT, "429")

    attempt = _run(responder)
    assert attempt.end_reason == "provider_failure" and attempt.failure_reason == "provider_failure"
    assert "rate_limit" in attempt.end_detail and attempt.verdict == "failed"


def test_all_human_candidates_failing_is_a_provider_failure() -> None:
    attempt = _run(lambda request: failed(ErrorKind.PERMANENT, "401"), SINGLE.model_copy(update={"best_of_n": 3}))
    assert attempt.end_reason == "provider_failure" and attempt.messages == []
    assert len(attempt.candidates) == 3 and all(c.failure and not c.chosen for c in attempt.candidates)


def test_extra_tool_calls_execute_only_the_first_and_are_recorded() -> None:
    def responder(request: LLMRequest) -> LLMResponse:
        if request.role == "human":
            return LLMResponse(text="hello" if len(request.messages) < 4 else "bye ###STOP###")
        if request.messages[-1].role == "tool":
            return LLMResponse(text="Done.")
        return LLMResponse(tool_calls=[_call("get_order", order_id="O0000"), _call("cancel_order", order_id="O0000")])

    attempt = _run(responder)
    assert [c.name for c in attempt.executed_calls] == ["get_order"]
    assert attempt.protocol_violations and "cancel_order" in attempt.protocol_violations[0]
    assert ONE_CALL_RULE in {f.rule for f in attempt.audit_findings}
    assert all(len(m.tool_calls) <= 1 for m in attempt.messages)


def test_tool_errors_come_back_as_observations() -> None:
    def responder(request: LLMRequest) -> LLMResponse:
        if request.role == "human":
            return LLMResponse(text="hello" if len(request.messages) < 4 else "bye ###STOP###")
        if request.messages[-1].role == "tool":
            return LLMResponse(text="Sorry.")
        return LLMResponse(tool_calls=[_call("no_such_tool", a=1)])

    attempt = _run(responder)
    assert attempt.executed_calls[0].observation.startswith("Error: unknown tool")
    assert attempt.messages[2].role == "tool" and attempt.messages[2].content.startswith("Error:")


def test_a_terminating_tool_the_environment_declares_ends_the_episode() -> None:
    environment = Environment(replace(mock_environment().plugin, terminating_tools=("get_order",)))

    def responder(request: LLMRequest) -> LLMResponse:
        if request.role == "human":
            return LLMResponse(text="I want a human")
        order_id = "O9999" if len(request.messages) < 4 else "O0000"  # the failed first call does not end it
        return LLMResponse(tool_calls=[_call("get_order", order_id=order_id)])

    attempt = run_phase2([cancel_blueprint(environment, 0)], environment, ScriptedClient(responder), SINGLE,
                         "mockshop").attempts[0]
    assert attempt.end_reason == "transfer" and attempt.tool_calls == 2
    assert [c.ok for c in attempt.executed_calls] == [False, True]
    # The blueprint does not end with a transfer: ending the conversation that way fails it.
    assert attempt.failure_reason == "unexpected_transfer"


def test_requests_are_unique_and_a_rerun_sends_nothing_new() -> None:
    environment = mock_environment()
    blueprints = [cancel_blueprint(environment, i, with_question=True) for i in range(3)]
    client = CachingClient(simulated_client())
    first = run_phase2(blueprints, environment, client, Phase2Settings(), "mockshop")
    sent_first = client.sent
    assert sent_first == len(client.cache) == first.stats.llm_requests  # no request was asked twice
    second = run_phase2(blueprints, environment, client, Phase2Settings(), "mockshop")
    assert client.sent == sent_first
    assert second.attempts == first.attempts

"""Shared test helpers for Phase 2 and the dataset export: the mock environment, blueprints in the
simulated generator's format, a simulated client with its own handler registry, and scripted clients."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from apigen_pipeline.environments.base import Environment, ToolCall
from apigen_pipeline.environments.registry import load_environment
from apigen_pipeline.llm.client import DirectClient
from apigen_pipeline.llm.types import ErrorKind, LLMRequest, LLMResponse, LLMResult, request_key
from apigen_pipeline.phase1.models import AcceptedBlueprint, ActionCall, Blueprint
from apigen_pipeline.simulated import (
    FaultRates,
    Phase1SimulationRates,
    Phase2SimulationRates,
    SimulatedBackend,
    SimulatedProvider,
)
from apigen_pipeline.simulated.roles.instruction import render_instruction

MOCK = "apigen_pipeline_tests.mock_domain:plugin"


def mock_environment() -> Environment:
    return load_environment(MOCK)


def pending_orders(environment: Environment) -> list[tuple[str, str]]:
    """(user_id, order_id) of every pending order in the mock database, in a stable order."""
    db = environment.fresh_database()
    return sorted((order["user_id"], order_id) for order_id, order in db.records("orders")
                  if order["status"] == "pending")


def cancel_blueprint(environment: Environment, index: int, with_question: bool = False,
                     persona_id: str = "persona-000001") -> AcceptedBlueprint:
    """A blueprint like the simulated generator writes: authenticate, cancel one pending order."""
    user_id, order_id = pending_orders(environment)[index]
    email = f"{user_id}@example.com"
    calls = [ToolCall("find_user", {"email": email}), ToolCall("cancel_order", {"order_id": order_id})]
    db = environment.fresh_database()
    other = next((o for o in db.get("users", user_id)["orders"] if o != order_id), None)
    questions, outputs = [], []
    if with_question and other is not None:
        questions = [f"You also want to know the total of order {other}."]
        outputs = [str(db.get("orders", other)["total"])]
    instruction = render_instruction("You are a patient retired teacher.", {"email": email}, calls, environment,
                                     questions)
    blueprint = Blueprint(instruction=instruction, actions=[ActionCall(name=c.name, arguments=c.arguments)
                                                            for c in calls], outputs=outputs)
    return AcceptedBlueprint(blueprint_id=f"bp-mock-{index:03d}", kind="simple", context_id=f"ctx-{index}",
                             attempt_id=f"att-{index}", blueprint=blueprint, user_id=user_id, persona_id=persona_id,
                             identity={"email": email})


def simulated_client(seed: int = 0, faults: FaultRates | None = None,
                     rates: Phase2SimulationRates | None = None, latency_s: float = 0.0,
                     environment: Environment | None = None,
                     phase1_rates: Phase1SimulationRates | None = None) -> DirectClient:
    """A DirectClient over a SimulatedProvider whose roles know `environment` (default: the mock domain)."""
    environment = environment or mock_environment()
    roles = SimulatedBackend({environment.name: environment}, phase1_rates,
                             rates or Phase2SimulationRates.none()).roles
    provider = SimulatedProvider(seed=seed, faults=faults if faults is not None else FaultRates.none(),
                                 latency_s=latency_s, handlers=roles)
    return DirectClient(provider)


class CachingClient:
    """A request-log stand-in: answered requests are served from memory and never sent again."""

    def __init__(self, inner: DirectClient):
        self.inner = inner
        self.cache: dict[str, LLMResult] = {}
        self.sent = 0

    def complete_many(self, requests: Sequence[LLMRequest]) -> list[LLMResult]:
        keys = [request_key(r, "simulated", "simulated") for r in requests]
        missing = [(k, r) for k, r in zip(keys, requests, strict=True) if k not in self.cache]
        if missing:
            self.sent += len(missing)
            for (key, _), result in zip(missing, self.inner.complete_many([r for _, r in missing]), strict=True):
                self.cache[key] = result
        return [self.cache[k] for k in keys]


Responder = Callable[[LLMRequest], LLMResponse | LLMResult]


class ScriptedClient:
    """Answers each request with `responder(request)`; a returned LLMResult is passed through as is."""

    def __init__(self, responder: Responder):
        self.responder = responder
        self.requests: list[LLMRequest] = []

    def complete_many(self, requests: Sequence[LLMRequest]) -> list[LLMResult]:
        results = []
        for request in requests:
            self.requests.append(request)
            key = request_key(request, "scripted", "scripted")
            answer = self.responder(request)
            if isinstance(answer, LLMResult):
                results.append(answer.model_copy(update={"request_key": key}))
                continue
            if request.response_schema is not None and answer.parsed is None and answer.text:
                import json

                answer = answer.model_copy(update={"parsed": json.loads(answer.text)})
            results.append(LLMResult(request_key=key, status="answered", response=answer))
        return results


def failed(kind: ErrorKind = ErrorKind.TRANSIENT, message: str = "upstream 503") -> LLMResult:
    return LLMResult(request_key="", status="failed", error_kind=kind, error_message=message)

"""Shared fixtures for Phase 1 tests: the mock domain, its contexts, and a scripted LLM client."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from apigen_pipeline.environments.base import Environment
from apigen_pipeline.environments.registry import load_environment
from apigen_pipeline.llm.client import DirectClient
from apigen_pipeline.llm.types import ErrorKind, LLMRequest, LLMResponse, LLMResult, request_key
from apigen_pipeline.phase1.contexts import ContextSampler, SamplingConfig, TaskContext
from apigen_pipeline.phase1.settings import ValidityConfig
from apigen_pipeline.phase1.validation.scope import ToolScope
from apigen_pipeline.phase1.validation.staged import StagedValidation, validate_payload
from apigen_pipeline.simulated import FaultRates, Phase1SimulationRates, SimulatedBackend, SimulatedProvider

MOCK = "apigen_pipeline_tests.mock_domain:plugin"


def mock_environment() -> Environment:
    return load_environment(MOCK)


def environment_scope(environment: Environment) -> ToolScope:
    """Every tool of the environment: for tests of the later stages, whose subject is not the context."""
    return ToolScope(tools=frozenset(spec.name for spec in environment.tool_specs),
                     write_tools=frozenset(environment.write_tools))


def validate_in_environment(payload: Any, environment: Environment) -> StagedValidation:
    """`validate_payload` with the whole environment in scope and the default validity rules."""
    return validate_payload(payload, environment, environment_scope(environment), ValidityConfig())


def mock_contexts(count: int, batch: str = "b1", environment: Environment | None = None) -> list[TaskContext]:
    sampler = ContextSampler(environment or mock_environment(), SamplingConfig(max_write_tools=2))
    return [sampler.sample(batch, index) for index in range(count)]


def simulated_client(seed: int = 0, faults: FaultRates | None = None,
                     rates: Phase1SimulationRates | None = None,
                     environment: Environment | None = None) -> DirectClient:
    """A DirectClient over a SimulatedProvider whose roles know `environment` (default: the mock domain)."""
    environment = environment or mock_environment()
    roles = SimulatedBackend({environment.name: environment}, phase1=rates).roles
    return DirectClient(SimulatedProvider(seed=seed, faults=faults, handlers=roles))


Reply = str | LLMResult | None  # JSON text, a ready result, or None for "delegate"


class ScriptedClient:
    """Answers each request with `script(request)`: a dict (sent as JSON), text, or an LLMResult."""

    def __init__(self, script: Callable[[LLMRequest], Any]):
        self.script = script
        self.requests: list[LLMRequest] = []
        self.batches: list[int] = []

    def complete_many(self, requests: Sequence[LLMRequest]) -> list[LLMResult]:
        self.batches.append(len(requests))
        results = []
        for request in requests:
            self.requests.append(request)
            reply = self.script(request)
            key = request_key(request, "scripted", "scripted")
            if isinstance(reply, LLMResult):
                results.append(reply.model_copy(update={"request_key": key}))
                continue
            text = reply if isinstance(reply, str) else json.dumps(reply)
            results.append(LLMResult(request_key=key, status="answered", provider="scripted", model="m",
                                     response=LLMResponse(text=text)))
        return results


def failed_result(kind: ErrorKind = ErrorKind.TRANSIENT) -> LLMResult:
    return LLMResult(request_key="", status="failed", error_kind=kind, error_message="boom")


def all_yes(reflection: str = "fine") -> dict[str, Any]:
    return {"scores": {"correctness": 1, "completeness": 1, "satisfaction": 1, "creativity": 1},
            "reflection": reflection, "correction": ""}

"""The offline `simulated` backend: deterministic, zero-cost answers in the format each request asks,
playing every pipeline role from environment knowledge.

- `backend.SimulatedBackend` is what callers build: the roles for some environments (domain name ->
  `Environment`) and the rates from the pipeline config; its `provider` is the gateway's factory of
  the `simulated` provider (`LLMGateway(..., provider_factories={"simulated": backend.provider})`).
- `provider.SimulatedProvider` is the `Provider`; its answer is a pure function of (seed, request,
  model), with estimated token usage (`llm.tokens`) so a simulated run also rehearses the bill.
- `roles/` plays each role (generator, judge, summarizer, recombiner, human, critic, agent), one
  module per role; domain knowledge comes from the environment plugin's optional hooks
  (`propose_actions`, each tool's `utterance`).
- `registry` maps roles to handlers; `context.SimulationContext` is what a handler answers from.
- `generic` answers when no role handler does: schema-valid JSON (`schema_values`, `regex_strings`), one
  grounded tool call (values found in the prompt's JSON via `prompt_json`), or a short text.
- `faults` injects a configurable share of realistic failures, never on the gateway's repair requests.

This package sits above the stages whose prompts it answers (`phase1`, `phase2`); they never import it.
"""

from apigen_pipeline.simulated.backend import SimulatedBackend
from apigen_pipeline.simulated.context import SimulationContext
from apigen_pipeline.simulated.faults import (
    REPAIR_MARKER,
    FaultInjector,
    FaultKind,
    FaultRates,
    is_repair_request,
)
from apigen_pipeline.simulated.provider import (
    SIMULATED_MODEL,
    SimulatedProvider,
    SimulationOutcome,
    request_digest,
)
from apigen_pipeline.simulated.rates import Phase1SimulationRates, Phase2SimulationRates
from apigen_pipeline.simulated.registry import RoleHandler, RoleHandlerRegistry
from apigen_pipeline.simulated.roles import role_registry
from apigen_pipeline.simulated.schema_values import SchemaValueError, value_for_schema

__all__ = [
    "REPAIR_MARKER",
    "SIMULATED_MODEL",
    "FaultInjector",
    "FaultKind",
    "FaultRates",
    "Phase1SimulationRates",
    "Phase2SimulationRates",
    "RoleHandler",
    "RoleHandlerRegistry",
    "SchemaValueError",
    "SimulatedBackend",
    "SimulatedProvider",
    "SimulationContext",
    "SimulationOutcome",
    "is_repair_request",
    "request_digest",
    "role_registry",
    "value_for_schema",
]

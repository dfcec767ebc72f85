"""The offline `simulated` LLM backend: deterministic, zero-cost answers in the format each request asks.

- `provider.SimulatedProvider` is the `Provider`; its answer is a pure function of (seed, request,
  model), with estimated token usage (`tokens`) so a simulated run also rehearses the bill.
- `generic` answers when no role handler does: schema-valid JSON (`schema_values`, `regex_strings`), one grounded
  tool call (values found in the prompt's JSON via `prompt_json`), or a short text.
- `faults` injects a configurable share of realistic failures, never on the gateway's repair requests.
- `roles` is the extension point. A later stage teaches the backend its role explicitly::

      def judge(request: LLMRequest, ctx: SimulationContext) -> LLMResponse | None:
          vote = ctx.value_for_schema(request.response_schema)
          if ctx.fires(FaultKind.JUDGE_DISAGREE):
              vote["correctness"] = not vote["correctness"]
          return ctx.json_response(vote)      # or None to fall back to the generic behaviour

      register_role_handler("judge", judge)
"""

from apigen_pipeline.llm.simulated.faults import (
    REPAIR_MARKER,
    FaultInjector,
    FaultKind,
    FaultRates,
    is_repair_request,
)
from apigen_pipeline.llm.simulated.generic import generic_response
from apigen_pipeline.llm.simulated.prompt_json import GroundingIndex, extract_json_blocks
from apigen_pipeline.llm.simulated.provider import (
    SIMULATED_MODEL,
    SimulatedProvider,
    SimulationOutcome,
    request_digest,
)
from apigen_pipeline.llm.simulated.roles import (
    DEFAULT_REGISTRY,
    RoleHandler,
    RoleHandlerRegistry,
    SimulationContext,
    get_role_handler,
    register_role_handler,
    unregister_role_handler,
)
from apigen_pipeline.llm.simulated.schema_values import SchemaValueError, value_for_schema
from apigen_pipeline.llm.simulated.tokens import (
    estimate_output_tokens,
    estimate_request_tokens,
    estimate_tokens,
)

__all__ = [
    "DEFAULT_REGISTRY",
    "REPAIR_MARKER",
    "SIMULATED_MODEL",
    "FaultInjector",
    "FaultKind",
    "FaultRates",
    "GroundingIndex",
    "RoleHandler",
    "RoleHandlerRegistry",
    "SchemaValueError",
    "SimulatedProvider",
    "SimulationContext",
    "SimulationOutcome",
    "estimate_output_tokens",
    "estimate_request_tokens",
    "estimate_tokens",
    "extract_json_blocks",
    "generic_response",
    "get_role_handler",
    "is_repair_request",
    "register_role_handler",
    "request_digest",
    "unregister_role_handler",
    "value_for_schema",
]

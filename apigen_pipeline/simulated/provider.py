"""`SimulatedProvider`: the offline, deterministic, zero-cost backend (the pipeline's default).

An answer is a pure function of (seed, the request's full content, the model name): both random
streams a request uses are seeded from one SHA-256 over them, never from the clock or global state.
The handler its registry holds for the request's role answers first; when there is none, or it
returns None, the generic behaviour does.
Usage carries *estimated* tokens so a simulated run doubles as a cost rehearsal for real models.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
from dataclasses import dataclass

from apigen_pipeline.llm.errors import ProviderError
from apigen_pipeline.llm.tokens import estimate_output_tokens, estimate_request_tokens
from apigen_pipeline.llm.types import ErrorKind, LLMRequest, LLMResponse, Usage
from apigen_pipeline.simulated.context import SimulationContext
from apigen_pipeline.simulated.faults import FaultInjector, FaultKind, FaultRates, is_repair_request
from apigen_pipeline.simulated.generic import generic_response
from apigen_pipeline.simulated.registry import RoleHandlerRegistry
from apigen_pipeline.simulated.schema_values import SchemaValueError

SIMULATED_MODEL = "simulated"
GENERIC_HANDLER = "generic"


@dataclass(frozen=True)
class SimulationOutcome:
    """A simulated answer plus what a test or benchmark may want to know about how it was made."""

    response: LLMResponse
    fired_faults: tuple[FaultKind, ...]
    handled_by: str  # the role whose handler answered, or GENERIC_HANDLER


class SimulatedProvider:
    name = "simulated"

    def __init__(
        self,
        seed: int = 0,
        faults: FaultRates | None = None,
        latency_s: float = 0.0,
        *,
        handlers: RoleHandlerRegistry | None = None,
    ):
        if latency_s < 0:
            raise ValueError("latency_s must be >= 0")
        self.seed = seed
        self.fault_rates = faults if faults is not None else FaultRates()
        self.injector = FaultInjector(self.fault_rates)
        self.latency_s = latency_s
        # Without a registry every request gets the generic behaviour.
        self.handlers = handlers if handlers is not None else RoleHandlerRegistry()

    async def send(self, request: LLMRequest, model: str) -> LLMResponse:
        outcome = self.simulate(request, model)
        if self.latency_s > 0:
            await asyncio.sleep(self.latency_s)
        return outcome.response

    async def aclose(self) -> None:
        return None

    def simulate(self, request: LLMRequest, model: str) -> SimulationOutcome:
        """The synchronous core of `send`: the answer, the faults that fired and who answered."""
        ctx = self.context_for(request, model)
        handler = self.handlers.get(request.role)
        response: LLMResponse | None = None
        handled_by = GENERIC_HANDLER
        if handler is not None:
            try:
                response = handler(request, ctx)
            except ProviderError:
                raise
            except Exception as exc:
                # A broken handler is a bug, not a flaky model: fail loud, never retry.
                raise ProviderError(
                    ErrorKind.PERMANENT, f"simulated {request.role!r} handler failed: {exc!r}"
                ) from exc
            if response is not None:
                handled_by = request.role
        if response is None:
            try:
                response = generic_response(request, ctx)
            except SchemaValueError as exc:
                # No value can satisfy the request's schema: re-asking cannot help.
                raise ProviderError(ErrorKind.PERMANENT, f"unsatisfiable schema in request: {exc}") from exc
        return SimulationOutcome(self._with_usage(response, request), tuple(ctx.fired_faults), handled_by)

    def context_for(self, request: LLMRequest, model: str) -> SimulationContext:
        digest = request_digest(self.seed, request, model)
        return SimulationContext(
            request=request,
            model=model,
            seed=self.seed,
            rng=random.Random(int.from_bytes(digest[:16], "big")),
            faults=self.injector,
            fault_rng=random.Random(int.from_bytes(digest[16:], "big")),
            is_repair=is_repair_request(request),
        )

    @staticmethod
    def _with_usage(response: LLMResponse, request: LLMRequest) -> LLMResponse:
        calls = [(call.name, call.arguments) for call in response.tool_calls]
        usage = Usage(
            input_tokens=estimate_request_tokens(request),
            output_tokens=estimate_output_tokens(response.text, calls),
        )
        finish_reason = response.finish_reason or ("tool_calls" if calls else "stop")
        return response.model_copy(update={"usage": usage, "model": SIMULATED_MODEL, "finish_reason": finish_reason})


def request_digest(seed: int, request: LLMRequest, model: str) -> bytes:
    """SHA-256 over (seed, model, the request's full JSON): the root of every random choice."""
    hasher = hashlib.sha256(f"{seed}\x00{model}\x00".encode())
    hasher.update(request.model_dump_json().encode())
    return hasher.digest()

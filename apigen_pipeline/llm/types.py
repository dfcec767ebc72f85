"""Provider-neutral request and response types. Tool calls are typed data from end to end."""

from __future__ import annotations

import hashlib
import json
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Role = Literal[
    "generator", "judge", "summarizer", "recombiner", "human", "critic", "agent", "default"
]


class ErrorKind(StrEnum):
    TRANSIENT = "transient"          # 5xx, connection reset, malformed body: retried with backoff
    TIMEOUT = "timeout"              # connected, but no reply within the timeout: retried with backoff
    RATE_LIMIT = "rate_limit"        # 429: cool-down honouring Retry-After, then retried
    # Connection refused, DNS failure, TLS failure, no connection within the connect timeout: a few
    # retries, then the batch stops (every other request to that endpoint would fail the same way).
    UNREACHABLE = "unreachable"
    INVALID_OUTPUT = "invalid_output"  # not JSON, fails the schema, unknown tool, bad arguments: repaired
    AUTH = "auth"                    # 401/403 or no key: never retried, the batch stops
    UNKNOWN_MODEL = "unknown_model"  # the endpoint does not know the model: never retried, the batch stops
    PERMANENT = "permanent"          # context too long, other 4xx: never retried
    BUDGET = "budget"                # not sent: the budget cap was reached
    # Not sent: the prompt (estimated) plus the reply's max_tokens cannot fit the model's context window.
    CONTEXT_TOO_LONG = "context_too_long"
    ABORTED = "aborted"              # not sent: the batch stopped early (failure-rate threshold)


class ToolCallData(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    arguments: dict[str, Any]


class ChatMessage(BaseModel):
    role: Literal["system", "user", "assistant", "tool"]
    content: str | None = None
    tool_calls: list[ToolCallData] = Field(default_factory=list)
    tool_call_id: str | None = None  # for role == "tool"
    name: str | None = None          # tool name, for role == "tool"
    # A prefix that never changes across requests (policy + tool schemas): providers may cache it.
    cacheable: bool = False


class ToolSchema(BaseModel):
    name: str
    description: str
    parameters: dict[str, Any]


class SamplingParams(BaseModel):
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int = 2048
    seed: int | None = None


class LLMRequest(BaseModel):
    """One fully rendered chat request. Its hash (with the model and sample index) is the cache key."""

    role: Role
    messages: list[ChatMessage]
    tools: list[ToolSchema] = Field(default_factory=list)
    tool_choice: Literal["auto", "required", "none"] = "auto"
    response_schema: dict[str, Any] | None = None
    response_schema_name: str = "response"
    sampling: SamplingParams = Field(default_factory=SamplingParams)
    sample_index: int = 0  # n samples of one prompt are n requests that differ only here
    prompt_version: str | None = None
    # Free-form labels for lineage (context id, round, judge index ...). Part of the key: two
    # otherwise-identical prompts for different items are different requests.
    tags: dict[str, str] = Field(default_factory=dict)


class Usage(BaseModel):
    """Tokens as billed. `input_tokens` counts the whole prompt, the cached and cache-written parts included."""

    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0       # read from the provider's prompt cache
    cache_write_input_tokens: int = 0  # written to it (Anthropic's cache_creation_input_tokens)

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cached_input_tokens=self.cached_input_tokens + other.cached_input_tokens,
            cache_write_input_tokens=self.cache_write_input_tokens + other.cache_write_input_tokens,
        )


class LLMResponse(BaseModel):
    text: str | None = None
    tool_calls: list[ToolCallData] = Field(default_factory=list)
    finish_reason: str | None = None
    usage: Usage = Field(default_factory=Usage)
    model: str | None = None
    # Filled by the gateway: parsed JSON when the request had a response_schema and it validated.
    parsed: Any = None


class LLMResult(BaseModel):
    """What a caller gets for one request: an answer, or a classified failure. Never a silent None."""

    request_key: str
    status: Literal["answered", "failed", "not_sent"]
    response: LLMResponse | None = None
    error_kind: ErrorKind | None = None
    error_message: str | None = None
    attempts: int = 0
    repair_turns: int = 0
    from_cache: bool = False
    provider: str = ""
    model: str = ""
    latency_s: float = 0.0
    cost_usd: float = 0.0
    simulated: bool = False

    @property
    def ok(self) -> bool:
        return self.status == "answered"


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def request_key(request: LLMRequest, provider: str, model: str, identity: str = "") -> str:
    """Hash of the fully rendered request plus where it goes: never of the Python that built it.

    `identity`: what else decides the answer for this provider (the simulated backend's seed, faults and
    behaviour rates), so changing it never replays answers made under the old one; empty for real models."""
    body: dict[str, Any] = {"provider": provider, "model": model, "request": request.model_dump(mode="json")}
    if identity:
        body["identity"] = identity
    return hashlib.sha256(canonical(body).encode()).hexdigest()

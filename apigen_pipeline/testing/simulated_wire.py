"""Wire servers that answer like the offline simulated backend, for runs through the real SDKs over HTTP.

`simulated_responder("openai" | "anthropic")` is a `Responder` for `OpenAIWireServer` /
`AnthropicWireServer`. For each received body it

1. decodes the wire body back into a provider-neutral `LLMRequest` (system text, user and assistant
   turns, tool calls and tool results, tools, tool choice, the requested JSON schema and its name,
   sampling parameters);
2. infers the pipeline role the request plays (see `infer_role`) and the domain it is about, because
   neither travels on the wire;
3. asks the `SimulatedProvider` of a `SimulatedBackend` (every role, bound to the environments the
   responder was given) for the answer the offline backend would give;
4. renders that answer in the provider's format: text, JSON (OpenAI: message content; Anthropic: the
   forced schema tool's `tool_use` input) or tool calls, with the estimated token usage.

So a pipeline configured with `backend_override: configured` and models whose `base_url` points at these
servers talks to them through the official SDKs and gets the answers of a plausible model::

    with OpenAIWireServer(simulated_responder("openai")) as server:
        ...  # ModelRef(provider="openai", model="gpt-4o", base_url=server.base_url, api_key_env=...)

Role inference, in order (`infer_role`):
- the schema name: OpenAI's `response_format.json_schema.name`, Anthropic's forced tool name. The
  pipeline names schemas after roles ("generator", "judge", "summarizer", "recombiner", "critic"); the
  json tool-call mode's "next_action" schema belongs to the agent;
- else the opening of the system prompt (the shipped prompt templates of each role, `ROLE_OPENINGS`),
  which also covers structured modes that carry no name (`json_object`, schema in the prompt);
- else an agent when tools are offered, the "default" role otherwise (the generic simulated behaviour).

Domain inference: the prompt templates name it (`in the "retail" domain`, `of a "retail" business`); it
becomes `tags["domain"]`, which the simulated agent uses to find its environment among the responder's.

What the wire cannot carry, and how this stands in for it:
- the environments: the responder is given them (domain name -> `Environment`, e.g. from
  `environments.registry.load_environment`), the same ones the pipeline runs on;
- `sample_index` (best-of-N candidates are identical bodies): a body seen again at a temperature above 0
  (or unset: the providers' default is 1) is answered as the next sample, as a real model would vary; at
  temperature 0 the same body always gets the same answer. Concurrent duplicates may take the sample
  numbers in either order, so which text ends up as which candidate is not fixed from run to run;
- the Phase 2 `attempt` tag: the simulated user draws its persona traits from it offline; here every
  attempt sees the same (empty) attempt, so traits are drawn once per instruction.
"""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from apigen_pipeline.environments.base import Environment
from apigen_pipeline.llm.errors import ProviderError
from apigen_pipeline.llm.tool_call_modes import NEXT_ACTION_SCHEMA_NAME
from apigen_pipeline.llm.types import (
    ChatMessage,
    ErrorKind,
    LLMRequest,
    LLMResponse,
    Role,
    SamplingParams,
    ToolCallData,
    ToolSchema,
)
from apigen_pipeline.simulated import (
    FaultRates,
    Phase1SimulationRates,
    Phase2SimulationRates,
    SimulatedBackend,
    SimulatedProvider,
)
from apigen_pipeline.testing.wire_servers import WireReply, WireToolCall, WireUsage, body_hash

WireProvider = Literal["openai", "anthropic"]

# Schema names that are role names (the Phase 1 prompts and the critic name their schemas so).
SCHEMA_NAME_ROLES: dict[str, Role] = {
    "generator": "generator", "judge": "judge", "summarizer": "summarizer", "recombiner": "recombiner",
    "critic": "critic", NEXT_ACTION_SCHEMA_NAME: "agent",
}

# How each shipped system prompt begins. The human's prompt also mentions "customer-service agent of a",
# so prompts are matched on their opening, not searched anywhere.
ROLE_OPENINGS: tuple[tuple[str, Role], ...] = (
    ("You design verified training tasks", "generator"),
    ("You are one judge on a review committee", "judge"),
    ("You help a task designer fix a rejected task blueprint", "summarizer"),
    ("You merge several verified tasks", "recombiner"),
    ("You review candidate messages written by a simulated customer", "critic"),
    ("You are role-playing a customer", "human"),
    ("You are a customer-service agent", "agent"),
)

_DOMAIN_MENTION = re.compile(r'"([A-Za-z0-9_.-]+)" (?:domain|business)\b')
# The OpenAI provider's "prompt" structured mode appends the schema after this phrase.
_SCHEMA_IN_PROMPT = re.compile(r"conform to this JSON schema:\n(\{.*\})\s*$", re.DOTALL)
_DEFAULT_SCHEMA_NAME = "response"
_DEFAULT_TEMPERATURE = 1.0  # what both providers use when a request sets none
_ANTHROPIC_TOOL_CHOICES = {"auto": "auto", "any": "required", "none": "none"}


@dataclass(frozen=True)
class DecodedRequest:
    """A wire body read back: the neutral request (role and domain inferred) and the model it named."""

    request: LLMRequest
    model: str


# ---- inference ------------------------------------------------------------------------------------------

def infer_role(schema_name: str | None, messages: Iterable[ChatMessage], has_tools: bool) -> Role:
    """The pipeline role of a request: by schema name, else by the system prompt's opening, else by tools."""
    if schema_name in SCHEMA_NAME_ROLES:
        return SCHEMA_NAME_ROLES[schema_name]
    system = _system_text(messages).lstrip()
    for opening, role in ROLE_OPENINGS:
        if system.startswith(opening):
            return role
    return "agent" if has_tools else "default"


def infer_domain(messages: Iterable[ChatMessage]) -> str | None:
    """The domain the prompt names (every shipped system prompt but the critic's names it)."""
    found = _DOMAIN_MENTION.search(_system_text(messages))
    return found.group(1) if found else None


def _system_text(messages: Iterable[ChatMessage]) -> str:
    return "\n\n".join(m.content or "" for m in messages if m.role == "system")


def _with_tool_names(messages: list[ChatMessage]) -> list[ChatMessage]:
    """Tool results name their tool (neither wire format does): the name of the call they answer."""
    names = {call.id: call.name for m in messages for call in m.tool_calls}
    return [m.model_copy(update={"name": names.get(m.tool_call_id or "")}) if m.role == "tool" and not m.name else m
            for m in messages]


def _neutral_request(messages: list[ChatMessage], tools: list[ToolSchema], tool_choice: str,
                     schema: dict[str, Any] | None, schema_name: str | None, sampling: SamplingParams) -> LLMRequest:
    messages = _with_tool_names(messages)
    domain = infer_domain(messages)
    return LLMRequest(
        role=infer_role(schema_name if schema is not None else None, messages, bool(tools)),
        messages=messages, tools=tools, tool_choice=tool_choice,  # type: ignore[arg-type]
        response_schema=schema, response_schema_name=schema_name or _DEFAULT_SCHEMA_NAME,
        sampling=sampling, tags={"domain": domain} if domain else {},
    )


def _sampling(body: Mapping[str, Any], max_tokens_keys: tuple[str, ...]) -> SamplingParams:
    max_tokens = next((body[key] for key in max_tokens_keys if isinstance(body.get(key), int)), 2048)
    return SamplingParams(temperature=body.get("temperature"), top_p=body.get("top_p"), max_tokens=max_tokens,
                          seed=body.get("seed"))


# ---- OpenAI chat completions ----------------------------------------------------------------------------

def _openai_text(content: Any) -> str | None:
    if content is None or isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts
        return "".join(part.get("text", "") for part in content if isinstance(part, Mapping))
    return str(content)


def _openai_tool_call(call: Mapping[str, Any]) -> ToolCallData:
    function = call.get("function") or {}
    raw = function.get("arguments")
    try:
        arguments = json.loads(raw) if isinstance(raw, str) and raw.strip() else (raw or {})
    except json.JSONDecodeError:
        arguments = {"_unparsed": raw}  # what a client sent back from a broken call; kept, not dropped
    return ToolCallData(id=str(call.get("id") or ""), name=str(function.get("name") or ""),
                        arguments=arguments if isinstance(arguments, dict) else {"value": arguments})


def _openai_message(message: Mapping[str, Any]) -> ChatMessage:
    role = message.get("role")
    text = _openai_text(message.get("content"))
    if role in ("system", "developer"):
        return ChatMessage(role="system", content=text)
    if role == "tool":
        return ChatMessage(role="tool", content=text, tool_call_id=message.get("tool_call_id"),
                           name=message.get("name"))
    if role == "assistant":
        return ChatMessage(role="assistant", content=text or None,
                           tool_calls=[_openai_tool_call(c) for c in message.get("tool_calls") or []])
    return ChatMessage(role="user", content=text)


def _openai_schema(body: Mapping[str, Any], messages: list[ChatMessage]) -> tuple[dict[str, Any] | None, str | None]:
    response_format = body.get("response_format")
    if isinstance(response_format, Mapping) and response_format.get("type") == "json_schema":
        spec = response_format.get("json_schema") or {}
        return dict(spec.get("schema") or {"type": "object"}), spec.get("name")
    in_prompt = _SCHEMA_IN_PROMPT.search(_system_text(messages))
    schema: dict[str, Any] | None = None
    if in_prompt:
        try:
            schema = json.loads(in_prompt.group(1))
        except json.JSONDecodeError:
            schema = None
    if isinstance(response_format, Mapping) and response_format.get("type") == "json_object":
        return dict(response_format.get("schema") or schema or {"type": "object"}), None
    return schema, None


def request_from_openai_body(body: Mapping[str, Any]) -> DecodedRequest:
    """A chat-completions body as the neutral request it was rendered from (as far as the wire tells)."""
    messages = [_openai_message(m) for m in body.get("messages") or []]
    tools = [ToolSchema(name=f["name"], description=f.get("description") or "", parameters=f.get("parameters") or {})
             for t in body.get("tools") or [] if (f := t.get("function"))]
    choice = body.get("tool_choice")
    tool_choice = choice if choice in ("auto", "required", "none") else ("required" if choice else "auto")
    schema, schema_name = _openai_schema(body, messages)
    request = _neutral_request(messages, tools, tool_choice, schema, schema_name,
                               _sampling(body, ("max_completion_tokens", "max_tokens")))
    return DecodedRequest(request, str(body.get("model") or ""))


# ---- Anthropic messages ---------------------------------------------------------------------------------

def _blocks(content: Any) -> list[Mapping[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [block for block in content or [] if isinstance(block, Mapping)]


def _tool_result_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(block.get("text", "") for block in _blocks(content) if block.get("type") == "text")


def _anthropic_turn(turn: Mapping[str, Any]) -> list[ChatMessage]:
    """One wire turn as neutral messages: tool results split out of user turns, in their order."""
    blocks = _blocks(turn.get("content"))
    if turn.get("role") == "assistant":
        text = "".join(b.get("text", "") for b in blocks if b.get("type") == "text")
        calls = [ToolCallData(id=str(b.get("id") or ""), name=str(b.get("name") or ""),
                              arguments=dict(b.get("input") or {}))
                 for b in blocks if b.get("type") == "tool_use"]
        return [ChatMessage(role="assistant", content=text or None, tool_calls=calls,
                            cacheable=any("cache_control" in b for b in blocks))]
    messages: list[ChatMessage] = []
    for block in blocks:
        cacheable = "cache_control" in block
        if block.get("type") == "tool_result":
            messages.append(ChatMessage(role="tool", content=_tool_result_text(block.get("content")),
                                        tool_call_id=block.get("tool_use_id"), cacheable=cacheable))
        elif block.get("type") == "text":
            messages.append(ChatMessage(role="user", content=block.get("text", ""), cacheable=cacheable))
    return messages


def request_from_anthropic_body(body: Mapping[str, Any]) -> DecodedRequest:
    """A messages body as the neutral request: a forced tool is the response schema (the provider's way)."""
    messages = [ChatMessage(role="system", content=block.get("text", ""), cacheable="cache_control" in block)
                for block in _blocks(body.get("system")) if block.get("type") == "text"]
    for turn in body.get("messages") or []:
        messages.extend(_anthropic_turn(turn))
    tools = [ToolSchema(name=t["name"], description=t.get("description") or "", parameters=t.get("input_schema") or {})
             for t in body.get("tools") or [] if "name" in t]
    choice = body.get("tool_choice") or {}
    schema: dict[str, Any] | None = None
    schema_name: str | None = None
    tool_choice = _ANTHROPIC_TOOL_CHOICES.get(choice.get("type"), "auto")
    if choice.get("type") == "tool":
        forced = next((tool for tool in tools if tool.name == choice.get("name")), None)
        if forced is not None:
            # A non-object schema arrives wrapped as {"value": ...}; answering the wrapper is answering it.
            schema, schema_name = forced.parameters, forced.name
            tools = [tool for tool in tools if tool is not forced]
            tool_choice = "auto"
    request = _neutral_request(messages, tools, tool_choice, schema, schema_name, _sampling(body, ("max_tokens",)))
    return DecodedRequest(request, str(body.get("model") or ""))


def request_from_body(provider: WireProvider, body: Mapping[str, Any]) -> DecodedRequest:
    if provider == "openai":
        return request_from_openai_body(body)
    if provider == "anthropic":
        return request_from_anthropic_body(body)
    raise ValueError(f"unknown wire provider {provider!r}")


# ---- rendering answers ----------------------------------------------------------------------------------

def _finish_reason(provider: WireProvider, response: LLMResponse) -> str | None:
    """Only a cut-off answer needs spelling out; the servers derive stop / tool calls themselves."""
    if response.finish_reason != "length":
        return None
    return "length" if provider == "openai" else "max_tokens"


def wire_reply_for(provider: WireProvider, request: LLMRequest, response: LLMResponse) -> WireReply:
    """The neutral answer in the provider's wire terms.

    Anthropic answers a schema request by calling the forced schema tool with the JSON as its input; an
    answer that is not a JSON object (a garbled reply) goes out as plain text instead, as when a model
    ignores the forced tool, so the pipeline's repair path sees it.
    """
    # No cache counts: the server splits the prompt by the provider's prompt-cache rule, as the provider would.
    usage = WireUsage(input_tokens=response.usage.input_tokens, output_tokens=response.usage.output_tokens)
    calls = [WireToolCall(name=call.name, arguments=dict(call.arguments), id=_call_id(provider, call.id))
             for call in response.tool_calls]
    text = response.text
    if provider == "anthropic" and request.response_schema is not None and not calls:
        value = _json_object(text)
        if value is not None:
            calls, text = [WireToolCall(name=request.response_schema_name, arguments=value)], None
    return WireReply(text=text, tool_calls=tuple(calls), usage=usage, finish_reason=_finish_reason(provider, response))


def _call_id(provider: WireProvider, call_id: str) -> str | None:
    if not call_id:
        return None  # the server derives one from the call
    return "toolu_" + call_id.removeprefix("call_") if provider == "anthropic" else call_id


def _json_object(text: str | None) -> dict[str, Any] | None:
    try:
        value = json.loads(text or "")
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def error_reply(error: ProviderError) -> WireReply:
    """A simulated failure as the HTTP error a provider would answer with."""
    if error.kind is ErrorKind.RATE_LIMIT:
        return WireReply.rate_limited(retry_after=error.retry_after or 1)
    if error.kind is ErrorKind.TRANSIENT:
        return WireReply.server_error(error.message)
    return WireReply.http_error(400, error.message)


# ---- the responder --------------------------------------------------------------------------------------

class SimulatedWireResponder:
    """A `Responder` answering like the simulated backend; thread-safe (the servers answer concurrently).

    `roles_seen` counts the inferred role of every body answered, so tests can assert who was asked.
    """

    def __init__(self, provider: WireProvider, seed: int = 0, faults: FaultRates | None = None, *,
                 environments: Mapping[str, Environment],
                 phase1_rates: Phase1SimulationRates | None = None,
                 phase2_rates: Phase2SimulationRates | None = None, vary_repeats: bool = True):
        if provider not in ("openai", "anthropic"):
            raise ValueError(f"unknown wire provider {provider!r}")
        self.provider: WireProvider = provider
        self.vary_repeats = vary_repeats
        roles = SimulatedBackend(environments, phase1_rates, phase2_rates).roles
        self.simulator = SimulatedProvider(seed=seed, faults=faults, handlers=roles)
        self._lock = threading.Lock()
        self._seen: Counter[str] = Counter()
        self.roles_seen: Counter[str] = Counter()

    def __call__(self, body: dict[str, Any], call_index: int) -> WireReply:
        decoded = request_from_body(self.provider, body)
        request = decoded.request
        digest = body_hash(body)
        with self._lock:
            occurrence = self._seen[digest]
            self._seen[digest] += 1
            self.roles_seen[request.role] += 1
        if self.vary_repeats and self._samples(request):
            request = request.model_copy(update={"sample_index": occurrence})
        try:
            outcome = self.simulator.simulate(request, decoded.model)
        except ProviderError as error:
            return error_reply(error)
        return wire_reply_for(self.provider, request, outcome.response)

    @staticmethod
    def _samples(request: LLMRequest) -> bool:
        temperature = request.sampling.temperature
        return (_DEFAULT_TEMPERATURE if temperature is None else temperature) > 0


def simulated_responder(provider: WireProvider, *, seed: int = 0, faults: FaultRates | None = None,
                        environments: Mapping[str, Environment],
                        phase1_rates: Phase1SimulationRates | None = None,
                        phase2_rates: Phase2SimulationRates | None = None,
                        vary_repeats: bool = True) -> SimulatedWireResponder:
    """A wire-server responder that answers like the offline simulated backend (see the module notes).

    `environments` (domain name -> `Environment`) are what the roles answer from; `faults` and the rates
    are the simulated backend's (None: its defaults, a realistic small mix); wire-level faults (429s,
    500s, timeouts) compose on top with `FaultPlan.wrap` or a server's `fault_plan`. All by keyword: fault
    rates passed where the seed was expected once left a "competent" test model with the default faults.
    """
    return SimulatedWireResponder(provider, seed, faults, environments=environments, phase1_rates=phase1_rates,
                                  phase2_rates=phase2_rates, vary_repeats=vary_repeats)

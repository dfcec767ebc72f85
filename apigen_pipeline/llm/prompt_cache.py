"""Which part of a prompt a provider serves from its prompt cache: the one prefix rule that the wire test
servers report and the simulated backend's cost projection applies.

Providers cache prompt *prefixes*. A prompt is a sequence of blocks in the provider's prompt order
(tools, then the system text, then the conversation); a prefix is the blocks up to a boundary.

* OpenAI (automatic): a prompt of at least 1,024 tokens is served from the cache up to the longest prefix
  an earlier request already sent, counted in steps of 128 tokens beyond the first 1,024
  (`usage.prompt_tokens_details.cached_tokens`).
* Anthropic (`cache_control`): only prefixes that end at a breakpoint are cached, and only from a minimum
  length (1,024 tokens for Sonnet- and Opus-class models, 2,048 for Haiku-class). The longest breakpoint
  prefix seen before is read (`cache_read_input_tokens`); the rest up to the last breakpoint long enough is
  written (`cache_creation_input_tokens`, billed above the input price).

Not modelled: expiry (providers drop an entry after 5-10 idle minutes, so a long pause between batches
starts cold), the sharing scope (per organisation or workspace: one `PrefixCache` per model here), and two
requests in flight at once both missing (here the second one hits).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from apigen_pipeline.llm.tokens import json_text, message_tokens, schema_tokens, tool_tokens
from apigen_pipeline.llm.types import ChatMessage, LLMRequest, ToolSchema

ANTHROPIC_MAX_BREAKPOINTS = 4  # Anthropic rejects more cache_control blocks; the provider keeps the last four


@dataclass(frozen=True)
class CacheRule:
    min_prefix_tokens: int
    breakpoints_only: bool  # True: only prefixes ending at a cache_control breakpoint are cached (Anthropic)
    step_tokens: int = 1    # hits beyond the minimum count in steps of this many tokens (OpenAI: 128)


OPENAI_RULE = CacheRule(min_prefix_tokens=1024, breakpoints_only=False, step_tokens=128)
ANTHROPIC_RULE = CacheRule(min_prefix_tokens=1024, breakpoints_only=True)
ANTHROPIC_HAIKU_RULE = CacheRule(min_prefix_tokens=2048, breakpoints_only=True)


def cache_rule_for(provider: str, model: str) -> CacheRule | None:
    """The provider's rule for a model; None where nothing is cached (the simulated backend)."""
    if provider == "openai":
        return OPENAI_RULE
    if provider == "anthropic":
        return anthropic_rule(model)
    return None


def anthropic_rule(model: str) -> CacheRule:
    return ANTHROPIC_HAIKU_RULE if "haiku" in model else ANTHROPIC_RULE


@dataclass(frozen=True)
class PromptBlock:
    content: str  # what identifies the block (its wire JSON or text)
    tokens: int
    breakpoint: bool = False  # a cache_control mark ends here


@dataclass(frozen=True)
class CacheUse:
    read_tokens: int = 0   # served from the cache
    write_tokens: int = 0  # written to the cache (Anthropic bills these above the input price)

    def within(self, input_tokens: int) -> CacheUse:
        """Capped by the prompt's whole count (block estimates and a provider's count may differ a little)."""
        read = min(self.read_tokens, input_tokens)
        return CacheUse(read_tokens=read, write_tokens=min(self.write_tokens, input_tokens - read))


class PrefixCache:
    """The prefixes one model has seen. Thread-safe: the wire servers answer concurrently."""

    def __init__(self, rule: CacheRule):
        self.rule = rule
        self._seen: set[bytes] = set()
        self._lock = threading.Lock()

    def use(self, blocks: Sequence[PromptBlock]) -> CacheUse:
        """What this prompt reads from and writes to the cache; its cacheable prefixes are remembered."""
        rule = self.rule
        boundaries: list[tuple[bytes, int]] = []  # (prefix digest, tokens up to here) where caching may end
        digest = b""
        total = 0
        for block in blocks:
            digest = hashlib.sha256(digest + block.content.encode()).digest()
            total += block.tokens
            if total >= rule.min_prefix_tokens and (block.breakpoint or not rule.breakpoints_only):
                boundaries.append((digest, total))
        if not boundaries:
            return CacheUse()
        with self._lock:
            read = max((tokens for prefix, tokens in boundaries if prefix in self._seen), default=0)
            self._seen.update(prefix for prefix, _ in boundaries)
        if read:
            read = rule.min_prefix_tokens + (read - rule.min_prefix_tokens) // rule.step_tokens * rule.step_tokens
        write = boundaries[-1][1] - read if rule.breakpoints_only else 0
        return CacheUse(read_tokens=read, write_tokens=write)


def request_blocks(request: LLMRequest, provider: str) -> list[PromptBlock]:
    """A neutral request's blocks in the provider's prompt order, with the breakpoints its provider marks.

    Both put tools first (Anthropic's forced answer tool, the response schema, last among them); OpenAI
    then the response format. Anthropic marks the cacheable messages and, when there are any, the last
    tool (see `providers.anthropic_provider`), keeping the last four marks.
    """
    anthropic = provider == "anthropic"
    marks_tools = anthropic and any(message.cacheable for message in request.messages)
    blocks = [PromptBlock(_tool_content(tool), tool_tokens(tool)) for tool in request.tools]
    if request.response_schema is not None:
        blocks.append(PromptBlock(json_text(request.response_schema), schema_tokens(request.response_schema)))
    if marks_tools and blocks:
        blocks[-1] = PromptBlock(blocks[-1].content, blocks[-1].tokens, breakpoint=True)
    blocks += [PromptBlock(_message_content(message), message_tokens(message), anthropic and message.cacheable)
               for message in request.messages]
    return _keep_last_breakpoints(blocks, ANTHROPIC_MAX_BREAKPOINTS) if anthropic else blocks


def _keep_last_breakpoints(blocks: list[PromptBlock], limit: int) -> list[PromptBlock]:
    marked = [index for index, block in enumerate(blocks) if block.breakpoint]
    dropped = set(marked[: max(0, len(marked) - limit)])
    return [PromptBlock(b.content, b.tokens, False) if i in dropped else b for i, b in enumerate(blocks)]


def _message_content(message: ChatMessage) -> str:
    """What makes two messages the same prompt text (serialising whole messages would cost more than the rest)."""
    calls = json_text([[call.id, call.name, call.arguments] for call in message.tool_calls]) if message.tool_calls else ""
    return "\x00".join((message.role, message.content or "", calls, message.tool_call_id or "", message.name or ""))


# Requests share the ToolSchema objects built once per environment: their JSON is kept by identity, holding
# the object so an id is never reused while kept (tool schemas are treated as immutable, as in `tokens`).
_TOOL_JSON: dict[int, tuple[ToolSchema, str]] = {}
_TOOL_JSON_LIMIT = 4096


def _tool_content(tool: ToolSchema) -> str:
    kept = _TOOL_JSON.get(id(tool))
    if kept is not None and kept[0] is tool:
        return kept[1]
    if len(_TOOL_JSON) >= _TOOL_JSON_LIMIT:
        _TOOL_JSON.clear()
    content = tool.model_dump_json()
    _TOOL_JSON[id(tool)] = (tool, content)
    return content

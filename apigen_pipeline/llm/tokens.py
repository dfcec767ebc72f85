"""Token estimates without a tokenizer download (tiktoken cannot fetch its vocabularies here).

The rule counts *chunks*, an approximation of how byte-pair encoders such as cl100k / o200k split
English prose and JSON:

- a run of up to 8 ASCII letters is one token (common words are single tokens; longer words split),
  and a leading underscore joins the letters after it (`order_id` -> `order`, `_id`);
- a run of up to 3 digits is one token (BPE vocabularies hold every 1-3 digit group);
- a run of up to 2 ASCII punctuation marks is one token (`{"`, `":`, `",` are single tokens in JSON);
- a line break with the indentation after it is one token, and so is a run of 2+ spaces or tabs;
  a single space is free (BPE glues it to the next word);
- any other character (accented letters, CJK, emoji) is one token.

Checked by hand against published cl100k counts: "Hello, world!" -> 4, a pangram sentence -> 10,
and typical English prose lands near 4 characters per token, JSON near 3.
Chat formatting adds a few tokens per message; see `MESSAGE_OVERHEAD_TOKENS`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import Any

from apigen_pipeline.llm.types import ChatMessage, LLMRequest, ToolSchema

_CHUNK = re.compile(
    r"_?[A-Za-z]{1,8}"
    r"|[0-9]{1,3}"
    r"|[!-/:-@\[-^`{-~_]{1,2}"
    r"|\n[ \t\n]*"
    r"|[ \t]{2,}"
    r"|[^\x00-\x7f]"
)

# Chat-format framing each provider adds around a message (role markers, separators).
MESSAGE_OVERHEAD_TOKENS = 4
# Reply priming plus the wrapper providers put around tool definitions and a response schema.
REQUEST_OVERHEAD_TOKENS = 3
TOOL_OVERHEAD_TOKENS = 8


def _count_chunks(text: str) -> int:
    return len(_CHUNK.findall(text))


@lru_cache(maxsize=8192)
def _count_chunks_cached(text: str) -> int:
    return _count_chunks(text)


def estimate_tokens(text: str | None) -> int:
    """Estimated BPE token count of `text` (see the module docstring for the rule)."""
    if not text:
        return 0
    # Policies, tool descriptions and shared context recur across thousands of requests: memoise
    # them; only tiny strings are cheaper to count than to look up.
    if len(text) > 24:
        return _count_chunks_cached(text)
    return _count_chunks(text)


def json_text(value: Any) -> str:
    """The compact JSON a provider would put on the wire for a schema or arguments."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def estimate_request_tokens(request: LLMRequest) -> int:
    """Estimated input tokens: messages (text and tool calls), tool schemas and the response schema."""
    total = REQUEST_OVERHEAD_TOKENS + sum(message_tokens(message) for message in request.messages)
    total += sum(tool_tokens(tool) for tool in request.tools)
    if request.response_schema is not None:
        total += schema_tokens(request.response_schema)
    return total


def message_tokens(message: ChatMessage) -> int:
    """Estimated tokens of one message in a prompt: its text, its tool calls and the chat framing."""
    total = MESSAGE_OVERHEAD_TOKENS + estimate_tokens(message.content)
    for call in message.tool_calls:
        total += TOOL_OVERHEAD_TOKENS + estimate_tokens(call.name) + estimate_tokens(json_text(call.arguments))
    return total


# Requests usually share the ToolSchema objects built once per environment, and serialising each
# schema per request would dominate the cost of a simulated call. Keyed by identity, holding the
# object itself so an id is never reused while cached (tool schemas are treated as immutable).
# The same goes for response schemas, which are module-level constants of each stage.
_IDENTITY_TOKEN_CACHE: dict[int, tuple[object, int]] = {}
_IDENTITY_TOKEN_CACHE_LIMIT = 4096


def _tokens_by_identity(owner: object, count_tokens: Callable[[], int]) -> int:
    cached = _IDENTITY_TOKEN_CACHE.get(id(owner))
    if cached is not None and cached[0] is owner:
        return cached[1]
    count = count_tokens()
    if len(_IDENTITY_TOKEN_CACHE) >= _IDENTITY_TOKEN_CACHE_LIMIT:
        _IDENTITY_TOKEN_CACHE.clear()
    _IDENTITY_TOKEN_CACHE[id(owner)] = (owner, count)
    return count


def tool_tokens(tool: ToolSchema) -> int:
    return _tokens_by_identity(tool, lambda: (
        TOOL_OVERHEAD_TOKENS + estimate_tokens(tool.name) + estimate_tokens(tool.description)
        + estimate_tokens(json_text(tool.parameters))
    ))


def schema_tokens(schema: Mapping[str, Any]) -> int:
    return _tokens_by_identity(schema, lambda: TOOL_OVERHEAD_TOKENS + estimate_tokens(json_text(schema)))


def estimate_output_tokens(
    text: str | None, tool_calls: Sequence[tuple[str, Mapping[str, Any]]] = ()
) -> int:
    """Estimated completion tokens for a reply made of `text` and `(name, arguments)` tool calls."""
    total = estimate_tokens(text)
    for name, arguments in tool_calls:
        total += TOOL_OVERHEAD_TOKENS + estimate_tokens(name) + estimate_tokens(json_text(arguments))
    return total

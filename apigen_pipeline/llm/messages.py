"""Helpers on chat message lists that more than one request rewriter needs."""

from __future__ import annotations

from apigen_pipeline.llm.types import ChatMessage


def with_system_text(messages: list[ChatMessage], extra: str) -> list[ChatMessage]:
    """The messages with `extra` appended to the system message (one is added first when there is none)."""
    if messages and messages[0].role == "system":
        first = messages[0]
        joined = f"{first.content}\n\n{extra}" if first.content else extra
        return [first.model_copy(update={"content": joined}), *messages[1:]]
    return [ChatMessage(role="system", content=extra), *messages]

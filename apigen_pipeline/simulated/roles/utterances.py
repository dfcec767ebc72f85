"""Reading tool requests back out of user text by inverting the tools' `utterance` templates.

Used by the simulated agent (it reads only the conversation, the policy and the tools). A template such
as "I want to cancel order {order_id} because it was {reason}." becomes a regular expression with one
named group per slot; slot text is turned back into a typed value by the argument's JSON schema (lists
are spoken as "a, b", objects as JSON, as the simulated generator renders them). Id arguments a template
leaves out may follow the sentence as "(order id: #W1; payment method id: gift_card_2)".
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from apigen_pipeline.environments.base import ToolSpec

_SLOT = re.compile(r"\{(\w+)\}")
_EXTRA = re.compile(r"\(([a-z][a-z ]*: [^()]+)\)")


@dataclass(frozen=True)
class UtteranceMatch:
    tool: str
    arguments: dict[str, Any]
    start: int
    end: int


@lru_cache(maxsize=256)
def template_pattern(template: str) -> re.Pattern[str]:
    parts: list[str] = []
    position = 0
    seen: set[str] = set()
    for match in _SLOT.finditer(template):
        parts.append(re.escape(template[position:match.start()]))
        name = match.group(1)
        # A slot used twice must hold the same text: a backreference keeps the pattern valid.
        parts.append(f"(?P={name})" if name in seen else f"(?P<{name}>.*?)")
        seen.add(name)
        position = match.end()
    tail = template[position:]
    if tail.endswith((".", "?", "!")):
        # The sentence ends with its punctuation before a space, or with the message itself.
        parts.append(re.escape(tail[:-1]) + r"(?:[.?!](?=\s|$)|$)")
    else:
        parts.append(re.escape(tail))
    return re.compile("".join(parts), re.IGNORECASE)


def spoken_value(text: str, schema: dict[str, Any]) -> Any:
    """The typed value of slot text, guided by the argument's schema (the text itself when unsure)."""
    text = text.strip()
    kind = schema.get("type")
    if kind == "array":
        items = schema.get("items", {})
        if items.get("type") == "object":
            try:
                value = json.loads(f"[{text}]")
            except json.JSONDecodeError:
                return text
            return value
        return [spoken_value(part, items) for part in re.split(r",\s*|\s+and\s+", text) if part.strip()]
    if kind == "object":
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return text
    if kind in ("integer", "number"):
        try:
            number = float(text.replace(",", "").lstrip("$"))
        except ValueError:
            return text
        return int(number) if kind == "integer" or number.is_integer() else number
    return text


def extra_arguments(text: str) -> dict[str, str]:
    """Arguments given after a sentence as "(order id: #W1; payment method id: gift_card_2)"."""
    found: dict[str, str] = {}
    for group in _EXTRA.findall(text):
        for part in group.split(";"):
            key, _, value = part.partition(":")
            if value.strip():
                found[key.strip().replace(" ", "_")] = value.strip()
    return found


def match_utterances(text: str, specs: list[ToolSpec]) -> list[UtteranceMatch]:
    """Every tool request in `text`, in order of appearance; overlapping matches keep the longest."""
    matches: list[UtteranceMatch] = []
    extras = extra_arguments(text)
    for spec in specs:
        if not spec.utterance:
            continue
        properties = spec.parameters.get("properties", {})
        for found in template_pattern(spec.utterance).finditer(text):
            arguments = {name: spoken_value(value, properties.get(name, {}))
                         for name, value in found.groupdict().items()}
            for name, value in extras.items():
                if name in properties and name not in arguments:
                    arguments[name] = spoken_value(value, properties[name])
            matches.append(UtteranceMatch(spec.name, arguments, found.start(), found.end()))
    matches.sort(key=lambda m: (m.start, -(m.end - m.start)))
    kept: list[UtteranceMatch] = []
    for match in matches:
        if kept and match.start < kept[-1].end:
            continue
        kept.append(match)
    return kept

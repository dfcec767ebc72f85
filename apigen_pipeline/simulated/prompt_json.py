"""JSON embedded in prompt text, and an index of the values it holds by key (for grounding).

Prompts carry their data as JSON: between `<context>` tags, in ```json fences, as whole tool results.
Rather than trusting any one wrapper, `extract_json_blocks` tries to decode at every `{` or `[` and
keeps the outermost values that decode; this finds all of those forms at once.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

_DECODER = json.JSONDecoder()
# Tiny bracketed fragments such as "[1]" or "{}" in prose are not data worth grounding on.
_MIN_BLOCK_CHARS = 2


def extract_json_blocks(text: str | None) -> tuple[Any, ...]:
    """Every outermost JSON object or array embedded in `text`, in order of appearance.

    Results are memoised per text (prompts recur across requests), so callers must not mutate them.
    """
    if not text or ("{" not in text and "[" not in text):
        return ()
    return _extract_cached(text)


@lru_cache(maxsize=4096)
def _extract_cached(text: str) -> tuple[Any, ...]:
    found: list[Any] = []
    position = 0
    length = len(text)
    while position < length:
        brace = text.find("{", position)
        bracket = text.find("[", position)
        starts = [index for index in (brace, bracket) if index >= 0]
        if not starts:
            break
        start = min(starts)
        try:
            value, end = _DECODER.raw_decode(text, start)
        except ValueError:
            position = start + 1
            continue
        if end - start > _MIN_BLOCK_CHARS and isinstance(value, dict | list) and value:
            found.append(value)
        position = end
    return tuple(found)


class GroundingIndex:
    """Scalars seen in prompt JSON, by the key they appeared under, first appearance first."""

    def __init__(self) -> None:
        self._values: dict[str, list[Any]] = {}
        # Keys of objects held under a key: `"payment_methods": {"credit_card_1": {...}}` names ids.
        self._member_keys: dict[str, list[str]] = {}
        self._lookups: dict[str, Sequence[Any]] = {}  # a request asks for the same names many times

    @classmethod
    def from_values(cls, values: Iterable[Any]) -> GroundingIndex:
        index = cls()
        for value in values:
            index.add(value)
        return index

    def add(self, value: Any) -> None:
        """Index every scalar under its key; lists of scalars also count under the list's key."""
        self._lookups.clear()
        stack: list[tuple[str | None, Any]] = [(None, value)]
        while stack:
            key, node = stack.pop()
            if isinstance(node, dict):
                if key is not None:
                    members = self._member_keys.setdefault(key, [])
                    members.extend(str(member) for member in node if str(member) not in members)
                for child_key, child in reversed(list(node.items())):
                    stack.append((str(child_key), child))
            elif isinstance(node, list):
                for child in reversed(node):
                    stack.append((key, child))
            elif key is not None and node is not None:
                bucket = self._values.setdefault(key, [])
                if node not in bucket:
                    bucket.append(node)

    def seen_keys(self) -> list[str]:
        return list(self._values)

    def candidates(self, name: str) -> Sequence[Any]:
        """Values for a parameter `name`: its own key, else the obvious relatives.

        `order_id` also draws on an `orders` list, `payment_method_id` on the keys of a
        `payment_methods` object, and `item_ids` on `item_id` values.
        """
        found = self._lookups.get(name)
        if found is None:
            found = self._lookups[name] = self._look_up(name)
        return found

    def _look_up(self, name: str) -> Sequence[Any]:
        exact = self._values.get(name)
        if exact:
            return exact
        if name.endswith("_ids"):
            return self._look_up(name[:-1])
        if name.endswith("_id"):
            stem = name[:-3]
            for plural in (stem + "s", stem + "es"):
                related = self._values.get(plural) or self._member_keys.get(plural)
                if related:
                    return related
        return ()

"""Strings for simple regular expressions, as JSON-schema `pattern`s use them.

The pattern is parsed once by CPython's own regex parser into a small plan (literals, character
sets, bounded repeats, groups, alternations, back-references); emitting a string then only draws
choices. Anchors and look-arounds emit nothing, so callers re-check the match and retry.
"""

from __future__ import annotations

import random
import re
import string
from functools import lru_cache
from re import _parser as sre_parser  # type: ignore[attr-defined]  # stable in CPython 3.11
from typing import Any


@lru_cache(maxsize=1024)
def compiled(pattern: str) -> re.Pattern[str]:
    """The compiled pattern, memoised: schemas repeat the same few patterns endlessly."""
    return re.compile(pattern)


_CATEGORY_CHARS = {
    sre_parser.CATEGORY_DIGIT: string.digits,
    sre_parser.CATEGORY_NOT_DIGIT: string.ascii_letters,
    sre_parser.CATEGORY_WORD: string.ascii_letters + string.digits + "_",
    sre_parser.CATEGORY_NOT_WORD: "-.,:;!? ",
    sre_parser.CATEGORY_SPACE: " ",
    sre_parser.CATEGORY_NOT_SPACE: string.ascii_letters + string.digits,
}
_PRINTABLE = string.ascii_letters + string.digits + "-_."
_REPEATS = {sre_parser.MAX_REPEAT, sre_parser.MIN_REPEAT} | (
    {sre_parser.POSSESSIVE_REPEAT} if hasattr(sre_parser, "POSSESSIVE_REPEAT") else set()
)
_UNBOUNDED_EXTRA = 3  # `+` and `*` repeat at most this many times beyond their minimum

# A pattern is parsed once into a plan of these nodes; emitting a string then only draws choices.
#   ("text", str) | ("chars", str) | ("repeat", low, high, plan) | ("group", index, plan)
#   | ("branch", (plan, ...)) | ("ref", index)
Plan = tuple[tuple[Any, ...], ...]


def string_for_pattern(pattern: str, rng: random.Random) -> str:
    """A string the regex is likely to match (callers verify). Unbounded repeats stay short."""
    groups: dict[int, str] = {}
    return _emit(_plan(pattern), rng, groups)


@lru_cache(maxsize=1024)
def _plan(pattern: str) -> Plan:
    return _plan_of(sre_parser.parse(pattern))


def _plan_of(parsed: Any) -> Plan:
    nodes: list[tuple[Any, ...]] = []
    for op, av in parsed:
        if op == sre_parser.LITERAL:
            if nodes and nodes[-1][0] == "text":
                nodes[-1] = ("text", nodes[-1][1] + chr(av))
            else:
                nodes.append(("text", chr(av)))
        elif op == sre_parser.NOT_LITERAL:
            nodes.append(("chars", "".join(c for c in _PRINTABLE if ord(c) != av)))
        elif op == sre_parser.ANY:
            nodes.append(("chars", string.ascii_letters))
        elif op == sre_parser.IN:
            nodes.append(("chars", _chars_of_set(av)))
        elif op == sre_parser.CATEGORY:
            nodes.append(("chars", _CATEGORY_CHARS.get(av, _PRINTABLE)))
        elif op in _REPEATS:
            low, high, sub = av
            high = low + _UNBOUNDED_EXTRA if high == sre_parser.MAXREPEAT else high
            nodes.append(("repeat", low, max(low, high), _plan_of(sub)))
        elif op == sre_parser.SUBPATTERN:
            nodes.append(("group", av[0], _plan_of(av[3])))
        elif op == sre_parser.BRANCH:
            nodes.append(("branch", tuple(_plan_of(option) for option in av[1])))
        elif op == sre_parser.GROUPREF:
            nodes.append(("ref", av))
        # AT (anchors), ASSERT and ASSERT_NOT emit nothing: the caller re-checks the match.
    return tuple(nodes)


def _chars_of_set(items: Any) -> str:
    negate = bool(items) and items[0][0] == sre_parser.NEGATE
    allowed: list[str] = []
    for op, av in items[1:] if negate else items:
        if op == sre_parser.LITERAL:
            allowed.append(chr(av))
        elif op == sre_parser.RANGE:
            low, high = av
            allowed.extend(chr(code) for code in range(low, min(high, low + 255) + 1))
        elif op == sre_parser.CATEGORY:
            allowed.extend(_CATEGORY_CHARS.get(av, _PRINTABLE))
    if negate:
        excluded = set(allowed)
        allowed = [c for c in _PRINTABLE if c not in excluded]
    return "".join(dict.fromkeys(allowed)) or "x"


def _emit(plan: Plan, rng: random.Random, groups: dict[int, str]) -> str:
    out: list[str] = []
    for node in plan:
        kind = node[0]
        if kind == "text":
            out.append(node[1])
        elif kind == "chars":
            out.append(rng.choice(node[1]))
        elif kind == "repeat":
            _, low, high, sub = node
            out.extend(_emit(sub, rng, groups) for _ in range(rng.randint(low, high)))
        elif kind == "group":
            text = _emit(node[2], rng, groups)
            if node[1] is not None:
                groups[node[1]] = text
            out.append(text)
        elif kind == "branch":
            out.append(_emit(rng.choice(node[1]), rng, groups))
        else:
            out.append(groups.get(node[1], ""))
    return "".join(out)

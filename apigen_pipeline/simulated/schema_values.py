"""Plausible JSON values that conform to a JSON schema, drawn from a seeded `random.Random`.

Covers what LLM-facing schemas use: objects (required plus some optional properties), arrays within
min/maxItems (tuples, uniqueness), enum and const, strings with common formats, simple regex
patterns and length bounds, numbers within (exclusive) bounds and multipleOf, booleans, null, type
lists, anyOf / oneOf / allOf, and `$ref` into `$defs` / `definitions`.

Property names steer the invented values (an `email` looks like an e-mail, a `*_id` like an id),
and a `GroundingSource` can supply values already seen in the prompt: a property whose name
matches reuses a seen value that fits its schema instead of an invented one.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import random
import string
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any, Protocol

from apigen_pipeline.simulated.regex_strings import compiled, string_for_pattern

_MAX_DEPTH = 8  # past this, optional properties and array items are left out so recursion stops
_PATTERN_ATTEMPTS = 8
_ONE_OF_ATTEMPTS = 6

_FIRST_NAMES = ("Ava", "Noah", "Mia", "Liam", "Yusuf", "Sofia", "Mei", "Omar", "Lucas", "Amelia", "Raj", "Ines")
_LAST_NAMES = ("Chen", "Garcia", "Brown", "Kovacs", "Silva", "Ahmed", "Nakamura", "Moore", "Rossi", "Patel")
_CITIES = ("Austin", "Denver", "Seattle", "Boston", "Chicago", "Phoenix", "Portland", "Atlanta")
_STATES = ("TX", "CO", "WA", "MA", "IL", "AZ", "OR", "GA")
_STREETS = ("Maple Drive", "Elm Street", "Hillcrest Avenue", "Lakeview Road", "Cedar Lane", "Main Street")
_WORDS = (
    "order", "update", "request", "customer", "item", "delivery", "refund", "account", "change",
    "payment", "address", "flight", "booking", "seat", "option", "status", "policy", "review",
)
_SENTENCES = (
    "The request is handled according to the policy.",
    "All required details were confirmed with the user.",
    "The action matches what the user asked for.",
    "The user wants to change one detail of an existing order.",
    "Everything needed for the task is present in the data.",
    "A small correction would make the task clearer.",
)
_LONG_TEXT_HINTS = (
    "description", "reason", "reasoning", "reflection", "instruction", "summary", "message", "text",
    "content", "comment", "feedback", "plan", "thought", "explanation", "rationale", "note", "correction",
)


class GroundingSource(Protocol):
    """Values seen in the prompt, looked up by property name."""

    def candidates(self, name: str) -> Sequence[Any]: ...


class SchemaValueError(ValueError):
    """The schema admits no value (e.g. `false`) or uses a `$ref` that cannot be resolved."""


def value_for_schema(
    schema: Mapping[str, Any] | bool,
    rng: random.Random,
    *,
    grounding: GroundingSource | None = None,
    name: str | None = None,
) -> Any:
    """A value valid under `schema`. `name` is the property name the value is for (a hint only)."""
    root = schema if isinstance(schema, Mapping) else {}
    return _Generator(root, rng, grounding).value(schema, name, 0)


class _Generator:
    def __init__(self, root: Mapping[str, Any], rng: random.Random, grounding: GroundingSource | None):
        self.root = root
        self.rng = rng
        self.grounding = grounding

    # -- dispatch ---------------------------------------------------------------------------
    def value(self, schema: Mapping[str, Any] | bool, name: str | None, depth: int) -> Any:
        if schema is True:
            return self._string({}, name)
        if schema is False:
            raise SchemaValueError("the schema `false` admits no value")
        schema = self.resolve(schema)
        if "allOf" in schema:
            merged = dict(schema)
            parts = merged.pop("allOf")
            for part in parts:
                merged = merge_schemas(merged, self.resolve(part), self.resolve)
            return self.value(merged, name, depth)
        if "anyOf" in schema or "oneOf" in schema:
            return self._choice_value(schema, name, depth)
        if "const" in schema:
            return schema["const"]
        if "enum" in schema:
            if not schema["enum"]:
                raise SchemaValueError("an empty enum admits no value")
            return self.rng.choice(list(schema["enum"]))
        grounded = self._grounded(schema, name)
        if grounded is not _MISSING:
            return grounded
        kind = self._pick_type(schema)
        if kind == "object":
            return self._object(schema, depth)
        if kind == "array":
            return self._array(schema, name, depth)
        if kind == "integer":
            return self._integer(schema, name)
        if kind == "number":
            return self._number(schema, name)
        if kind == "boolean":
            return self.rng.random() < 0.5
        if kind == "null":
            return None
        return self._string(schema, name)

    def resolve(self, schema: Mapping[str, Any] | bool) -> Mapping[str, Any]:
        if schema is False:
            raise SchemaValueError("the schema `false` admits no value")
        if schema is True:
            return {}
        seen = 0
        while "$ref" in schema:
            ref = schema["$ref"]
            target = resolve_ref(self.root, ref)
            rest = {key: value for key, value in schema.items() if key != "$ref"}
            schema = merge_schemas(rest, target, lambda s: s) if rest else target
            seen += 1
            if seen > 32:
                raise SchemaValueError(f"$ref chain too long at {ref!r}")
        return schema

    def _pick_type(self, schema: Mapping[str, Any]) -> str:
        declared = schema.get("type")
        if isinstance(declared, list):
            options = [kind for kind in declared if kind != "null"]
            if not options or ("null" in declared and self.rng.random() < 0.2):
                return "null"
            return self.rng.choice(options)
        if isinstance(declared, str):
            return declared
        if any(key in schema for key in ("properties", "required", "additionalProperties", "minProperties")):
            return "object"
        if any(key in schema for key in ("items", "prefixItems", "minItems", "maxItems", "contains")):
            return "array"
        if any(key in schema for key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")):
            return "integer" if isinstance(schema.get("multipleOf"), int) else "number"
        return "string"

    # -- combinators ------------------------------------------------------------------------
    def _choice_value(self, schema: Mapping[str, Any], name: str | None, depth: int) -> Any:
        keyword = "oneOf" if "oneOf" in schema else "anyOf"
        branches = list(schema[keyword])
        base = {key: value for key, value in schema.items() if key not in ("oneOf", "anyOf")}
        order = branches[:]
        self.rng.shuffle(order)
        attempts = order[:_ONE_OF_ATTEMPTS] if keyword == "oneOf" else order[:1]
        value: Any = None
        for branch in attempts:
            candidate_schema = merge_schemas(base, self.resolve(branch), self.resolve) if base else branch
            value = self.value(candidate_schema, name, depth)
            if keyword == "anyOf" or _matches_exactly_one(self.root, branches, value):
                return value
        return value

    # -- objects and arrays -----------------------------------------------------------------
    def _object(self, schema: Mapping[str, Any], depth: int) -> dict[str, Any]:
        properties: Mapping[str, Any] = schema.get("properties", {})
        required = list(schema.get("required", []))
        result: dict[str, Any] = {}
        for key, sub in properties.items():
            if key in required or (depth < _MAX_DEPTH and self.rng.random() < 0.5):
                result[key] = self.value(sub, key, depth + 1)
        extra_schema = schema.get("additionalProperties", True)
        for key in required:
            if key not in result:
                result[key] = self.value(extra_schema if extra_schema is not False else True, key, depth + 1)
        minimum = int(schema.get("minProperties", 0))
        optional = [key for key in properties if key not in result]
        while len(result) < minimum and optional:
            key = optional.pop(0)
            result[key] = self.value(properties[key], key, depth + 1)
        counter = 1
        while len(result) < minimum and extra_schema is not False:
            key = f"key_{counter}"
            counter += 1
            if key not in result:
                result[key] = self.value(extra_schema, key, depth + 1)
        return result

    def _array(self, schema: Mapping[str, Any], name: str | None, depth: int) -> list[Any]:
        prefix = schema.get("prefixItems")
        items = schema.get("items", True)
        if isinstance(items, list):  # draft 4-7 tuple form
            prefix, items = items, schema.get("additionalItems", True)
        prefix = list(prefix or [])
        low = int(schema.get("minItems", 0))
        high_bound = schema.get("maxItems")
        # Fewer extra items the deeper we are, so recursive schemas stay small.
        spread = max(0, 3 - depth // 2) if depth < _MAX_DEPTH else 0
        high = low + spread if high_bound is None else min(int(high_bound), low + spread)
        if items is False:
            high = min(high, len(prefix))
        count = self.rng.randint(low, max(low, high))
        item_name = _singular(name)
        grounded = self._grounded_items(items, name, low, high)
        if grounded is not None and not prefix:
            return grounded
        result: list[Any] = []
        unique = bool(schema.get("uniqueItems"))
        seen: set[str] = set()
        attempts = 0
        while len(result) < count and attempts < count * 10 + 10:
            attempts += 1
            position = len(result)
            sub = prefix[position] if position < len(prefix) else items
            item = self.value(sub, item_name, depth + 1)
            if unique:
                marker = json.dumps(item, sort_keys=True, default=str)
                if marker in seen:
                    continue
                seen.add(marker)
            result.append(item)
        if "contains" in schema and len(result) < (high_bound if high_bound is not None else len(result) + 1):
            result.append(self.value(schema["contains"], item_name, depth + 1))
        elif "contains" in schema and result:
            result[-1] = self.value(schema["contains"], item_name, depth + 1)
        return result

    # -- grounding --------------------------------------------------------------------------
    def _grounded(self, schema: Mapping[str, Any], name: str | None) -> Any:
        if self.grounding is None or not name:
            return _MISSING
        fitting = [value for value in self.grounding.candidates(name) if conforms_simply(value, schema)]
        if not fitting:
            return _MISSING
        return self.rng.choice(fitting)

    def _grounded_items(self, items: Any, name: str | None, low: int, high: int) -> list[Any] | None:
        """Items for an id list (`item_ids`) drawn from values seen under the singular key."""
        if self.grounding is None or not name or not isinstance(items, Mapping) or high < 1:
            return None
        item_schema = self.resolve(items)
        seen = self.grounding.candidates(_singular(name) or name)
        pool = list(dict.fromkeys(value for value in seen if conforms_simply(value, item_schema)))
        least = max(low, 1)
        if len(pool) < least:
            return None
        return self.rng.sample(pool, self.rng.randint(least, max(least, min(high, len(pool)))))

    # -- scalars ----------------------------------------------------------------------------
    def _integer(self, schema: Mapping[str, Any], name: str | None) -> int:
        low, high = _filled_bounds(schema, name, integer=True)
        low_int, high_int = math.ceil(low), math.floor(high)
        if low_int > high_int:
            raise SchemaValueError(f"no integer in [{low}, {high}]")
        multiple = schema.get("multipleOf")
        if multiple:
            first = math.ceil(low_int / multiple)
            last = math.floor(high_int / multiple)
            if first > last:
                raise SchemaValueError(f"no multiple of {multiple} in [{low}, {high}]")
            return int(self.rng.randint(first, last) * multiple)
        return self.rng.randint(low_int, high_int)

    def _number(self, schema: Mapping[str, Any], name: str | None) -> float | int:
        multiple = schema.get("multipleOf")
        if isinstance(multiple, int):
            return self._integer(schema, name)
        if multiple:
            return self._multiple_of_float(schema, name)
        low, high = _filled_bounds(schema, name, integer=False)
        for _ in range(8):
            value = round(self.rng.uniform(low, high), 2)
            if _within(value, schema):
                return value
        return (low + high) / 2

    def _multiple_of_float(self, schema: Mapping[str, Any], name: str | None) -> float:
        step = float(schema["multipleOf"])
        low, high = _filled_bounds(schema, name, integer=False)
        first, last = math.ceil(low / step), math.floor(high / step)
        for _ in range(8):
            value = round(self.rng.randint(first, last) * step, 10)
            if _within(value, schema):
                return value
        raise SchemaValueError(f"no multiple of {step} in [{low}, {high}]")

    def _string(self, schema: Mapping[str, Any], name: str | None) -> str:
        pattern = schema.get("pattern")
        fmt = schema.get("format")
        min_length = int(schema.get("minLength", 0))
        max_length = schema.get("maxLength")
        if pattern:
            regex = compiled(pattern)
            for _ in range(_PATTERN_ATTEMPTS):
                candidate = string_for_pattern(pattern, self.rng)
                if regex.search(candidate) and _length_ok(candidate, min_length, max_length):
                    return candidate
        text = _string_for_format(fmt, self.rng) if fmt else None
        if text is None:
            text = self._hinted_string(name)
        return _fit_length(text, min_length, max_length, self.rng)

    def _hinted_string(self, name: str | None) -> str:
        rng = self.rng
        key = (name or "").lower()
        first, last = rng.choice(_FIRST_NAMES), rng.choice(_LAST_NAMES)
        if "email" in key:
            return f"{first.lower()}.{last.lower()}{rng.randint(1, 99)}@example.com"
        if key in ("first_name", "firstname", "given_name"):
            return first
        if key in ("last_name", "lastname", "family_name", "surname"):
            return last
        if key == "user_id":
            return f"{first.lower()}_{last.lower()}_{rng.randint(1000, 9999)}"
        if key.endswith("_id") or key == "id":
            stem = key[:-3] if key.endswith("_id") else "id"
            return f"{stem}_{rng.randint(10_000, 99_999)}" if stem else str(rng.randint(10_000, 99_999))
        if key.endswith("name"):
            return f"{first} {last}"
        if "zip" in key or "postal" in key:
            return f"{rng.randint(10_000, 99_999)}"
        if "phone" in key:
            return f"+1-555-{rng.randint(100, 999)}-{rng.randint(1000, 9999)}"
        if "city" in key:
            return rng.choice(_CITIES)
        if key == "state":
            return rng.choice(_STATES)
        if "country" in key:
            return "USA"
        if "address" in key or "street" in key:
            return f"{rng.randint(10, 999)} {rng.choice(_STREETS)}"
        if "date" in key:
            return _random_date(rng).isoformat()
        if "time" in key:
            return f"{rng.randint(0, 23):02d}:{rng.choice((0, 15, 30, 45)):02d}"
        if any(hint in key for hint in _LONG_TEXT_HINTS):
            return rng.choice(_SENTENCES)
        return " ".join(rng.choice(_WORDS) for _ in range(rng.randint(1, 3)))


class _Missing:
    pass


_MISSING = _Missing()


# -- schema helpers ------------------------------------------------------------------------------
def resolve_ref(root: Mapping[str, Any], ref: str) -> Mapping[str, Any]:
    """Resolve a local JSON pointer `$ref` (`#`, `#/$defs/X`, `#/definitions/X`, nested pointers)."""
    if not ref.startswith("#"):
        raise SchemaValueError(f"only local $ref is supported, got {ref!r}")
    node: Any = root
    for part in [p for p in ref[1:].split("/") if p]:
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise SchemaValueError(f"unresolvable $ref {ref!r}")
    if node is False:
        raise SchemaValueError(f"$ref {ref!r} points at `false`, which admits no value")
    return {} if node is True else node


def merge_schemas(base: Mapping[str, Any], extra: Mapping[str, Any], resolve: Any) -> dict[str, Any]:
    """Conjunction of two schemas, good enough for the allOf / `$ref`-with-siblings shapes in use."""
    merged = dict(base)
    for key, value in extra.items():
        if key not in merged:
            merged[key] = value
        elif key == "properties":
            properties = dict(merged[key])
            for prop, sub in value.items():
                properties[prop] = {"allOf": [properties[prop], sub]} if prop in properties else sub
            merged[key] = properties
        elif key == "required":
            merged[key] = list(dict.fromkeys([*merged[key], *value]))
        elif key == "type":
            left = merged[key] if isinstance(merged[key], list) else [merged[key]]
            right = value if isinstance(value, list) else [value]
            both = [kind for kind in left if kind in right]
            if not both and "number" in left + right and "integer" in left + right:
                both = ["integer"]
            merged[key] = both[0] if len(both) == 1 else both
        elif key == "enum":
            merged[key] = [item for item in merged[key] if item in value]
        elif key in ("minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties"):
            merged[key] = max(merged[key], value)
        elif key in ("maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties"):
            merged[key] = min(merged[key], value)
        elif key == "allOf":
            merged[key] = [*merged[key], *value]
        else:
            merged[key] = value
    return merged


def _bounds(schema: Mapping[str, Any], *, integer: bool) -> tuple[float | None, float | None]:
    low = schema.get("minimum")
    high = schema.get("maximum")
    exclusive_low = schema.get("exclusiveMinimum")
    exclusive_high = schema.get("exclusiveMaximum")
    step = 1 if integer else 0.01
    if isinstance(exclusive_low, bool):  # draft 4: a flag on minimum
        if exclusive_low and low is not None:
            low = low + step
    elif exclusive_low is not None:
        low = exclusive_low + step if low is None else max(low, exclusive_low + step)
    if isinstance(exclusive_high, bool):
        if exclusive_high and high is not None:
            high = high - step
    elif exclusive_high is not None:
        high = exclusive_high - step if high is None else min(high, exclusive_high - step)
    return low, high


def _filled_bounds(schema: Mapping[str, Any], name: str | None, *, integer: bool) -> tuple[float, float]:
    """The schema's bounds, with a name-based plausible range filling whichever side is open."""
    low, high = _bounds(schema, integer=integer)
    default_low, default_high = _numeric_hint(name, integer=integer)
    if low is None and high is None:
        return default_low, default_high
    if low is None:
        return min(default_low, high - 100), high  # type: ignore[operator]
    if high is None:
        return low, max(default_high, low + 100)
    return low, high


def _within(value: float, schema: Mapping[str, Any]) -> bool:
    low, high = schema.get("minimum"), schema.get("maximum")
    exclusive_low, exclusive_high = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    if low is not None and (value < low or (exclusive_low is True and value == low)):
        return False
    if high is not None and (value > high or (exclusive_high is True and value == high)):
        return False
    if not isinstance(exclusive_low, bool) and exclusive_low is not None and value <= exclusive_low:
        return False
    return isinstance(exclusive_high, bool) or exclusive_high is None or value < exclusive_high


def _numeric_hint(name: str | None, *, integer: bool) -> tuple[float, float]:
    key = (name or "").lower()
    if any(hint in key for hint in ("count", "quantity", "number_of", "num_", "passengers", "bags")):
        return 1, 5
    if any(hint in key for hint in ("price", "amount", "cost", "balance", "total")):
        return (5, 500) if integer else (5.0, 500.0)
    if any(hint in key for hint in ("score", "rating")):
        return 0, 10
    return (0, 100) if integer else (0.0, 100.0)


def _length_ok(text: str, min_length: int, max_length: Any) -> bool:
    return len(text) >= min_length and (max_length is None or len(text) <= int(max_length))


def _fit_length(text: str, min_length: int, max_length: Any, rng: random.Random) -> str:
    while len(text) < min_length:
        text += rng.choice(string.ascii_lowercase)
    if max_length is not None and len(text) > int(max_length):
        text = text[: int(max_length)]
    return text


def _random_date(rng: random.Random) -> dt.date:
    return dt.date(2024, 1, 1) + dt.timedelta(days=rng.randint(0, 730))


def _string_for_format(fmt: str, rng: random.Random) -> str | None:
    if fmt == "date":
        return _random_date(rng).isoformat()
    if fmt == "date-time":
        moment = dt.datetime.combine(_random_date(rng), dt.time(rng.randint(0, 23), rng.randint(0, 59)))
        return moment.isoformat() + "Z"
    if fmt == "time":
        return f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00Z"
    if fmt in ("email", "idn-email"):
        return f"{rng.choice(_FIRST_NAMES).lower()}{rng.randint(1, 999)}@example.com"
    if fmt in ("uri", "url", "iri", "uri-reference"):
        return f"https://example.com/{rng.choice(_WORDS)}/{rng.randint(1, 9999)}"
    if fmt in ("hostname", "idn-hostname"):
        return f"{rng.choice(_WORDS)}.example.com"
    if fmt == "uuid":
        parts = (rng.getrandbits(32), rng.getrandbits(16), rng.getrandbits(12),
                 0x8000 | rng.getrandbits(14), rng.getrandbits(48))
        return "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}".format(*parts)
    if fmt == "ipv4":
        return ".".join(str(rng.randint(1, 254)) for _ in range(4))
    if fmt == "ipv6":
        return ":".join(f"{rng.getrandbits(16):x}" for _ in range(8))
    return None


def _singular(name: str | None) -> str | None:
    if not name:
        return name
    if name.endswith("_ids"):
        return name[:-1]
    if name.endswith("ies"):
        return name[:-3] + "y"
    if name.endswith("s") and not name.endswith("ss"):
        return name[:-1]
    return name


# -- a light conformance check for grounded values ------------------------------------------------
_TYPE_CHECKS = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
}


def conforms_simply(value: Any, schema: Mapping[str, Any]) -> bool:
    """Does a scalar seen in the prompt fit this (already resolved) schema? Scalars only."""
    if isinstance(value, dict | list):
        return False
    declared = schema.get("type")
    kinds = declared if isinstance(declared, list) else [declared] if declared else []
    if kinds and not any(_TYPE_CHECKS.get(kind, lambda v: False)(value) for kind in kinds):
        return False
    if "enum" in schema and value not in schema["enum"]:
        return False
    if "const" in schema and value != schema["const"]:
        return False
    if isinstance(value, str):
        if not kinds and any(key in schema for key in ("minimum", "maximum", "properties", "items")):
            return False
        if not _length_ok(value, int(schema.get("minLength", 0)), schema.get("maxLength")):
            return False
        pattern = schema.get("pattern")
        if pattern and not compiled(pattern).search(value):
            return False
        return not (schema.get("format") in ("date", "date-time") and not value[:4].isdigit())
    if isinstance(value, int | float) and not isinstance(value, bool):
        if not kinds and "pattern" in schema:
            return False
        if not _within(value, schema):
            return False
        multiple = schema.get("multipleOf")
        return not multiple or abs(value / multiple - round(value / multiple)) < 1e-9
    return True


def _matches_exactly_one(root: Mapping[str, Any], branches: Sequence[Any], value: Any) -> bool:
    matches = 0
    for branch in branches:
        if _branch_validator(json.dumps(root, sort_keys=True, default=str), json.dumps(branch, sort_keys=True)).is_valid(value):
            matches += 1
    return matches == 1


@lru_cache(maxsize=1024)
def _branch_validator(root_text: str, branch_text: str) -> Any:
    # jsonschema is only needed for the rare oneOf check, and is slow to import: load it lazily.
    from jsonschema import Draft202012Validator

    root = json.loads(root_text)
    branch = json.loads(branch_text)
    if isinstance(branch, dict):
        branch = {**branch, "$defs": root.get("$defs", {}), "definitions": root.get("definitions", {})}
    return Draft202012Validator(branch)

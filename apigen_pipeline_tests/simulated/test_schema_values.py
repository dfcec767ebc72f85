from __future__ import annotations

import random
import re
from typing import Any

import jsonschema
import pytest

from apigen_pipeline.simulated.prompt_json import GroundingIndex
from apigen_pipeline.simulated.regex_strings import string_for_pattern
from apigen_pipeline.simulated.schema_values import SchemaValueError, value_for_schema
from apigen_pipeline_tests.simulated.schema_corpus import ALL_SCHEMAS, TAU_LIKE_PARAMETERS

SEEDS = range(60)


def _validator(schema: dict[str, Any]) -> jsonschema.protocols.Validator:
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


@pytest.mark.parametrize("name", sorted(ALL_SCHEMAS))
def test_generated_values_validate_over_many_seeds(name: str) -> None:
    schema = ALL_SCHEMAS[name]
    validator = _validator(schema)
    for seed in SEEDS:
        value = value_for_schema(schema, random.Random(seed))
        errors = [error.message for error in validator.iter_errors(value)]
        assert not errors, f"{name} seed {seed}: {value!r} -> {errors}"


@pytest.mark.parametrize("name", sorted(ALL_SCHEMAS))
def test_values_vary_with_the_seed(name: str) -> None:
    values = {repr(value_for_schema(ALL_SCHEMAS[name], random.Random(seed))) for seed in SEEDS}
    assert len(values) > 1


def test_same_seed_gives_the_same_value() -> None:
    schema = TAU_LIKE_PARAMETERS["book_reservation"]
    assert value_for_schema(schema, random.Random(7)) == value_for_schema(schema, random.Random(7))


def test_optional_properties_are_sometimes_included_and_sometimes_not() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "integer"}}, "required": ["a"]}
    has_b = [("b" in value_for_schema(schema, random.Random(seed))) for seed in range(200)]
    assert 40 < sum(has_b) < 160


def test_arrays_respect_their_bounds_and_enums_cover_their_options() -> None:
    schema = {"type": "array", "items": {"enum": ["x", "y", "z"]}, "minItems": 2, "maxItems": 3}
    lengths, seen = set(), set()
    for seed in range(100):
        value = value_for_schema(schema, random.Random(seed))
        lengths.add(len(value))
        seen.update(value)
    assert lengths == {2, 3}
    assert seen == {"x", "y", "z"}


def test_property_names_steer_invented_strings() -> None:
    schema = {"type": "object", "properties": {"email": {"type": "string"}, "order_id": {"type": "string"}},
              "required": ["email", "order_id"]}
    value = value_for_schema(schema, random.Random(3))
    assert re.fullmatch(r"[a-z]+\.[a-z]+\d+@example\.com", value["email"])
    assert value["order_id"].startswith("order_")


@pytest.mark.parametrize("pattern", [r"^#W\d{7}$", r"^[A-Z]{2}\d+[a-z]?$", r"^(x|yy|zzz){2}$", r"^\w+@\w+\.org$",
                                     r"^[^aeiou\s]{4}$", r"^a.b$", r"^(?:ab|cd)+-\d{3}$"])
def test_pattern_strings_match_their_pattern(pattern: str) -> None:
    for seed in range(40):
        text = string_for_pattern(pattern, random.Random(seed))
        assert re.search(pattern, text), (pattern, text)


def test_grounded_values_are_reused_when_they_fit_the_schema() -> None:
    grounding = GroundingIndex.from_values([{"order_id": "#W1234567", "user": {"zip": "12345"}, "reason": "bogus"}])
    schema = TAU_LIKE_PARAMETERS["cancel_pending_order"]
    for seed in range(20):
        value = value_for_schema(schema, random.Random(seed), grounding=grounding)
        assert value["order_id"] == "#W1234567"
        # "bogus" is not in the enum, so it must not be reused.
        assert value["reason"] in ("no longer needed", "ordered by mistake")


def test_grounding_skips_values_that_break_the_pattern() -> None:
    grounding = GroundingIndex.from_values([{"order_id": "W-not-an-order"}])
    value = value_for_schema(TAU_LIKE_PARAMETERS["cancel_pending_order"], random.Random(0), grounding=grounding)
    assert re.fullmatch(r"#W\d{7}", value["order_id"])


def test_grounding_fills_id_arrays_from_singular_keys() -> None:
    seen_items = ["1000000001", "1000000002", "1000000003"]
    grounding = GroundingIndex.from_values([{"items": [{"item_id": item} for item in seen_items]}])
    schema = TAU_LIKE_PARAMETERS["modify_pending_order_items"]
    for seed in range(20):
        value = value_for_schema(schema, random.Random(seed), grounding=grounding)
        assert value["item_ids"] and set(value["item_ids"]) <= set(seen_items)


def test_unsatisfiable_schemas_raise() -> None:
    with pytest.raises(SchemaValueError):
        value_for_schema(False, random.Random(0))
    with pytest.raises(SchemaValueError):
        value_for_schema({"type": "integer", "minimum": 5, "maximum": 4}, random.Random(0))
    with pytest.raises(SchemaValueError):
        value_for_schema({"$ref": "#/$defs/missing"}, random.Random(0))

import json
import random
from collections import Counter

import pytest

from apigen_pipeline.environments.registry import load_environment
from apigen_pipeline.llm.tokens import estimate_tokens
from apigen_pipeline.phase1.compact_records import expand, is_table, pack
from apigen_pipeline.phase1.contexts import ContextSampler, SamplingConfig
from apigen_pipeline.phase1.prompts import dumps


def _in_order(value: object) -> str:
    return json.dumps(value)  # keys in the order the dicts hold them


@pytest.mark.parametrize("domain", ["retail", "airline"])
def test_every_sampled_record_comes_back_from_its_tables(domain):
    environment = load_environment(domain)
    sampler = ContextSampler(environment, SamplingConfig(), domain)
    plain_tokens, packed_tokens, tables = 0, 0, 0
    for index in range(150):
        records = sampler.sample("2026-11-02", index).domain_data.model_dump(mode="json")["records"]
        packed = pack(records)
        assert expand(packed) == records
        # The records as a simulated model reads them from a prompt, through JSON text: the very dicts, in the
        # very order, that the plain JSON of prompt v2 gave (code that takes "the first match" picks the same).
        assert _in_order(expand(json.loads(dumps(packed)))) == _in_order(json.loads(dumps(records)))
        plain_tokens += estimate_tokens(dumps(records))
        packed_tokens += estimate_tokens(dumps(packed))
        tables += dumps(packed).count('"columns": ')
    assert tables > 150 and packed_tokens < 0.85 * plain_tokens


def test_a_mapping_of_records_holding_their_own_key_is_a_table_keyed_by_that_column():
    variants = {"11": {"item_id": "11", "available": True, "options": {"color": "red", "size": "S"}, "price": 9.5},
                "12": {"item_id": "12", "available": False, "options": {"color": "blue", "size": "M"}, "price": 8}}
    packed = pack({"variants": variants})
    assert packed == {"variants": {
        "key": "item_id", "columns": ["available", "item_id", "options.color", "options.size", "price"],
        "rows": [[True, "11", "red", "S", 9.5], [False, "12", "blue", "M", 8]]}}
    assert expand(packed) == {"variants": variants}


def test_map_keys_that_are_no_field_get_the_hash_column_and_lists_get_no_key():
    dates = {"2024-05-01": {"available_seats": 3, "status": "available", "price": 9.5},
             "2024-05-02": {"available_seats": 0, "status": "full", "price": 9.5},
             "2024-05-03": {"available_seats": 1, "status": "available", "price": 10}}
    assert pack(dates) == {"key": "#", "columns": ["#", "available_seats", "price", "status"],
                           "rows": [["2024-05-01", 3, 9.5, "available"], ["2024-05-02", 0, 9.5, "full"],
                                    ["2024-05-03", 1, 10, "available"]]}
    passengers = [{"first_name": "Ann", "last_name": "Lee", "dob": "1990-01-01"},
                  {"first_name": "Bo", "last_name": "Kim", "dob": "1985-02-02"}]
    assert pack(passengers) == {"columns": ["dob", "first_name", "last_name"],
                                "rows": [["1990-01-01", "Ann", "Lee"], ["1985-02-02", "Bo", "Kim"]]}
    assert expand(pack(dates)) == dates and expand(pack(passengers)) == passengers


def test_what_a_table_would_not_shorten_or_could_not_name_stays_plain():
    single = {"a": {"x": 1, "y": 2}}
    mixed = [{"x": 1, "y": 2}, {"x": 1}]  # different fields
    small = {"a": {"x": 1}, "b": {"x": 2}}  # a header longer than what it saves
    dotted = [{"a.b": 1, "c": 2, "d": 3}, {"a.b": 4, "c": 5, "d": 6}]
    hashed = [{"#": 1, "c": 2, "d": 3}, {"#": 4, "c": 5, "d": 6}]
    scalars = [1, 2, 3, "x", None, [], {}]
    for value in (single, mixed, small, dotted, hashed, scalars):
        assert pack(value) == value and expand(value) == value
    # A nested record with other fields in each row is one packed cell, not dotted columns.
    orders = [{"id": "o1", "options": {"color": "red"}, "price": 1.0},
              {"id": "o2", "options": {"size": "L"}, "price": 2.0},
              {"id": "o3", "options": {"size": "M"}, "price": 3.0}]
    assert pack(orders)["columns"] == ["id", "options", "price"] and expand(pack(orders)) == orders


def test_a_record_shaped_like_a_table_or_an_escape_is_escaped_and_reads_back_as_itself():
    for value in ({"sheet": {"columns": ["a"], "rows": [[1]]}},
                  [{"key": "a", "columns": [], "rows": []}],
                  {"#plain": {"columns": ["a"], "rows": []}},
                  {"#plain": 5},
                  {"#plain": {"#plain": {}}}):
        packed = pack(value)
        assert expand(packed) == value and expand(json.loads(dumps(packed))) == value
    assert pack({"sheet": {"columns": ["a"], "rows": [[1]]}}) == {"sheet": {"#plain": {"columns": ["a"], "rows": [[1]]}}}


_SCALARS = [0, 1, -2.5, 3.0, True, False, None, "", "x", "a.b", "#", "columns", "key", "rows", "name"]
_NAMES = ["id", "name", "a", "b.c", "#", "#plain", "key", "rows", "columns", "opts", "price", "dates"]


def _schema(rng: random.Random, depth: int) -> dict[str, object]:
    """Record fields and what each holds: a scalar, any JSON, a nested record, or a list or mapping of records."""
    kinds = ["scalar", "any"] + (["nested", "list", "map"] if depth > 0 else [])
    return {name: (kind, _schema(rng, depth - 1) if kind in ("nested", "list", "map") else None)
            for name in rng.sample(_NAMES, rng.randint(1, 4)) for kind in [rng.choice(kinds)]}


def _record(rng: random.Random, schema: dict[str, object], depth: int) -> dict[str, object]:
    record = {}
    for name, (kind, sub) in schema.items():  # type: ignore[misc]
        if rng.random() < 0.1:
            continue  # a record without one of the fields
        if kind == "scalar":
            record[name] = rng.choice(_SCALARS)
        elif kind == "any":
            record[name] = _random_json(rng, depth - 1)
        elif kind == "nested":
            record[name] = _record(rng, sub, depth - 1)
        else:
            record[name] = _records(rng, sub, depth - 1, kind == "map")
    return record


def _records(rng: random.Random, schema: dict[str, object], depth: int, as_map: bool) -> object:
    records = [_record(rng, schema, depth) for _ in range(rng.randint(0, 4))]
    if not as_map:
        return records
    keys = [str(i) if rng.random() < 0.5 else f"k{i}" for i in range(len(records))]
    if rng.random() < 0.5:
        for key, record in zip(keys, records, strict=True):
            record["id"] = key  # records holding their own key
    return dict(zip(keys, records, strict=True))


def _random_json(rng: random.Random, depth: int) -> object:
    """JSON values rich in the shapes `pack` tables: groups of records with shared, nested, missing or odd fields."""
    roll = rng.random()
    if depth <= 0 or roll < 0.3:
        return rng.choice(_SCALARS)
    if roll < 0.8:
        return _records(rng, _schema(rng, 2), depth, rng.random() < 0.5)
    return {name: _random_json(rng, depth - 1) for name in rng.sample(_NAMES, rng.randint(1, 4))}


def _has_table_shape(value: object) -> bool:
    if isinstance(value, dict):
        return set(value) in ({"columns", "rows"}, {"columns", "rows", "key"}, {"#plain"}) or any(
            _has_table_shape(v) for v in value.values())
    return isinstance(value, list) and any(_has_table_shape(v) for v in value)


def _shapes(packed: object, counts: Counter) -> Counter:
    """How often each table feature occurs in a packed value."""
    if isinstance(packed, dict) and set(packed) == {"#plain"}:  # an escaped mapping: its values only
        for item in packed["#plain"].values():
            _shapes(item, counts)
    elif isinstance(packed, dict):
        if is_table(packed):
            columns = packed["columns"]
            counts["table"] += 1
            counts["hash key"] += packed.get("key") == "#"
            counts["own key"] += packed.get("key") not in (None, "#")
            counts["dotted column"] += sum(isinstance(c, str) and "." in c for c in columns)
            counts["header column"] += sum(isinstance(c, dict) for c in columns)
            counts["absent cell"] += sum(cell is None for row in packed["rows"] for cell in row)
        for item in packed.values():
            _shapes(item, counts)
    elif isinstance(packed, list):
        for item in packed:
            _shapes(item, counts)
    return counts


def test_random_json_round_trips():
    rng = random.Random(13)
    counts: Counter = Counter()
    for _ in range(1000):
        value = _random_json(rng, 5)
        packed = pack(value)
        counts["escaped"] += _has_table_shape(value)
        assert expand(packed) == value
        assert _in_order(expand(json.loads(dumps(packed)))) == _in_order(json.loads(dumps(value)))
        _shapes(packed, counts)
    # Every feature was exercised (counted in packed values; header columns' inner tables are not counted).
    assert min(counts.values()) >= 50, counts

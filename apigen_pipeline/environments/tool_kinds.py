"""Read/write tags by probing: a write is a tool whose call changed the state on a probe.

A probe calls a tool on a fresh database with arguments drawn from sampled records (the plugin's own
sampler): id arguments and enums from values the sample holds (`order_id` from the orders' ids and
every `order_id` field), other arguments alternately from the sample and fresh (a change to the same
value changes nothing). Only successful calls count; each runs on its own fresh database.

- `infer_tool_kinds`: the kind of tools that declare none; a tool none of whose probes succeeded cannot
  be told apart and is a contract problem (declare its kind);
- `declared_read_problems`: the contract check of declared reads: one that changed the state fails.
A write whose every probe happens to change nothing would pass for a read; declare such tools' kinds.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from apigen_pipeline.environments.base import DomainSample, Environment

PROBE_SAMPLES = 3
PROBES_PER_SAMPLE = 4
PROBE_SEED = 0
_JSON_TYPES: dict[str, tuple[type, ...]] = {"string": (str,), "integer": (int,), "number": (int, float),
                                            "boolean": (bool,)}
_FRESH: dict[str, Any] = {"integer": 1, "number": 1.0, "boolean": True, "null": None}


@dataclass
class ProbeOutcome:
    calls: int = 0
    succeeded: int = 0
    change: str | None = None  # the first state change a successful probe made, rendered


class ProbeError(Exception):
    """The probes could not run (the plugin's sampler failed)."""


def infer_tool_kinds(environment: Environment, names: Sequence[str]
                     ) -> tuple[dict[str, Literal["read", "write"]], list[str]]:
    """Kinds for the tools `names` (which declare none), and the contract problems found on the way."""
    try:
        outcomes = probe_tools(environment, names)
    except ProbeError as error:
        return {}, [f"cannot infer the kinds of {', '.join(names)}: {error}"]
    kinds: dict[str, Literal["read", "write"]] = {}
    problems: list[str] = []
    for name, outcome in outcomes.items():
        if outcome.change is not None:
            kinds[name] = "write"
        elif outcome.succeeded:
            kinds[name] = "read"
        else:
            problems.append(f"tool '{name}' declares no kind and none of its {outcome.calls} probe calls "
                            "succeeded, so whether it writes cannot be told: declare kind='read' or 'write'")
    if not problems and not environment.write_tools and "write" not in kinds.values():
        problems.append(f"it has no write tool (inferred kinds: {json.dumps(kinds, sort_keys=True)})")
    return kinds, problems


def declared_read_problems(environment: Environment, names: Sequence[str]) -> list[str]:
    """One message per tool declared `read` that changed the state on a probe."""
    try:
        outcomes = probe_tools(environment, names)
    except ProbeError as error:
        return [f"cannot probe the declared reads: {error}"]
    return [f"tool '{name}' is declared read but changed the state on a probe: {outcome.change}"
            for name, outcome in outcomes.items() if outcome.change is not None]


def probe_tools(environment: Environment, names: Sequence[str]) -> dict[str, ProbeOutcome]:
    rng = random.Random(PROBE_SEED)
    outcomes = {name: ProbeOutcome() for name in names}
    if not names:
        return outcomes
    seed_database = environment.fresh_database()
    seed_hash = seed_database.state_hash()
    per_sample = [candidate_values(sample) for sample in _samples(environment, rng)]
    for candidates in per_sample:
        others = {key: [v for c in per_sample if c is not candidates for v in c.get(key, []) if v not in values]
                  for key, values in candidates.items()}
        for name in names:
            spec = environment.tool_spec(name)
            assert spec is not None
            for probe in range(PROBES_PER_SAMPLE):
                # Odd probes change what they can: values from the other samples, or made up.
                arguments = probe_arguments(spec.parameters, candidates, rng, others if probe % 2 else None)
                database = environment.fresh_database()
                call = environment.execute(database, name, arguments)
                outcome = outcomes[name]
                outcome.calls += 1
                if not call.ok:
                    continue
                outcome.succeeded += 1
                if outcome.change is None and database.state_hash() != seed_hash:
                    first = seed_database.diff(database).changes[0].render()
                    outcome.change = f"{name}({json.dumps(arguments, sort_keys=True)}) changed {first}"
    return outcomes


def _samples(environment: Environment, rng: random.Random) -> list[DomainSample]:
    samples = []
    for _ in range(PROBE_SAMPLES):
        try:
            samples.append(environment.sample_domain_data(rng, environment.write_tools))
        except Exception as error:  # a plugin's sampler is foreign code: its failure is a finding
            raise ProbeError(f"sample_domain_data raised {type(error).__name__}: {error}") from error
    return samples


def candidate_values(sample: DomainSample) -> dict[str, list[Any]]:
    """Field name -> the scalar values the sample holds under that name (record ids under `<table>_id`)."""
    found: dict[str, list[Any]] = {}

    def visit(value: Any, key: str | None) -> None:
        if isinstance(value, Mapping):
            for child_key, child in value.items():
                visit(child, str(child_key))
        elif isinstance(value, list):
            for child in value:
                visit(child, key)
        elif key is not None and value is not None and value not in found.setdefault(key, []):
            found[key].append(value)

    for table, records in sample.records.items():
        for record_id, record in records.items():
            visit(record_id, f"{table.removesuffix('s')}_id")
            visit(record, None)
    visit(sample.identity, None)
    visit(sample.user_id, "user_id")
    return found


def probe_arguments(schema: Mapping[str, Any], candidates: Mapping[str, list[Any]], rng: random.Random,
                    changes: Mapping[str, list[Any]] | None) -> dict[str, Any]:
    properties = schema.get("properties") or {}
    return {name: probe_value(sub, name, candidates, rng, changes) for name, sub in properties.items()}


def probe_value(schema: Any, name: str, candidates: Mapping[str, list[Any]], rng: random.Random,
                changes: Mapping[str, list[Any]] | None) -> Any:
    """A value for one argument: ids and enums from the sample; other values from the sample, or (with
    `changes`) a value of the same name the sample does not hold, made up when there is none."""
    if not isinstance(schema, Mapping):
        return f"probe {name}"
    if schema.get("enum"):
        return rng.choice(list(schema["enum"]))
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "array":
        return [probe_value(schema.get("items", {}), name, candidates, rng, changes)]
    if kind == "object":
        return probe_arguments(schema, candidates, rng, changes)
    singular = name.removesuffix("s")
    source = candidates if changes is None or singular.endswith("_id") else changes
    typed = [v for v in (*source.get(name, []), *source.get(singular, []))
             if isinstance(v, _JSON_TYPES.get(str(kind), (str, int, float)))
             and not (kind in ("integer", "number") and isinstance(v, bool))]
    if typed:
        return rng.choice(typed)
    own = candidates.get(name) or candidates.get(singular)
    if changes is not None and own and isinstance(own[0], str) and kind in ("string", None):
        return f"probe-{own[0]}"  # same shape, another value
    return _FRESH.get(str(kind), f"probe {name}")

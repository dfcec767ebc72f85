"""Deduplication of accepted blueprints within a partition. Duplicates are marked, never dropped.

Rules, applied in list order (simple before recombined, each in acceptance order), first one kept:
- exact: the same write calls with the same arguments, as a multiset (order-insensitive). Read calls
  do not change state, so two tasks that differ only in lookups are the same task. A blueprint with
  no write call (a pure information request) is keyed by all its calls plus its outputs instead, so
  unrelated information requests are not all "duplicates" of each other.
- near: the instructions' token sets (lower-cased words) have Jaccard similarity >= the threshold.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from apigen_pipeline.environments.base import Environment
from apigen_pipeline.environments.database import canonical_json
from apigen_pipeline.phase1.models import AcceptedBlueprint, Blueprint
from apigen_pipeline.phase1.settings import DedupConfig

_TOKEN = re.compile(r"\w+")


def exact_key(blueprint: Blueprint, write_tools: set[str]) -> str:
    writes = sorted(canonical_json([a.name, a.arguments]) for a in blueprint.actions if a.name in write_tools)
    if writes:
        return canonical_json(["writes", writes])
    calls = sorted(canonical_json([a.name, a.arguments]) for a in blueprint.actions)
    return canonical_json(["reads", calls, sorted(blueprint.outputs)])


def instruction_tokens(text: str) -> frozenset[str]:
    return frozenset(_TOKEN.findall(text.lower()))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def deduplicate(blueprints: Sequence[AcceptedBlueprint], environment: Environment,
                config: DedupConfig) -> list[AcceptedBlueprint]:
    """The same blueprints in the same order, later duplicates marked with `duplicate_of`/`duplicate_kind`."""
    if not config.enabled:
        return [b.model_copy(update={"duplicate_of": None, "duplicate_kind": None}) for b in blueprints]
    write_tools = set(environment.write_tools)
    threshold = config.near_duplicate_jaccard
    first_by_key: dict[str, str] = {}
    kept_tokens: list[tuple[str, frozenset[str]]] = []
    out: list[AcceptedBlueprint] = []
    for item in blueprints:
        key = exact_key(item.blueprint, write_tools)
        if key in first_by_key:
            out.append(item.model_copy(update={"duplicate_of": first_by_key[key], "duplicate_kind": "exact"}))
            continue
        tokens = instruction_tokens(item.blueprint.instruction)
        near = next((kept_id for kept_id, kept in kept_tokens
                     # Jaccard <= min/max of the sizes: skip pairs that cannot reach the threshold.
                     if min(len(kept), len(tokens)) >= threshold * max(len(kept), len(tokens))
                     and jaccard(kept, tokens) >= threshold), None)
        if near is not None:
            out.append(item.model_copy(update={"duplicate_of": near, "duplicate_kind": "near"}))
            continue
        first_by_key[key] = item.blueprint_id
        kept_tokens.append((item.blueprint_id, tokens))
        out.append(item.model_copy(update={"duplicate_of": None, "duplicate_kind": None}))
    return out

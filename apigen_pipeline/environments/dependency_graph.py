"""The API dependency graph, derived from tool schemas: edge A -> B when a field A's observation
yields (its declared `returns`) can fill an argument of B. Policy-forbidden pairs are removed."""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from apigen_pipeline.environments.base import EnvironmentPlugin, ToolSpec


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    via: tuple[str, ...]


def argument_fields(schema: dict[str, Any]) -> set[str]:
    """Every argument name in a parameter schema, nested ones included, plurals folded to singular."""
    names: set[str] = set()

    def visit(node: Any) -> None:
        if not isinstance(node, dict):
            return
        for key, child in (node.get("properties") or {}).items():
            names.add(singular_field(key))
            visit(child)
        visit(node.get("items"))
        for branch in ("anyOf", "oneOf", "allOf"):
            for child in node.get(branch) or []:
                visit(child)

    visit(schema)
    return names


def singular_field(name: str) -> str:
    return name[:-1] if name.endswith("_ids") else name


class DependencyGraph:
    def __init__(self, specs: Sequence[ToolSpec], forbidden_pairs: Iterable[tuple[str, str]] = ()):
        self.specs = {spec.name: spec for spec in specs}
        forbidden = {frozenset(pair) for pair in forbidden_pairs}
        self.forbidden = forbidden
        edges: list[Edge] = []
        arguments = {spec.name: argument_fields(spec.parameters) for spec in specs}
        for source in specs:
            produced = {singular_field(f) for f in source.returns}
            for target in specs:
                if target.name == source.name or frozenset((source.name, target.name)) in forbidden:
                    continue
                via = tuple(sorted(produced & arguments[target.name]))
                if via:
                    edges.append(Edge(source.name, target.name, via))
        self.edges = edges
        self._predecessors: dict[str, list[str]] = {name: [] for name in self.specs}
        for edge in edges:
            self._predecessors[edge.target].append(edge.source)
        self._write_neighbours = self._link_writes(arguments)

    @classmethod
    def from_plugin(cls, plugin: EnvironmentPlugin) -> DependencyGraph:
        return cls([tool.spec for tool in plugin.tools], plugin.forbidden_pairs)

    @property
    def write_tools(self) -> list[str]:
        return [name for name, spec in self.specs.items() if spec.kind == "write"]

    def _link_writes(self, arguments: dict[str, set[str]]) -> dict[str, list[str]]:
        """Two writes can share a task when they act on a common entity (a shared argument field)."""
        writes = self.write_tools
        neighbours: dict[str, list[str]] = {w: [] for w in writes}
        for a in writes:
            for b in writes:
                if frozenset((a, b)) in self.forbidden and a != b:
                    continue
                if arguments[a] & arguments[b]:
                    neighbours[a].append(b)
        return neighbours

    def random_walk(self, rng: random.Random, length: int) -> list[str]:
        """A sequence of write tools, each step to a neighbour sharing an entity with the last."""
        writes = self.write_tools
        if not writes or length < 1:
            return []
        walk = [rng.choice(writes)]
        while len(walk) < length:
            candidates = [w for w in self._write_neighbours[walk[-1]]
                          if all(frozenset((w, prior)) not in self.forbidden for prior in walk if prior != w)]
            if not candidates:
                break
            # Prefer new tools; repeating one (e.g. two cancellations) stays possible but rarer.
            weights = [1.0 if w not in walk else 0.35 for w in candidates]
            walk.append(rng.choices(candidates, weights=weights, k=1)[0])
        return walk

    def reads_needed(self, writes: Iterable[str], auth_tools: Sequence[str] = (), depth: int = 3) -> list[str]:
        """Read tools that feed the writes' arguments, transitively: authentication first, then the
        farthest producers before the reads that consume their outputs."""
        distance: dict[str, int] = {}
        frontier = list(dict.fromkeys(writes))
        for level in range(1, depth + 1):
            next_frontier: list[str] = []
            for tool in frontier:
                for source in self._predecessors.get(tool, []):
                    if self.specs[source].kind == "read" and source not in distance:
                        distance[source] = level
                        next_frontier.append(source)
            frontier = next_frontier
        ordered = sorted(distance, key=lambda name: -distance[name])
        auth = [a for a in auth_tools if a in self.specs]
        return auth + [name for name in ordered if name not in auth]

    def to_rows(self) -> list[dict[str, Any]]:
        return [{"source_tool": e.source, "target_tool": e.target, "via_fields": list(e.via)} for e in self.edges]

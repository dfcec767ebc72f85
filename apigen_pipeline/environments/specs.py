"""The environment's API specs as rows: tools, policy, dependency-graph edges, database fingerprint."""

from __future__ import annotations

import json
from typing import Any

from apigen_pipeline.environments.base import Environment
from apigen_pipeline.environments.dependency_graph import DependencyGraph


def tool_rows(environment: Environment) -> list[dict[str, Any]]:
    return [{
        "position": position,
        "tool_name": spec.name,
        "kind": spec.kind,
        "description": spec.description,
        "parameters": json.dumps(spec.parameters, sort_keys=True),
        "returns": json.dumps(spec.returns),
        "utterance": spec.utterance,
    } for position, spec in enumerate(environment.tool_specs)]


def policy_row(environment: Environment) -> dict[str, Any]:
    plugin = environment.plugin
    return {
        "policy_text": plugin.policy_text,
        "sections": json.dumps([{"section_id": s.section_id, "title": s.title, "tools": list(s.tools)}
                                for s in plugin.policy_sections]),
        "policy_checks": json.dumps([{"rule": c.rule, "description": c.description} for c in plugin.policy_checks]),
    }


def edge_rows(graph: DependencyGraph) -> list[dict[str, Any]]:
    return [{**row, "via_fields": json.dumps(row["via_fields"])} for row in graph.to_rows()]


def fingerprint_row(environment: Environment, plugin_source: str) -> dict[str, Any]:
    database = environment.fresh_database()
    return {
        "plugin_source": plugin_source,
        "seed": environment.seed,
        "scale": environment.scale,
        "state_hash": database.state_hash(),
        "table_counts": json.dumps({table: database.count(table) for table in database.table_names()}),
        "tool_count": len(environment.tool_specs),
        "write_tool_count": len(environment.write_tools),
    }

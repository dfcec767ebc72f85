"""The exported plugin meets the contract and yields a useful dependency graph."""

from __future__ import annotations

from apigen_pipeline.environments.airline import plugin
from apigen_pipeline.environments.dependency_graph import DependencyGraph
from apigen_pipeline.environments.registry import find_plugin, validate_plugin


def test_plugin_meets_the_contract_and_loads_by_name():
    validate_plugin(plugin)
    loaded, _ = find_plugin("airline")
    assert loaded is plugin
    assert plugin.auth_tools == ("get_user_details",)


def test_write_tools_have_schemas_and_utterances_that_name_real_arguments():
    for tool in plugin.tools:
        schema = tool.spec.parameters
        assert schema["additionalProperties"] is False
        assert set(schema["required"]) == set(schema["properties"])
        if tool.spec.kind == "write":
            assert tool.spec.utterance
        for slot in _slots(tool.spec.utterance or ""):
            assert slot in schema["properties"], (tool.name, slot)


def _slots(template: str) -> list[str]:
    import string
    return [field for _, field, _, _ in string.Formatter().parse(template) if field]


def test_dependency_graph_links_reads_to_writes():
    graph = DependencyGraph.from_plugin(plugin)
    edges = {(e.source, e.target) for e in graph.edges}
    assert ("get_user_details", "cancel_reservation") in edges
    assert ("search_direct_flight", "book_reservation") in edges
    assert ("get_reservation_details", "update_reservation_flights") in edges
    needed = graph.reads_needed(["book_reservation"], plugin.auth_tools)
    assert needed[0] == "get_user_details" and "search_direct_flight" in needed

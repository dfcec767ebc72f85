import random

from apigen_pipeline.environments.base import ToolSpec
from apigen_pipeline.environments.dependency_graph import DependencyGraph, argument_fields


def spec(name, kind, params, returns=()):
    return ToolSpec(name=name, description=name, kind=kind, returns=list(returns),
                    parameters={"type": "object", "properties": {p: {"type": "string"} for p in params}})


SPECS = [
    spec("find_user", "read", ["email"], ["user_id"]),
    spec("get_user", "read", ["user_id"], ["user_id", "order_id", "payment_method_id"]),
    spec("get_order", "read", ["order_id"], ["order_id", "item_id"]),
    spec("cancel", "write", ["order_id", "reason"]),
    spec("return_items", "write", ["order_id", "item_ids", "payment_method_id"]),
    spec("change_address", "write", ["user_id", "city"]),
]


def test_edges_come_from_returned_fields_meeting_arguments():
    graph = DependencyGraph(SPECS)
    edges = {(e.source, e.target): e.via for e in graph.edges}
    assert edges[("find_user", "get_user")] == ("user_id",)
    assert edges[("get_user", "return_items")] == ("order_id", "payment_method_id")
    assert edges[("get_order", "return_items")] == ("item_id", "order_id")  # item_ids folds to item_id
    assert ("find_user", "cancel") not in edges
    assert all(e.source != e.target for e in graph.edges)


def test_forbidden_pairs_are_removed():
    graph = DependencyGraph(SPECS, forbidden_pairs=[("get_order", "cancel"), ("cancel", "return_items")])
    pairs = {(e.source, e.target) for e in graph.edges}
    assert ("get_order", "cancel") not in pairs
    for _ in range(200):
        walk = graph.random_walk(random.Random(_), 3)
        assert not {"cancel", "return_items"} <= set(walk)


def test_nested_argument_fields_are_seen():
    schema = {"type": "object", "properties": {"payments": {"type": "array", "items": {
        "type": "object", "properties": {"payment_id": {"type": "string"}}}}}}
    assert argument_fields(schema) == {"payments", "payment_id"}


def test_random_walk_is_seeded_and_uses_write_tools():
    graph = DependencyGraph(SPECS)
    walks = [graph.random_walk(random.Random(7), 3) for _ in range(2)]
    assert walks[0] == walks[1]
    assert set(walks[0]) <= {"cancel", "return_items", "change_address"}


def test_reads_needed_are_transitive_and_include_auth():
    graph = DependencyGraph(SPECS)
    reads = graph.reads_needed(["return_items"], auth_tools=["find_user"])
    assert reads[0] == "find_user"
    assert {"get_user", "get_order", "find_user"} == set(reads)

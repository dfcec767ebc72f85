"""The retail plugin as the pipeline loads it: entry point, contract, dependency graph."""

from __future__ import annotations

from importlib.metadata import entry_points

from apigen_pipeline.environments.dependency_graph import DependencyGraph
from apigen_pipeline.environments.registry import validate_plugin
from apigen_pipeline.environments.retail import plugin


def test_entry_point_loads_this_plugin_and_it_meets_the_contract():
    [entry] = [ep for ep in entry_points(group="apigen_pipeline.environments") if ep.name == "retail"]
    assert entry.load() is plugin
    validate_plugin(plugin)
    assert plugin.name == "retail" and plugin.default_seed == 0 and plugin.propose_actions is not None
    assert list(plugin.auth_tools) == ["find_user_id_by_email", "find_user_id_by_name_zip", "get_user_details"]


def test_dependency_graph_feeds_every_write_from_reads():
    graph = DependencyGraph.from_plugin(plugin)
    feeds = {(edge.source, edge.target): edge.via for edge in graph.edges}
    assert feeds[("get_order_details", "return_delivered_order_items")] == ("item_id", "order_id", "payment_method_id")
    assert "new_item_id" in feeds[("get_product_details", "exchange_delivered_order_items")]
    assert ("cancel_pending_order", "modify_pending_order_address") not in feeds  # a cancelled order feeds nothing
    reads = graph.reads_needed(["modify_pending_order_items"], plugin.auth_tools)
    assert {"get_order_details", "get_product_details"} <= set(reads)

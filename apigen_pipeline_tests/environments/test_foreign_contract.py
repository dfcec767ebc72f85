"""The contract for environments written elsewhere (`foreign_shop`: tau-bench's style), piece by piece."""

from __future__ import annotations

import json
import random
from dataclasses import replace

import pytest

from apigen_pipeline.environments.base import (
    Environment,
    EnvironmentContractError,
    ExecutedCall,
    Tool,
    ToolSpec,
)
from apigen_pipeline.environments.registry import load_environment, validate_plugin
from apigen_pipeline_tests.foreign_shop.plugin import load_data, plugin
from apigen_pipeline_tests.mock_domain import plugin as mock_plugin

FOREIGN = "apigen_pipeline_tests.foreign_shop.plugin:plugin"
ADA, ADA_EMAIL = "ada_lovelace_4100", "ada.lovelace@example.org"


@pytest.fixture(scope="module")
def foreign() -> Environment:
    return load_environment(FOREIGN)


def test_kinds_are_inferred_by_probing_where_no_tool_declares_one(foreign):
    assert all(tool.spec.kind is None for tool in plugin.tools)
    assert {spec.name: spec.kind for spec in foreign.tool_specs} == {
        "find_user_id_by_email": "read", "get_user_details": "read", "get_order_details": "read",
        "cancel_pending_order": "write", "modify_user_email": "write", "transfer_to_human_agents": "read"}


def test_dict_tools_mutate_their_sessions_private_copy_only(foreign):
    seed = foreign.fingerprint()
    session, other = foreign.new_session(), foreign.new_session()
    call = session.execute("cancel_pending_order", {"order_id": "#F1001", "reason": "no longer needed"})
    assert call.ok and json.loads(call.observation)["status"] == "cancelled"
    assert session.database.get("orders", "#F1001")["status"] == "cancelled"
    assert other.database.get("orders", "#F1001")["status"] == "pending"
    assert foreign.snapshot.tables["orders"]["#F1001"]["status"] == "pending"
    assert other.state_hash() == foreign.fingerprint() == seed != session.state_hash()
    assert [c.render() for c in session.diff_from_seed().changes] == [
        'orders[#F1001].cancel_reason: null -> "no longer needed"', 'orders[#F1001].status: "pending" -> "cancelled"']


def test_reading_through_the_dict_view_leaves_nothing_behind(foreign):
    session = foreign.new_session()
    assert session.execute("find_user_id_by_email", {"email": ADA_EMAIL}).observation == ADA  # scans every user
    assert session.execute("get_user_details", {"user_id": ADA}).ok
    assert session.database.touched() == set() and session.state_hash() == foreign.fingerprint()


def test_a_returned_error_string_rolls_back_what_the_tool_wrote_first(foreign):
    session = foreign.new_session()
    call = session.execute("modify_user_email", {"user_id": ADA, "email": "not-an-email"})
    assert (call.ok, call.observation) == (False, "Error: invalid email")
    assert session.database.get("users", ADA)["email"] == ADA_EMAIL
    assert session.state_hash() == foreign.fingerprint()
    assert not session.execute("get_order_details", {"order_id": "#F9999"}).ok  # a read's error string, too


def test_a_database_tool_returning_an_error_string_is_rolled_back_too():
    def rename_then_refuse(db, user_id: str, nickname: str) -> str:
        db.get_for_update("users", user_id)["nickname"] = nickname
        return "Error: nicknames are frozen"

    rename = next(t for t in mock_plugin.tools if t.name == "rename_user")
    environment = Environment(replace(mock_plugin, tools=[*(t for t in mock_plugin.tools if t is not rename),
                                                          Tool(rename.spec, rename_then_refuse)]))
    session = environment.new_session()
    call = session.execute("rename_user", {"user_id": "user_000", "nickname": "zed"})
    assert (call.ok, call.observation) == (False, "Error: nicknames are frozen")
    assert session.state_hash() == environment.fingerprint()


def test_a_fixed_data_set_refuses_another_scale_naming_the_environment():
    with pytest.raises(EnvironmentContractError, match=r"'foreignshop' has a fixed data set .* scale must be 1, got 2"):
        Environment(plugin, scale=2.0)
    assert Environment(plugin).snapshot.tables == load_data()


def test_a_tool_declared_read_that_changes_the_state_breaks_the_contract():
    lying = replace(plugin, tools=[replace(t, spec=t.spec.model_copy(update={"kind": "read"}))
                                   if t.name == "cancel_pending_order" else t for t in plugin.tools])
    problems = Environment(lying).tool_kind_problems()
    assert len(problems) == 1
    assert problems[0].startswith("tool 'cancel_pending_order' is declared read but changed the state on a probe: "
                                  "cancel_pending_order({")
    assert Environment(plugin).tool_kind_problems() == []


LYING_PLUGIN = replace(plugin, name="lyingshop", tools=[
    replace(t, spec=t.spec.model_copy(update={"kind": "read"})) if t.name == "modify_user_email" else t
    for t in plugin.tools])


def test_loading_an_environment_runs_the_probe_check():
    with pytest.raises(EnvironmentContractError, match="environment 'lyingshop' does not meet the contract: tool "
                                                       "'modify_user_email' is declared read but changed the state"):
        load_environment(f"{__name__}:LYING_PLUGIN")


def test_a_tool_whose_kind_cannot_be_told_must_declare_it():
    def always_fails(data, summary: str) -> str:
        return "Error: the queue is closed"

    spec = ToolSpec(name="escalate", description="Escalate.", parameters={
        "type": "object", "properties": {"summary": {"type": "string"}}, "required": ["summary"]})
    with pytest.raises(EnvironmentContractError, match="tool 'escalate' declares no kind and none of its 12 probe "
                                                       "calls succeeded"):
        Environment(replace(plugin, tools=[*plugin.tools, Tool(spec, always_fails)]))


@pytest.mark.parametrize(("change", "problem"), [
    ({"load_data": None}, "exactly one data source: generate_data (seed, scale) or load_data (a fixed data set), "
                          "got neither"),
    ({"generate_data": lambda seed, scale: {}}, "got generate_data and load_data"),
    ({"terminating_tools": ("hang_up",)}, "terminating tool 'hang_up' is not one of its tools"),
    ({"tool_data": "frame"}, "tool_data must be 'database' or 'dict'"),
])
def test_the_contract_check_names_each_foreign_problem(change, problem):
    with pytest.raises(EnvironmentContractError) as raised:
        validate_plugin(replace(plugin, **change))
    assert "environment 'foreignshop' does not meet the contract" in str(raised.value)
    assert problem in str(raised.value)


def test_a_fixed_data_set_of_the_wrong_shape_is_named_when_loaded():
    broken = Environment(replace(plugin, load_data=lambda: {"users": [{"email": "x"}]},
                                 tools=[replace(t, spec=t.spec.model_copy(update={"kind": "read"})) for t in plugin.tools]))
    with pytest.raises(EnvironmentContractError, match="load_data table 'users' must map record ids to records"):
        broken.fresh_database()


def _trace(*calls: tuple[str, dict, bool]) -> list[ExecutedCall]:
    return [ExecutedCall(name, arguments, "", ok, "write") for name, arguments, ok in calls]


def test_a_per_record_business_rule_is_a_policy_check(foreign):
    before = foreign.fresh_database()
    large = next(oid for oid, order in before.records("orders") if order["total"] > 500 and order["status"] == "pending")
    small = "#F1001"
    cancel = "cancel_pending_order"
    violations = foreign.check_policy(before, _trace((cancel, {"order_id": small, "reason": "no longer needed"}, True),
                                                     (cancel, {"order_id": large, "reason": "no longer needed"}, True),
                                                     (cancel, {"order_id": large, "reason": "x"}, False)), before)
    assert [(v.rule, v.message.split(":")[0]) for v in violations] == [
        ("large_order_needs_a_human", f"call 1 ({cancel})")]
    assert "only a human agent may cancel it" in violations[0].message


def test_the_foreign_sampler_and_hook_fit_the_contract(foreign):
    rng = random.Random(3)
    for _ in range(20):
        sample = foreign.sample_domain_data(rng, ["cancel_pending_order"])
        assert "user_id" not in sample.records["users"][sample.user_id]
        actions = plugin.propose_actions(sample, ["cancel_pending_order"], rng)  # type: ignore[misc]
        session = foreign.new_session()
        assert actions is not None and all(session.execute(a.name, a.arguments).ok for a in actions)
        assert foreign.check_policy(foreign.fresh_database(), session.trace, session.database) == []


def test_a_result_that_is_not_json_is_an_internal_failure_not_a_crash():
    cancel = next(t for t in plugin.tools if t.name == "cancel_pending_order")

    def cancel_returning_a_set(data, order_id: str, reason: str) -> set:
        data["orders"][order_id]["status"] = "cancelled"
        return {order_id}

    environment = Environment(replace(plugin, tools=[*(t for t in plugin.tools if t is not cancel),
                                                     Tool(cancel.spec.model_copy(update={"kind": "write"}),
                                                          cancel_returning_a_set)]))
    session = environment.new_session()
    call = session.execute("cancel_pending_order", {"order_id": "#F1001", "reason": "no longer needed"})
    assert not call.ok and call.observation.startswith("Error: internal tool failure: TypeError")
    assert session.state_hash() == environment.fingerprint()  # the write it made first is rolled back

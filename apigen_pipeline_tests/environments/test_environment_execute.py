"""Generic contract behaviour of Environment.execute, on the mock domain."""

import pytest

from apigen_pipeline.environments.base import Environment
from apigen_pipeline_tests import mock_domain


@pytest.fixture(scope="module")
def env() -> Environment:
    return Environment(mock_domain.plugin, seed=3)


@pytest.mark.parametrize(("name", "arguments", "fragment"), [
    ("teleport", {}, "unknown tool 'teleport'"),
    ("get_order", {}, "'order_id' is a required property"),
    ("get_order", {"order_id": "O0000", "extra": 1}, "Additional properties are not allowed"),
    ("get_order", {"order_id": 7}, "7 is not of type 'string'"),
    ("get_order", ["O0000"], "arguments of 'get_order' must be an object"),
    ("get_order", {"order_id": "O9999"}, "order not found"),
])
def test_bad_calls_become_error_observations(env, name, arguments, fragment):
    db = env.fresh_database()
    before = db.state_hash()
    call = env.execute(db, name, arguments)
    assert not call.ok
    assert call.observation.startswith("Error: ")
    assert fragment in call.observation
    assert db.state_hash() == before


def test_a_failing_write_rolls_back_partial_changes(env):
    def half_write(db, order_id):
        db.get_for_update("orders", order_id)["status"] = "weird"
        raise RuntimeError("crashed midway")

    plugin = mock_domain.plugin
    broken = type(plugin.tools[2])(plugin.tools[2].spec, half_write)
    import dataclasses
    environment = Environment(dataclasses.replace(plugin, tools=[*plugin.tools[:2], broken, plugin.tools[3]]), seed=3)
    db = environment.fresh_database()
    before = db.state_hash()
    call = environment.execute(db, "cancel_order", {"order_id": "O0000"})
    assert call.observation == "Error: internal tool failure: RuntimeError: crashed midway"
    assert db.state_hash() == before


def test_successful_write_changes_state_and_is_traced(env):
    session = env.new_session()
    pending = next(oid for oid, o in session.database.records("orders") if o["status"] == "pending")
    call = session.execute("cancel_order", {"order_id": pending})
    assert call.ok and call.kind == "write"
    assert session.trace == [call]
    assert session.diff_from_seed().changed_records == {("orders", pending)}


def test_policy_checks_run_over_traces(env):
    session = env.new_session()
    before = env.fresh_database()
    pending = next(oid for oid, o in session.database.records("orders") if o["status"] == "pending")
    session.execute("cancel_order", {"order_id": pending})
    violations = env.check_policy(before, session.trace, session.database)
    assert [v.rule for v in violations] == ["authenticate_first"]
    compliant = env.new_session()
    owner = env.fresh_database().get("orders", pending)["user_id"]
    compliant.execute("find_user", {"email": f"{owner}@example.com"})
    compliant.execute("cancel_order", {"order_id": pending})
    assert env.check_policy(before, compliant.trace, compliant.database) == []

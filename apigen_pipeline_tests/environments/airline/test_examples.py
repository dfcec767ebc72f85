"""The hand-written few-shot tasks run cleanly on the default database and obey the policy."""

from __future__ import annotations

import pytest

from apigen_pipeline.environments.airline.examples import EXAMPLE_TASKS


@pytest.mark.parametrize("task", EXAMPLE_TASKS, ids=lambda t: "+".join(t.write_tools))
def test_example_executes_and_passes_policy(env, task):
    session = env.new_session()
    for action in task.actions:
        call = session.execute(action["name"], action["arguments"])
        assert call.ok, call.observation
    assert env.check_policy(env.fresh_database(), session.trace, session.database) == []
    written = [call.name for call in session.trace if call.kind == "write"]
    assert written == task.write_tools
    observed = " ".join(call.observation for call in session.trace)
    for output in task.outputs:
        assert output in observed, f"output {output!r} is not grounded in any observation"
    assert "You are" in task.instruction and session.trace[0].name == "get_user_details"


def test_there_are_six_to_ten_examples_covering_every_write_tool(env):
    assert 6 <= len(EXAMPLE_TASKS) <= 10
    assert {tool for task in EXAMPLE_TASKS for tool in task.write_tools} == set(env.write_tools)

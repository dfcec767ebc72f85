"""The hand-written example tasks execute cleanly on the default database and follow the policy."""

from __future__ import annotations

import pytest

from apigen_pipeline.environments.retail.examples import EXAMPLE_TASKS


def test_there_are_enough_varied_examples(env):
    assert 6 <= len(EXAMPLE_TASKS) <= 10
    covered = {tool for task in EXAMPLE_TASKS for tool in task.write_tools}
    assert covered == set(env.write_tools)
    assert any(not task.write_tools for task in EXAMPLE_TASKS)  # an information-only request


@pytest.mark.parametrize("task", EXAMPLE_TASKS, ids=lambda t: "+".join(t.write_tools) or "read_only")
def test_example_executes_cleanly_and_passes_the_policy(env, task):
    assert task.instruction.startswith("You ")
    session = env.new_session()
    for action in task.actions:
        call = session.execute(action["name"], action["arguments"])
        assert call.ok, (action, call.observation)
    assert [a["name"] for a in task.actions if a["name"] in env.write_tools] == task.write_tools
    assert env.check_policy(env.fresh_database(), session.trace, session.database) == []
    assert session.diff_from_seed().is_empty == (not task.write_tools)

"""The plugin hooks the simulated backend needs, and its roles honouring a declared terminating tool."""

from __future__ import annotations

import pytest

from apigen_pipeline.environments.base import Environment, ToolCall
from apigen_pipeline.environments.registry import load_environment
from apigen_pipeline.phase1.models import AcceptedBlueprint, ActionCall, Blueprint
from apigen_pipeline.phase2.models import Phase2Settings
from apigen_pipeline.phase2.runner import run_phase2
from apigen_pipeline.simulated.hooks import MissingSimulatedHooks, missing_hooks, require_hooks
from apigen_pipeline.simulated.roles.instruction import render_instruction
from apigen_pipeline_tests.foreign_shop.plugin import plugin_without_hooks
from apigen_pipeline_tests.phase2.helpers import simulated_client

FOREIGN = "apigen_pipeline_tests.foreign_shop.plugin:plugin"
EMAIL = "ada.lovelace@example.org"


def test_a_plugin_without_hooks_is_told_which_ones_the_simulated_roles_need():
    bare = Environment(plugin_without_hooks)
    assert missing_hooks(bare, ["generator", "judge", "human", "agent"]) == [
        "propose_actions (generator)",
        "ToolSpec.utterance on the write tools cancel_pending_order, modify_user_email (generator, agent)",
        "auth_tools (generator, agent)"]
    assert missing_hooks(bare, ["agent"]) == [
        "ToolSpec.utterance on the write tools cancel_pending_order, modify_user_email (agent)", "auth_tools (agent)"]
    assert missing_hooks(bare, ["judge", "critic"]) == []  # real generator and agent: no hook needed
    assert missing_hooks(load_environment(FOREIGN), ["generator", "agent"]) == []
    with pytest.raises(MissingSimulatedHooks) as raised:
        require_hooks(bare, ["generator", "agent"])
    message = str(raised.value)
    assert "\n" not in message and message.startswith("environment 'foreignshop' lacks the plugin hooks")


def _transfer_task(environment: Environment) -> AcceptedBlueprint:
    calls = [ToolCall("find_user_id_by_email", {"email": EMAIL}),
             ToolCall("get_order_details", {"order_id": "#F1001"}),
             ToolCall("cancel_pending_order", {"order_id": "#F1001", "reason": "no longer needed"}),
             ToolCall("transfer_to_human_agents", {"summary": "also wants #F1002 refunded"})]
    instruction = render_instruction("You are a patient retired teacher.", {"email": EMAIL}, calls, environment, [])
    blueprint = Blueprint(instruction=instruction, actions=[ActionCall(name=c.name, arguments=c.arguments) for c in calls])
    return AcceptedBlueprint(blueprint_id="bp-foreign-0", kind="simple", context_id="ctx-0", attempt_id="att-0",
                             blueprint=blueprint, user_id="ada_lovelace_4100", persona_id="persona-000001",
                             identity={"email": EMAIL})


def test_the_simulated_roles_ask_for_and_make_the_transfer_that_ends_the_episode():
    foreign = load_environment(FOREIGN)
    task = _transfer_task(foreign)
    assert "Your request: I'd like to talk to a human agent, please." in task.blueprint.instruction
    result = run_phase2([task], foreign, simulated_client(environment=foreign), Phase2Settings(attempts_per_blueprint=2),
                        "foreignshop")
    for attempt in result.attempts:
        assert attempt.end_reason == "transfer" and attempt.verified and attempt.audit_findings == []
        assert [c.name for c in attempt.executed_calls][-2:] == ["cancel_pending_order", "transfer_to_human_agents"]
    assert result.stats.kept_trajectories == 2 and result.stats.end_reasons == {"transfer": 2}

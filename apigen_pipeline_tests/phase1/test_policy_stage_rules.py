"""Phase 1 acceptance: a blueprint that violates a policy rule is rejected at the policy stage with that
rule named, for every policy check of the built-in domains.

Each rule gets a blueprint on the seed-0 database whose actions all execute yet break exactly that
rule (verdicts: format pass, execution pass, policy fail with `policy.<rule>`), and a compliant
neighbour that passes the policy stage. Rules the tools already enforce cannot be broken by any
executable blueprint; for those the policy stage is fed a hand-built outcome instead, and a separate
test shows where the staged validation stops the attempt. Cases are keyed by the plugin's own rule
names, so a new rule without a case fails this suite.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from apigen_pipeline.environments.base import Environment
from apigen_pipeline.environments.registry import load_environment
from apigen_pipeline.phase1.validation.execution import ExecutionOutcome
from apigen_pipeline.phase1.validation.policy import check_policy
from apigen_pipeline.phase1.validation.staged import StagedValidation
from apigen_pipeline_tests.environments.airline.finders import find_reservation
from apigen_pipeline_tests.phase1.helpers import validate_in_environment
from apigen_pipeline_tests.phase1.policy_rule_cases import (
    EXECUTABLE_CASES,
    Payload,
    RuleBlueprints,
    airline_login,
    blueprint,
    retail_cancel,
    retail_items_change,
    retail_login,
    retail_pending_pair,
    unflown,
)

DOMAINS = ("retail", "airline")


@dataclass(frozen=True)
class ToolEnforcedCase:
    """A rule no executable blueprint can break, because a tool or a schema refuses the attempt first."""

    attempt: Payload  # the violation written as a generator would write it
    blocked_by: str   # the verdict reason that stops `attempt` before the policy stage
    compliant: Payload
    # Turns the compliant blueprint's execution outcome into the violating outcome a trace from
    # elsewhere (a buggy or third-party tool) could produce.
    tamper: Callable[[ExecutionOutcome], ExecutionOutcome]


def _with_call(outcome: ExecutionOutcome, index: int, **arguments: object) -> ExecutionOutcome:
    trace = list(outcome.trace)
    trace[index] = dataclasses.replace(trace[index], arguments={**trace[index].arguments, **arguments})
    return dataclasses.replace(outcome, trace=tuple(trace))


def _retail_one_item_change_per_order(env: Environment) -> ToolEnforcedCase:
    # Tool-enforced: an items change leaves the order 'pending (item modified)', and every items write
    # (modify needs 'pending', exchange needs 'delivered') refuses it afterwards.
    order, user, change = retail_items_change(env.fresh_database())
    instruction = f"You are {user['email']}; swap an item of order {order['order_id']}."
    back = {**change, "item_ids": change["new_item_ids"], "new_item_ids": change["item_ids"]}
    compliant = blueprint(instruction, retail_login(user), ("modify_pending_order_items", change))
    return ToolEnforcedCase(
        attempt=blueprint(instruction, retail_login(user), ("modify_pending_order_items", change),
                          ("modify_pending_order_items", back)),
        blocked_by="execution.tool_error", compliant=compliant,
        tamper=lambda outcome: dataclasses.replace(outcome, trace=(*outcome.trace, outcome.trace[1])))


def _retail_cancel_reason(env: Environment) -> ToolEnforcedCase:
    # Tool-enforced: the reason is an enum in cancel_pending_order's schema (the format stage rejects
    # anything else) and the tool re-checks it.
    order, user, _ = retail_pending_pair(env.fresh_database())
    instruction = f"You are {user['email']}; cancel order {order['order_id']}."
    return ToolEnforcedCase(
        attempt=blueprint(instruction, retail_login(user), retail_cancel(order, "found it cheaper")),
        blocked_by="format.invalid_arguments",
        compliant=blueprint(instruction, retail_login(user), retail_cancel(order, "ordered by mistake")),
        tamper=lambda outcome: _with_call(outcome, 1, reason="found it cheaper"))


def _retail_item_count_kept(env: Environment) -> ToolEnforcedCase:
    # Tool-enforced: modify/exchange refuse item lists of different lengths and swap items one for one.
    order, user, change = retail_items_change(env.fresh_database())
    instruction = f"You are {user['email']}; swap an item of order {order['order_id']}."
    doubled = {**change, "new_item_ids": change["new_item_ids"] * 2}
    return ToolEnforcedCase(
        attempt=blueprint(instruction, retail_login(user), ("modify_pending_order_items", doubled)),
        blocked_by="execution.tool_error",
        compliant=blueprint(instruction, retail_login(user), ("modify_pending_order_items", change)),
        tamper=lambda outcome: _with_call(outcome, 1, new_item_ids=doubled["new_item_ids"]))


def _airline_no_insurance_after_booking(env: Environment) -> ToolEnforcedCase:
    # Tool-enforced: only book_reservation takes an insurance argument; no tool edits it afterwards
    # (see test_only_booking_can_set_insurance). The check guards the state, so the tampering is too.
    db = env.fresh_database()
    reservation = find_reservation(db, lambda r: unflown(db, r) and r["insurance"] == "no")
    renamed = [{**p, "last_name": p["last_name"] + "-Smith"} for p in reservation["passengers"]]
    update = {"reservation_id": reservation["reservation_id"], "passengers": renamed}
    instruction = f"You are {reservation['user_id']}; correct the passengers of {reservation['reservation_id']}."

    def insure(outcome: ExecutionOutcome) -> ExecutionOutcome:
        record = outcome.after.get_for_update("reservations", reservation["reservation_id"])
        assert record is not None
        record["insurance"] = "yes"
        return outcome

    return ToolEnforcedCase(
        attempt=blueprint(instruction, airline_login(reservation["user_id"]),
                          ("update_reservation_passengers", {**update, "insurance": "yes"})),
        blocked_by="format.invalid_arguments",
        compliant=blueprint(instruction, airline_login(reservation["user_id"]),
                            ("update_reservation_passengers", update)),
        tamper=insure)


# Rules that no executable action sequence can break, each for the reason in its builder's comment.
TOOL_ENFORCED_CASES: dict[str, dict[str, Callable[[Environment], ToolEnforcedCase]]] = {
    "retail": {
        "one_item_change_per_order": _retail_one_item_change_per_order,
        "cancel_reason": _retail_cancel_reason,
        "item_count_kept": _retail_item_count_kept,
    },
    "airline": {
        "no_insurance_after_booking": _airline_no_insurance_after_booking,
    },
}


def _environment(domain: str) -> Environment:
    return load_environment(domain)


def _plugin_rules(domain: str) -> list[str]:
    return [check.rule for check in _environment(domain).plugin.policy_checks]


PLUGIN_RULES = [(domain, rule) for domain in DOMAINS for rule in _plugin_rules(domain)]
TOOL_ENFORCED_RULES = [(domain, rule) for domain in DOMAINS for rule in TOOL_ENFORCED_CASES[domain]]


def _violated_rules(verdict_details: dict) -> set[str]:
    return {violation["rule"] for violation in verdict_details.get("violations", [])}


def _compliant_payload(domain: str, rule: str) -> Payload:
    env = _environment(domain)
    if rule in EXECUTABLE_CASES[domain]:
        return EXECUTABLE_CASES[domain][rule](env).compliant
    if rule in TOOL_ENFORCED_CASES[domain]:
        return TOOL_ENFORCED_CASES[domain][rule](env).compliant
    pytest.fail(f"{domain} policy rule '{rule}' has no case in this suite; add one")


def _stage_chain(staged: StagedValidation) -> list[tuple[str, bool]]:
    return [(verdict.stage, verdict.passed) for verdict in staged.verdicts]


@pytest.mark.parametrize("domain", DOMAINS)
def test_every_policy_rule_of_the_domain_has_exactly_one_case(domain):
    executable, enforced = set(EXECUTABLE_CASES[domain]), set(TOOL_ENFORCED_CASES[domain])
    assert not executable & enforced
    assert executable | enforced == set(_plugin_rules(domain))


@pytest.mark.parametrize(("domain", "rule"), PLUGIN_RULES)
def test_a_violating_blueprint_is_rejected_at_the_policy_stage_naming_the_rule(domain, rule):
    env = _environment(domain)
    if rule in TOOL_ENFORCED_CASES[domain]:
        case = TOOL_ENFORCED_CASES[domain][rule](env)
        compliant = validate_in_environment(case.compliant, env)
        assert compliant.passed and compliant.execution is not None
        verdict = check_policy(case.tamper(compliant.execution), env)
    else:
        assert rule in EXECUTABLE_CASES[domain], f"{domain} policy rule '{rule}' has no case in this suite"
        cases: RuleBlueprints = EXECUTABLE_CASES[domain][rule](env)
        staged = validate_in_environment(cases.violating, env)
        assert _stage_chain(staged) == [("format", True), ("execution", True), ("policy", False)], (
            [v.model_dump() for v in staged.verdicts])
        verdict = staged.verdicts[-1]
    assert verdict.stage == "policy" and not verdict.passed
    assert verdict.reason == f"policy.{rule}"
    assert _violated_rules(verdict.details) == {rule}, verdict.details


@pytest.mark.parametrize(("domain", "rule"), PLUGIN_RULES)
def test_the_compliant_variant_passes_the_policy_stage(domain, rule):
    staged = validate_in_environment(_compliant_payload(domain, rule), _environment(domain))
    assert _stage_chain(staged) == [("format", True), ("execution", True), ("policy", True)], (
        [v.model_dump() for v in staged.verdicts])


@pytest.mark.parametrize(("domain", "rule"), TOOL_ENFORCED_RULES)
def test_a_tool_enforced_violation_is_stopped_before_the_policy_stage(domain, rule):
    """If a tool stops enforcing one of these rules, this fails: move the rule to the executable cases."""
    case = TOOL_ENFORCED_CASES[domain][rule](_environment(domain))
    staged = validate_in_environment(case.attempt, _environment(domain))
    assert staged.verdicts[-1].reason == case.blocked_by
    assert "policy" not in [verdict.stage for verdict in staged.verdicts]


def test_only_booking_can_set_insurance():
    env = _environment("airline")
    assert [spec.name for spec in env.tool_specs if "insurance" in spec.parameters["properties"]] == [
        "book_reservation"]


import random
from dataclasses import replace

import pytest

from apigen_pipeline.environments.base import Environment
from apigen_pipeline.environments.registry import load_environment
from apigen_pipeline.llm.types import ErrorKind, LLMResponse, LLMResult
from apigen_pipeline.phase1.models import ActionCall, Blueprint
from apigen_pipeline.phase1.settings import ValidityConfig
from apigen_pipeline.phase1.validation.execution import replay
from apigen_pipeline.phase1.validation.format import check_format
from apigen_pipeline.phase1.validation.generation import check_generation
from apigen_pipeline.phase1.validation.scope import ToolScope
from apigen_pipeline.phase1.validation.staged import validate_blueprint, validate_payload
from apigen_pipeline_tests.phase1.helpers import mock_environment

EMAIL = "user_000@example.com"
INSTRUCTION = "You are user_000 (user_000@example.com) and want to be called zed from now on."
FIND = {"name": "find_user", "arguments": {"email": EMAIL}}
RENAME = {"name": "rename_user", "arguments": {"user_id": "user_000", "nickname": "zed"}}
# What a context that sampled the write rename_user offers (see ContextSampler): the write and its reads.
RENAME_SCOPE = ToolScope(tools=frozenset({"find_user", "get_order", "rename_user"}),
                         write_tools=frozenset({"rename_user"}))
RULES = ValidityConfig()


def payload(actions, instruction=INSTRUCTION, outputs=()):
    return {"instruction": instruction, "actions": actions, "outputs": list(outputs)}


def check(blueprint, scope=RENAME_SCOPE, rules=RULES):
    return check_format(blueprint, mock_environment(), scope, rules)


@pytest.mark.parametrize(("blueprint", "reason"), [
    ("not a dict", "format.not_an_object"),
    (payload([FIND, RENAME], instruction="  "), "format.missing_instruction"),
    ({"instruction": INSTRUCTION, "actions": "find_user"}, "format.missing_actions"),
    ({"instruction": INSTRUCTION, "actions": [], "outputs": [{"a": 1}]}, "format.invalid_outputs"),
    (payload([FIND, RENAME], outputs=["zed", " ... "]), "format.empty_output"),
    (payload([FIND, RENAME], outputs=[""]), "format.empty_output"),
    (payload([{"arguments": {}}]), "format.invalid_action"),
    (payload([{"name": "find_users", "arguments": {"email": EMAIL}}, RENAME]), "format.unknown_tool"),
    (payload([{"name": "find_user", "arguments": {"email": 5}}, RENAME]), "format.invalid_arguments"),
    (payload([{"name": "find_user", "arguments": {}}, RENAME]), "format.invalid_arguments"),
    # The case: no actions, a placeholder instruction, no outputs.
    ({"instruction": "placeholder", "actions": [], "outputs": []}, "format.placeholder_instruction"),
    (payload([FIND, RENAME], instruction="TODO"), "format.placeholder_instruction"),
    (payload([FIND, RENAME], instruction="..."), "format.placeholder_instruction"),
    (payload([FIND, RENAME], instruction="<instruction>"), "format.placeholder_instruction"),
    (payload([FIND, RENAME], instruction="Lorem ipsum dolor sit amet, consectetur adipiscing elit."),
     "format.placeholder_instruction"),
    (payload([FIND, RENAME], instruction="You are {user_name}; you want your nickname changed to zed."),
     "format.placeholder_instruction"),
    (payload([FIND, RENAME], instruction="You are <user name>; you want your nickname changed to zed."),
     "format.placeholder_instruction"),
    (payload([FIND, RENAME], instruction="You are user_000. TODO: say what the user wants here."),
     "format.placeholder_instruction"),
    (payload([FIND, RENAME], instruction="Rename me to zed."), "format.instruction_too_short"),
    (payload([]), "format.no_write_action"),
    (payload([FIND]), "format.no_write_action"),
    (payload([FIND, {"name": "cancel_order", "arguments": {"order_id": "O0001"}}]), "format.write_not_sampled"),
])
def test_format_failures_are_named(blueprint, reason):
    parsed, verdict = check(blueprint)
    assert parsed is None and verdict.stage == "format" and not verdict.passed and verdict.reason == reason


def test_nothing_may_follow_a_terminating_tool():
    environment = Environment(replace(mock_environment().plugin, terminating_tools=("get_order",)))
    get_order = {"name": "get_order", "arguments": {"order_id": "O0001"}}
    parsed, verdict = check_format(payload([FIND, get_order, RENAME]), environment, RENAME_SCOPE, RULES)
    assert parsed is None and verdict.reason == "format.action_after_terminating_tool"
    assert verdict.details["tool"] == "get_order" and verdict.details["action_index"] == 2
    parsed, verdict = check_format(payload([FIND, RENAME, get_order]), environment, RENAME_SCOPE, RULES)
    assert parsed is not None and verdict.passed  # ending with it is fine


def test_a_read_outside_the_context_is_named_with_the_tools_allowed():
    scope = RENAME_SCOPE.model_copy(update={"tools": frozenset({"find_user", "rename_user"})})
    parsed, verdict = check(payload([FIND, {"name": "get_order", "arguments": {"order_id": "O0001"}}, RENAME]),
                            scope=scope)
    assert parsed is None and verdict.reason == "format.tool_not_in_context"
    assert verdict.details["tool"] == "get_order" and verdict.details["context_tools"] == ["find_user", "rename_user"]


def test_the_empty_placeholder_blueprint_never_reaches_execution():
    staged = validate_payload({"instruction": "placeholder", "actions": [], "outputs": []}, mock_environment(),
                              RENAME_SCOPE, RULES)
    assert not staged.passed and staged.execution is None
    assert [(v.stage, v.reason) for v in staged.verdicts] == [("format", "format.placeholder_instruction")]
    # Even with a real instruction, a blueprint that changes nothing stops at format.
    staged = validate_payload(payload([]), mock_environment(), RENAME_SCOPE, RULES)
    assert [(v.stage, v.reason) for v in staged.verdicts] == [("format", "format.no_write_action")]


def test_instruction_rules_are_configurable():
    short = payload([FIND, RENAME], instruction="Rename me to zed.")
    assert check(short, rules=ValidityConfig(min_instruction_chars=10))[1].passed
    draft = payload([FIND, RENAME], instruction="You are user_000 and this is a draft task: rename yourself to zed.")
    assert check(draft)[1].passed
    assert check(draft, rules=ValidityConfig(placeholder_markers=["draft task"]))[1].reason == \
        "format.placeholder_instruction"
    slot = payload([FIND, RENAME], instruction="You are {user_name}; you want your nickname changed to zed.")
    assert check(slot, rules=ValidityConfig(reject_template_slots=False))[1].passed


def test_placeholder_words_inside_a_real_instruction_are_not_placeholders():
    for instruction in ("You are user_000 and want the todos app nickname: rename yourself to zed.",
                        "You are user_000; your example order is fine, but rename yourself to zed.",
                        "You are user_000 and <b>really</b> want to be renamed to zed."):
        assert check(payload([FIND, RENAME], instruction=instruction))[1].passed, instruction


def test_format_pass_returns_a_typed_blueprint():
    parsed, verdict = check(payload([FIND, RENAME], outputs=[12]))
    assert verdict.passed and parsed.actions == [ActionCall(name="find_user", arguments={"email": EMAIL}),
                                                 ActionCall(**RENAME)]
    assert parsed.outputs == ["12"]


def test_generation_verdicts_classify_llm_failures_and_bad_replies():
    failed = LLMResult(request_key="k", status="failed", error_kind=ErrorKind.RATE_LIMIT)
    assert check_generation(failed)[1].reason == "generation.llm_rate_limit"
    not_sent = LLMResult(request_key="k", status="not_sent", error_kind=ErrorKind.BUDGET)
    assert check_generation(not_sent)[1].reason == "generation.llm_budget"
    no_blueprint = LLMResult(request_key="k", status="answered", response=LLMResponse(text='{"reasoning": "x"}'))
    assert check_generation(no_blueprint)[1].reason == "generation.invalid_output"
    parsed_by_gateway = LLMResult(request_key="k", status="answered",
                                  response=LLMResponse(text="ignored", parsed={"blueprint": {"instruction": "x"}}))
    blueprint, verdict = check_generation(parsed_by_gateway)
    assert verdict.passed and blueprint == {"instruction": "x"}


def test_execution_error_names_the_failing_call_and_keeps_earlier_state():
    environment = mock_environment()
    db = environment.fresh_database()
    shipped = next(oid for oid, o in db.records("orders") if o["status"] != "pending")
    actions = [ActionCall(name="find_user", arguments={"email": EMAIL}),
               ActionCall(name="rename_user", arguments={"user_id": "user_000", "nickname": "zed"}),
               ActionCall(name="cancel_order", arguments={"order_id": shipped})]
    outcome = replay(actions, environment)
    assert not outcome.verdict.passed and outcome.verdict.reason == "execution.tool_error"
    assert outcome.verdict.details["action_index"] == 2 and outcome.verdict.details["tool"] == "cancel_order"
    assert "Error:" in outcome.verdict.details["observation"]


def test_execution_pass_captures_diff_and_state_hash():
    environment = mock_environment()
    actions = [ActionCall(name="find_user", arguments={"email": EMAIL}),
               ActionCall(name="rename_user", arguments={"user_id": "user_000", "nickname": "zed"})]
    outcome = replay(actions, environment)
    assert outcome.verdict.passed
    assert outcome.diff == [{"table": "users", "id": "user_000", "path": "nickname", "before": "nick0",
                             "after": "zed"}]
    assert "zed" in outcome.diff_text and outcome.state_hash != environment.fingerprint()


def test_mock_policy_rule_is_named_at_the_policy_stage():
    environment = mock_environment()
    staged = validate_payload(payload([RENAME]), environment, RENAME_SCOPE, RULES)
    assert [v.stage for v in staged.verdicts] == ["format", "execution", "policy"]
    assert staged.verdicts[-1].reason == "policy.authenticate_first"
    assert staged.verdicts[-1].details["violations"][0]["rule"] == "authenticate_first"


def _proposal(environment, write_tools_filter=None, seed=0, exclude_user=None):
    """A grounded action list from the plugin's own proposer for some sampled user."""
    rng = random.Random(seed)
    db = environment.fresh_database()
    for attempt in range(200):
        writes = [rng.choice(environment.write_tools)] if write_tools_filter is None else write_tools_filter
        sample = environment.plugin.sample_domain_data(db, random.Random(seed * 1000 + attempt), writes)
        if sample.user_id == exclude_user:
            continue
        actions = environment.plugin.propose_actions(sample, writes, rng)
        if actions and validate_blueprint(_bp(actions), environment).passed:
            return sample, actions
    raise AssertionError("no valid proposal found")


def _bp(actions) -> Blueprint:
    return Blueprint(instruction="x", actions=[ActionCall(name=a.name, arguments=a.arguments) for a in actions])


AUTH_RULES = {"apigen_pipeline_tests.mock_domain:plugin": "authenticate_first",
              "retail": "authenticated_before_write", "airline": "authenticated_before_write"}
ONE_USER_RULES = {"retail": "single_user", "airline": "single_user"}


@pytest.mark.parametrize("domain", list(AUTH_RULES))
def test_skipping_authentication_is_rejected_by_the_domains_auth_rule(domain):
    environment = load_environment(domain)
    _, actions = _proposal(environment)
    unauthenticated = [a for a in actions if a.name not in environment.plugin.auth_tools]
    staged = validate_blueprint(_bp(unauthenticated), environment)
    assert staged.verdicts[-1].stage == "policy" and staged.verdicts[-1].reason == f"policy.{AUTH_RULES[domain]}"


@pytest.mark.parametrize("domain", list(ONE_USER_RULES))
def test_acting_for_two_users_is_rejected_by_the_one_user_rule(domain):
    environment = load_environment(domain)
    first_sample, first = _proposal(environment, seed=1)
    _, second = _proposal(environment, seed=2, exclude_user=first_sample.user_id)
    staged = validate_blueprint(_bp([*first, *second]), environment)
    rules = [v["rule"] for v in staged.verdicts[-1].details.get("violations", [])]
    assert staged.verdicts[-1].stage == "policy" and ONE_USER_RULES[domain] in rules

from apigen_pipeline.phase1.models import AcceptedBlueprint, ActionCall, Blueprint
from apigen_pipeline.phase1.recombination import combine, group_scope, plan_groups, recombine
from apigen_pipeline.phase1.runner import run_phase1
from apigen_pipeline.phase1.settings import Phase1Config, RecombinationConfig
from apigen_pipeline.phase1.timed_client import TimedClient
from apigen_pipeline.phase1.validation.execution import replay
from apigen_pipeline.phase1.validation.format import check_scope
from apigen_pipeline_tests.phase1.helpers import (
    ScriptedClient,
    all_yes,
    mock_contexts,
    mock_environment,
    simulated_client,
)

AUTH = ActionCall(name="find_user", arguments={"email": "user_000@example.com"})


def source(bid: str, user: str, actions, outputs=(), persona="p1") -> AcceptedBlueprint:
    return AcceptedBlueprint(blueprint_id=bid, kind="simple", context_id=bid, attempt_id=bid, user_id=user,
                             persona_id=persona, identity={"email": f"{user}@example.com"},
                             blueprint=Blueprint(instruction=f"task {bid}", actions=list(actions),
                                                 outputs=list(outputs)))


def test_groups_share_a_user_respect_sizes_and_are_seeded():
    sources = [source(f"b{i}", f"user_{i % 2}", [AUTH]) for i in range(7)] + [source("solo", "user_9", [AUTH])]
    config = RecombinationConfig(min_group_size=2, max_group_size=3)
    groups = plan_groups(sources, config, "mockshop")
    assert groups and all(2 <= len(g) <= 3 and len({b.user_id for b in g}) == 1 for g in groups)
    assert all(b.blueprint_id != "solo" for g in groups for b in g)
    assert [[b.blueprint_id for b in g] for g in groups] == \
        [[b.blueprint_id for b in g] for g in plan_groups(list(reversed(sources)), config, "mockshop")]
    assert len(plan_groups(sources, config.model_copy(update={"max_per_partition": 1}), "mockshop")) == 1
    by_persona = plan_groups([source("x", "u", [AUTH], persona="a"), source("y", "u", [AUTH], persona="b")],
                             RecombinationConfig(group_by="user_and_persona"), "mockshop")
    assert by_persona == []


def test_combine_drops_repeated_identical_reads_and_merges_outputs():
    rename = ActionCall(name="rename_user", arguments={"user_id": "user_000", "nickname": "zed"})
    first = source("a", "user_000", [AUTH, rename], ["pending"])
    second = source("b", "user_000", [AUTH, ActionCall(name="get_order", arguments={"order_id": "O0001"})],
                    ["pending", "12.0"])
    combined = combine([first, second], mock_environment(), drop_repeated_reads=True)
    assert [a.name for a in combined.actions] == ["find_user", "rename_user", "get_order"]
    assert combined.outputs == ["pending", "12.0"]
    kept = combine([first, second], mock_environment(), drop_repeated_reads=False)
    assert [a.name for a in kept.actions] == ["find_user", "rename_user", "find_user", "get_order"]


def test_conflicting_combination_fails_re_execution_with_a_recorded_reason():
    environment = mock_environment()
    db = environment.fresh_database()
    order = next(oid for oid, o in db.records("orders") if o["status"] == "pending")
    user = db.get("orders", order)["user_id"]
    auth = ActionCall(name="find_user", arguments={"email": f"{user}@example.com"})
    cancel = ActionCall(name="cancel_order", arguments={"order_id": order})
    # Each cancels the same pending order: fine alone, the second fails once the first ran.
    sources = [source("a", user, [auth, cancel]), source("b", user, [auth, cancel])]
    attempts, accepted = recombine(sources, {}, environment, TimedClient(simulated_client()), Phase1Config(),
                                   "mockshop")
    assert accepted == []
    assert attempts[0].kind == "recombined" and attempts[0].failure_reason == "execution.tool_error"
    assert attempts[0].source_blueprint_ids in (["a", "b"], ["b", "a"])


def test_recombined_blueprints_link_sources_and_re_validate():
    environment = mock_environment()
    result = run_phase1(mock_contexts(40), environment, simulated_client(seed=2),
                        Phase1Config(recombination=RecombinationConfig(max_per_partition=5)))
    recombined = [b for b in result.blueprints if b.kind == "recombined"]
    simple_ids = {b.blueprint_id: b for b in result.blueprints if b.kind == "simple"}
    assert recombined and result.stats.recombination_tried <= 5
    for blueprint in recombined:
        sources = [simple_ids[s] for s in blueprint.source_blueprint_ids]
        assert len(sources) >= 2 and {s.user_id for s in sources} == {blueprint.user_id}
        outcome = replay(blueprint.blueprint.actions, environment)
        assert outcome.verdict.passed and outcome.state_hash == blueprint.state_hash
        assert not environment.check_policy(outcome.before, outcome.trace, outcome.after)
        attempt = next(a for a in result.attempts if a.attempt_id == blueprint.attempt_id)
        assert [v.stage for v in attempt.verdicts] == ["format", "execution", "policy", "generation", "format",
                                                       "committee", "acceptance"]
        assert len(attempt.votes) == 3


def _pending_cancel(environment):
    db = environment.fresh_database()
    order = next(oid for oid, o in db.records("orders") if o["status"] == "pending")
    user = db.get("orders", order)["user_id"]
    auth = ActionCall(name="find_user", arguments={"email": f"{user}@example.com"})
    return user, auth, ActionCall(name="cancel_order", arguments={"order_id": order})


def test_the_scope_of_a_combination_is_the_union_of_its_sources_contexts():
    environment = mock_environment()
    contexts = mock_contexts(8)
    cancel_context = next(c for c in contexts if c.write_tools == ["cancel_order"])
    rename_context = next(c for c in contexts if c.write_tools == ["rename_user"])
    user, auth, cancel = _pending_cancel(environment)
    rename = ActionCall(name="rename_user", arguments={"user_id": user, "nickname": "zed"})
    first = source("a", user, [auth, cancel]).model_copy(update={"context_id": cancel_context.context_id})
    second = source("b", user, [auth, rename]).model_copy(update={"context_id": rename_context.context_id})
    by_id = {c.context_id: c for c in (cancel_context, rename_context)}
    scope = group_scope([first, second], by_id, environment)
    assert scope.write_tools == {"cancel_order", "rename_user"}
    assert scope.tools == set(cancel_context.tool_names) | set(rename_context.tool_names)
    # A source whose context is not at hand contributes its own (already checked) tools.
    alone = group_scope([first], {}, environment)
    assert alone.tools == {"find_user", "cancel_order"} and alone.write_tools == {"cancel_order"}
    only_cancel = group_scope([first, first], by_id, environment)
    verdict = check_scope(combine([first, second], environment, True).actions, environment, only_cancel)
    assert verdict.reason == "format.write_not_sampled" and verdict.details["tool"] == "rename_user"


def test_a_placeholder_instruction_from_the_recombiner_is_a_format_failure():
    environment = mock_environment()
    user, auth, cancel = _pending_cancel(environment)
    rename = ActionCall(name="rename_user", arguments={"user_id": user, "nickname": "zed"})
    sources = [source("a", user, [auth, cancel]), source("b", user, [auth, rename])]
    client = ScriptedClient(lambda request: {"instruction": "<instruction>"} if request.role == "recombiner"
                            else all_yes())
    attempts, accepted = recombine(sources, {}, environment, TimedClient(client), Phase1Config(), "mockshop")
    assert accepted == [] and len(attempts) == 1
    assert [(v.stage, v.passed) for v in attempts[0].verdicts] == [
        ("format", True), ("execution", True), ("policy", True), ("generation", True), ("format", False)]
    assert attempts[0].failure_reason == "format.placeholder_instruction"
    assert not any(r.role == "judge" for r in client.requests)  # no judge is paid for it

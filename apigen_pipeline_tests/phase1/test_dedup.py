from apigen_pipeline.phase1.dedup import deduplicate, instruction_tokens, jaccard
from apigen_pipeline.phase1.models import AcceptedBlueprint, ActionCall, Blueprint
from apigen_pipeline.phase1.settings import DedupConfig
from apigen_pipeline_tests.phase1.helpers import mock_environment

AUTH = ActionCall(name="find_user", arguments={"email": "user_000@example.com"})
CANCEL = ActionCall(name="cancel_order", arguments={"order_id": "O0001"})
RENAME = ActionCall(name="rename_user", arguments={"user_id": "user_000", "nickname": "zed"})


def accepted(bid: str, instruction: str, actions, outputs=()) -> AcceptedBlueprint:
    return AcceptedBlueprint(blueprint_id=bid, kind="simple", context_id=bid, attempt_id=bid,
                             blueprint=Blueprint(instruction=instruction, actions=list(actions), outputs=list(outputs)))


def marks(items, config: DedupConfig | None = None):
    return [(b.blueprint_id, b.duplicate_of, b.duplicate_kind)
            for b in deduplicate(items, mock_environment(), config or DedupConfig())]


def test_exact_duplicates_compare_write_calls_order_insensitively_and_ignore_reads():
    items = [accepted("a", "cancel my order and rename me please", [AUTH, CANCEL, RENAME]),
             accepted("b", "totally different words here", [RENAME, CANCEL]),
             accepted("c", "another phrasing entirely", [AUTH, CANCEL])]
    assert marks(items) == [("a", None, None), ("b", "a", "exact"), ("c", None, None)]


def test_different_arguments_are_not_exact_duplicates():
    other = ActionCall(name="cancel_order", arguments={"order_id": "O0002"})
    items = [accepted("a", "one two three", [AUTH, CANCEL]), accepted("b", "four five six", [AUTH, other])]
    assert marks(items) == [("a", None, None), ("b", None, None)]


def test_information_requests_without_writes_are_keyed_by_calls_and_outputs():
    items = [accepted("a", "what is the status of order one", [AUTH], ["pending"]),
             accepted("b", "what is the total of order two please", [AUTH], ["12.5"]),
             accepted("c", "status of order one, please tell me", [AUTH], ["pending"])]
    assert marks(items) == [("a", None, None), ("b", None, None), ("c", "a", "exact")]


def test_near_duplicates_by_instruction_jaccard_threshold():
    base = "you are a nurse and want order O0001 cancelled because it is no longer needed today"
    near = base + " thanks"  # 16 of 17 tokens shared: 0.94
    far = "you are a nurse and want your nickname changed to zed"
    items = [accepted("a", base, [AUTH, CANCEL]), accepted("b", near, [AUTH, RENAME]),
             accepted("c", far, [AUTH, ActionCall(name="rename_user", arguments={"user_id": "u", "nickname": "y"})])]
    assert jaccard(instruction_tokens(base), instruction_tokens(near)) >= 0.9
    assert marks(items) == [("a", None, None), ("b", "a", "near"), ("c", None, None)]
    assert marks(items, DedupConfig(near_duplicate_jaccard=1.0))[1] == ("b", None, None)


def test_dedup_can_be_disabled():
    items = [accepted("a", "x y", [CANCEL]), accepted("b", "x y", [CANCEL])]
    assert marks(items, DedupConfig(enabled=False)) == [("a", None, None), ("b", None, None)]

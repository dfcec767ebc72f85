from apigen_pipeline.simulated.roles.judge import judge_scores
from apigen_pipeline_tests.phase1.helpers import mock_environment


def test_judge_scores_detect_missing_identity_unasked_ids_and_unanswered_questions():
    environment = mock_environment()
    context = {"identity": {"email": "a@b.c"}}
    blueprint = {"instruction": "You are x. Your email is a@b.c. Cancel order O0001.",
                 "actions": [{"name": "cancel_order", "arguments": {"order_id": "O0001"}}], "outputs": []}
    assert judge_scores(blueprint, context, environment)[0] == {
        "correctness": 1, "completeness": 1, "satisfaction": 1, "creativity": 0}
    no_identity = {**blueprint, "instruction": "Cancel order O0001."}
    assert judge_scores(no_identity, context, environment)[0]["completeness"] == 0
    wrong_order = {**blueprint, "actions": [{"name": "cancel_order", "arguments": {"order_id": "O0002"}}]}
    assert judge_scores(wrong_order, context, environment)[0]["correctness"] == 0
    unanswered = {**blueprint, "instruction": blueprint["instruction"] + " You also want to know the total."}
    assert judge_scores(unanswered, context, environment)[0]["satisfaction"] == 0

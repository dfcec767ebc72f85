import pytest

from apigen_pipeline.phase1.models import ActionCall, Blueprint
from apigen_pipeline.phase1.prompts import (
    GENERATOR_SCHEMA,
    generator_request,
    judge_requests,
    load_template,
    tagged_json,
    tagged_text,
)
from apigen_pipeline_tests.phase1.helpers import mock_contexts, mock_environment


def test_generator_requests_share_a_cacheable_static_prefix_and_carry_tagged_context():
    environment = mock_environment()
    first, second = mock_contexts(2)
    a = generator_request(first, environment, "v1", 0, None, None, 0.7, 512)
    b = generator_request(second, environment, "v1", 0, None, None, 0.7, 512)
    assert a.messages[0].cacheable and a.messages[0].content == b.messages[0].content
    assert environment.policy_text in a.messages[0].content and '"cancel_order"' in a.messages[0].content
    assert not a.messages[1].cacheable
    context = tagged_json(a.messages[1].content, "context")
    assert context["context_id"] == first.context_id and context["domain_data"]["user_id"] == first.domain_data.user_id
    assert a.tags == {"context_id": first.context_id, "round": "0"} and a.prompt_version == "generator.v1"
    assert a.response_schema == GENERATOR_SCHEMA and a.role == "generator"
    assert tagged_text(a.messages[1].content, "feedback") is None


def test_revision_requests_carry_the_previous_blueprint_and_feedback():
    environment = mock_environment()
    context = mock_contexts(1)[0]
    request = generator_request(context, environment, "v1", 2, {"instruction": "old", "actions": []},
                                "do better", None, 512)
    assert tagged_json(request.messages[1].content, "previous_blueprint") == {"instruction": "old", "actions": []}
    assert tagged_text(request.messages[1].content, "feedback") == "do better"
    assert request.tags["round"] == "2"


def test_judge_requests_are_unique_per_judge_and_route_by_index():
    environment = mock_environment()
    blueprint = Blueprint(instruction="x", actions=[ActionCall(name="find_user", arguments={"email": "e"})])
    requests = judge_requests("s", 0, 3, blueprint, {"identity": {}}, "(no change)", environment, "mockshop", "v1",
                              0.0, 256)
    assert [r.tags["judge_index"] for r in requests] == ["0", "1", "2"]
    assert len({r.model_dump_json() for r in requests}) == 3
    assert tagged_json(requests[0].messages[1].content, "blueprint")["instruction"] == "x"
    assert tagged_text(requests[0].messages[1].content, "diff") == "(no change)"


def test_unknown_prompt_versions_fail_loudly():
    with pytest.raises(FileNotFoundError, match="generator.v99"):
        load_template("generator", "v99")

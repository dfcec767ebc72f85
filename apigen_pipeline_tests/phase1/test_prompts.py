import statistics

import pytest

from apigen_pipeline.llm.tokens import estimate_request_tokens, estimate_tokens
from apigen_pipeline.phase1.compact_records import expand
from apigen_pipeline.phase1.contexts import policy_excerpts
from apigen_pipeline.phase1.models import ActionCall, Blueprint
from apigen_pipeline.phase1.prompts import (
    GENERATOR_SCHEMA,
    dumps,
    fitting_generator_request,
    generator_request,
    judge_requests,
    load_template,
    tagged_json,
    tagged_text,
    tool_signature,
)
from apigen_pipeline.phase1.settings import PromptVersions
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


@pytest.fixture(scope="module")
def retail():
    from apigen_pipeline.environments.registry import load_environment
    from apigen_pipeline.phase1.contexts import ContextSampler, SamplingConfig

    environment = load_environment("retail")
    sampler = ContextSampler(environment, SamplingConfig(min_examples=3, max_examples=3), "retail")
    return environment, [sampler.sample("2026-12-01", index) for index in range(6)]


def test_the_lean_generator_prompt_carries_the_sampled_tools_and_their_policy_only(retail):
    environment, contexts = retail
    context = contexts[0]
    lean = generator_request(context, environment, "v2", 0, None, None, 0.7, 512)
    whole = generator_request(context, environment, "v1", 0, None, None, 0.7, 512)
    system, user = lean.messages[0].content, lean.messages[1].content
    unsampled = [spec.name for spec in environment.tool_specs if spec.name not in context.tool_names]
    assert unsampled and not any(f"{name}(" in system + user for name in unsampled)  # no signature of theirs
    assert all(tool_signature(spec) in user for spec in context.tools)
    assert environment.policy_text not in system + user and environment.policy_text in whole.messages[0].content
    seen = tagged_json(user, "context")
    assert [line.split("(")[0] for line in seen["tools"]] == context.tool_names
    assert [e["section_id"] for e in seen["policy_excerpts"]] == [e.section_id for e in context.policy_excerpts]
    assert estimate_tokens(system) < 0.1 * estimate_tokens(whole.messages[0].content)  # instructions only
    # The static prefix is one per domain: two contexts, one system message.
    assert generator_request(contexts[1], environment, "v2", 0, None, None, 0.7, 512).messages[0].content == system


def test_the_lean_judge_prompt_carries_the_called_tools_and_their_policy(retail):
    environment, _ = retail
    blueprint = Blueprint(instruction="x", actions=[ActionCall(name="find_user_id_by_email", arguments={"email": "e"}),
                                                    ActionCall(name="cancel_pending_order", arguments={})])
    request = judge_requests("s", 0, 1, blueprint, {"identity": {}}, "(no change)", environment, "retail", "v2",
                             0.0, 256)[0]
    seen = tagged_json(request.messages[1].content, "context")
    assert [line.split("(")[0] for line in seen["tools"]] == ["find_user_id_by_email", "cancel_pending_order"]
    sections = {e["section_id"] for e in seen["policy_excerpts"]}
    assert sections == {e.section_id for e in policy_excerpts(environment, ["find_user_id_by_email", "cancel_pending_order"])}
    assert sections < {s.section_id for s in environment.plugin.policy_sections}
    assert environment.policy_text not in request.messages[0].content


@pytest.mark.parametrize("version", ["v2", "v3"])
def test_a_small_window_shrinks_the_generator_context_examples_first_then_records(retail, version):
    environment, contexts = retail
    context = max(contexts, key=lambda c: sum(len(rows) for rows in c.domain_data.records.values()))
    full = generator_request(context, environment, version, 0, None, None, 0.7, 512)
    seen_examples = tagged_json(full.messages[1].content, "context")["examples"]
    size = estimate_request_tokens(full)
    unchanged, _ = fitting_generator_request(context, environment, version, 0, None, None, 0.7, 512, None)
    assert unchanged == full
    assert fitting_generator_request(context, environment, version, 0, None, None, 0.7, 512, size)[0] == full

    fewer_examples, context_json = fitting_generator_request(context, environment, version, 0, None, None, 0.7, 512,
                                                              size - 1)
    seen = tagged_json(fewer_examples.messages[1].content, "context")
    assert len(seen["examples"]) == len(context.examples) - 1 and expand(seen["domain_data"]) == \
        context.domain_data.model_dump(mode="json")
    assert estimate_request_tokens(fewer_examples) <= size - 1 and context_json in fewer_examples.messages[1].content

    no_examples = size - sum(estimate_tokens(dumps(e)) for e in seen_examples)
    fewer_records, _ = fitting_generator_request(context, environment, version, 0, None, None, 0.7, 512,
                                                 no_examples - 300)
    seen = tagged_json(fewer_records.messages[1].content, "context")
    kept = expand(seen["domain_data"]["records"])
    assert seen["examples"] == [] and estimate_request_tokens(fewer_records) <= no_examples - 300
    assert context.domain_data.user_id in kept["users"]
    assert 0 < sum(len(rows) for rows in kept.values()) < sum(len(rows) for rows in context.domain_data.records.values())


def test_a_revision_leaves_the_examples_out(retail):
    environment, contexts = retail
    context = contexts[0]
    first, _ = fitting_generator_request(context, environment, "v2", 0, None, None, 0.7, 512, None)
    revision, _ = fitting_generator_request(context, environment, "v2", 1, {"instruction": "old"}, "fix it", 0.7,
                                            512, None)
    assert len(tagged_json(first.messages[1].content, "context")["examples"]) == 3
    seen = tagged_json(revision.messages[1].content, "context")
    assert seen["examples"] == [] and seen["domain_data"] == context.domain_data.model_dump(mode="json")
    assert tagged_text(revision.messages[1].content, "feedback") == "fix it"


def test_the_v3_generator_prompt_packs_the_records_and_shows_policy_and_examples_as_written(retail):
    environment, contexts = retail
    for context in contexts:
        system, user = (m.content for m in generator_request(context, environment, "v3", 0, None, None, 0.7,
                                                              512).messages)
        seen = tagged_json(user, "context")
        assert expand(seen["domain_data"]) == context.domain_data.model_dump(mode="json")
        assert '"columns": ' in dumps(seen["domain_data"]["records"])  # products' variants at least
        assert "read_tools" not in seen and seen["write_tools"] == context.write_tools
        assert [line.split("(")[0] for line in seen["tools"]] == context.tool_names
        assert seen["policy_excerpts"] == [f"## {e.title}\n{e.text}" for e in context.policy_excerpts]
        assert seen["examples"] == [{"instruction": e.instruction, "actions": e.actions, "outputs": e.outputs}
                                    for e in context.examples]
        assert 'With "key": c it maps' in system and "Records may be tables" not in user  # how a table reads


def test_the_v3_judge_prompt_packs_the_records_it_is_given(retail):
    environment, contexts = retail
    records = contexts[0].domain_data.model_dump(mode="json")["records"]
    blueprint = Blueprint(instruction="x", actions=[ActionCall(name="find_user_id_by_email", arguments={"email": "e"})])
    by_version = {version: judge_requests("s", 0, 1, blueprint, {"identity": {}, "records": records}, "(no change)",
                                          environment, "retail", version, 0.0, 256)[0].messages[1].content
                  for version in ("v2", "v3")}
    plain, packed = (tagged_json(by_version[v], "context") for v in ("v2", "v3"))
    assert plain["records"] == records and expand(packed["records"]) == records
    assert estimate_tokens(by_version["v3"]) < estimate_tokens(by_version["v2"])
    assert packed["policy_excerpts"] == [f"## {e.title}\n{e.text}"
                                         for e in policy_excerpts(environment, ["find_user_id_by_email"])]


@pytest.mark.parametrize("domain", ["retail", "airline"])
def test_the_default_generator_prompt_p50_stays_under_4000_tokens(domain):
    # Issue 13: measured over 100 contexts of one batch (v2: retail p50 4,164, airline 4,013 estimated tokens).
    from apigen_pipeline.environments.registry import load_environment
    from apigen_pipeline.phase1.contexts import ContextSampler, SamplingConfig

    environment = load_environment(domain)
    sampler = ContextSampler(environment, SamplingConfig(), domain)
    version = PromptVersions().generator
    sizes = [estimate_request_tokens(generator_request(sampler.sample("2026-11-01", index), environment, version, 0,
                                                       None, None, 0.7, 2000))
             for index in range(100)]
    assert statistics.median(sizes) < 4000, (version, statistics.median(sizes))

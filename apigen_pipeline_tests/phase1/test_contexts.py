import time

import pytest

from apigen_pipeline.environments.registry import load_environment
from apigen_pipeline.phase1.contexts import (
    ContextSampler,
    SamplingConfig,
    TaskContext,
    context_row,
    context_seed,
)

MOCK_REF = "apigen_pipeline_tests.mock_domain:plugin"


@pytest.fixture(scope="module")
def sampler() -> ContextSampler:
    return ContextSampler(load_environment(MOCK_REF), SamplingConfig(), domain="mockshop")


def test_same_partition_and_index_give_identical_contexts(sampler):
    fresh = ContextSampler(load_environment(MOCK_REF), SamplingConfig(), domain="mockshop")
    assert sampler.sample("2026-11-25", 4) == fresh.sample("2026-11-25", 4)
    assert context_row(sampler.sample("2026-11-25", 4)) == context_row(fresh.sample("2026-11-25", 4))


def test_seed_depends_on_domain_batch_index_and_base_seed():
    seeds = {context_seed(d, b, i, s) for d in ("a", "b") for b in ("x", "y") for i in (0, 1) for s in (0, 1)}
    assert len(seeds) == 16
    assert all(0 <= seed < 2**63 for seed in seeds)


def test_a_context_has_everything_the_generator_needs(sampler):
    context = sampler.sample("2026-11-25", 1)
    assert 1 <= len(context.write_tools) <= 3
    assert context.read_tools[0] == "find_user"  # authentication always available
    assert set(context.write_tools) <= set(context.tool_names)
    assert any(e.section_id == "auth" for e in context.policy_excerpts)
    assert context.domain_data.user_id in context.domain_data.records["users"]
    assert context.persona.description
    assert 1 <= len(context.examples) <= 3
    assert TaskContext.model_validate_json(context.model_dump_json()) == context


def test_policy_excerpts_follow_the_sampled_tools(sampler):
    for index in range(50):
        context = sampler.sample("b", index)
        has_cancel_section = any(e.section_id == "cancel" for e in context.policy_excerpts)
        assert has_cancel_section == ("cancel_order" in context.tool_names)


def test_sampling_covers_users_and_personas(sampler):
    contexts = [sampler.sample("b", i) for i in range(200)]
    assert len({c.domain_data.user_id for c in contexts}) > 10
    assert len({c.persona.persona_id for c in contexts}) > 150
    assert {t for c in contexts for t in c.write_tools} == {"cancel_order", "rename_user"}


def test_sampling_is_cheap(sampler):
    started = time.perf_counter()
    for i in range(1000):
        sampler.sample("b", i)
    # Generous bound: a guard against pathological slowness, not the benchmark (bench/environments.py).
    assert time.perf_counter() - started < 5

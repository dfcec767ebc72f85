"""Task-context sampling (APIGen-MT Phase 1, "context sampling"): one context per blueprint attempt.

A context holds write tools from a random walk on the API dependency graph plus the reads they
need, the policy excerpts that govern them, one sampled user with the records the task may touch,
a persona, and few-shot examples. Its seed derives from (domain, batch, index) alone, so any
context can be re-made on any machine.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, Field, model_validator

from apigen_pipeline.environments.base import DomainSample, Environment, ExampleTask, ToolSpec
from apigen_pipeline.environments.dependency_graph import DependencyGraph
from apigen_pipeline.environments.personas import Persona, sample_persona
from apigen_pipeline.records import FrozenModel


class SamplingConfig(FrozenModel):
    """How contexts are sampled; every field is recorded in the config hash of each row."""

    contexts_per_partition: int = Field(default=20, ge=1, le=100_000)
    min_write_tools: int = Field(default=1, ge=1)
    max_write_tools: int = Field(default=3, ge=1)
    min_examples: int = Field(default=1, ge=0)
    max_examples: int = Field(default=3, ge=0)
    persona_pool: int = Field(default=5000, ge=1)
    base_seed: int = Field(default=0, description="Mixed into every (domain, batch, index) seed.")

    @model_validator(mode="after")
    def _ranges(self) -> SamplingConfig:
        if self.min_write_tools > self.max_write_tools:
            raise ValueError("min_write_tools must not exceed max_write_tools")
        if self.min_examples > self.max_examples:
            raise ValueError("min_examples must not exceed max_examples")
        return self


class PolicyExcerpt(BaseModel):
    section_id: str
    title: str
    text: str


class TaskContext(BaseModel):
    context_id: str
    domain: str
    batch: str
    index: int
    seed: int
    write_tools: list[str]
    read_tools: list[str]
    tools: list[ToolSpec]
    policy_excerpts: list[PolicyExcerpt]
    domain_data: DomainSample
    persona: Persona
    examples: list[ExampleTask] = Field(default_factory=list)

    @property
    def tool_names(self) -> list[str]:
        return [tool.name for tool in self.tools]


def policy_excerpts(environment: Environment, tools: Iterable[str]) -> list[PolicyExcerpt]:
    """The policy sections that apply to any of `tools` (and the general ones, which name no tool)."""
    names = set(tools)
    return [PolicyExcerpt(section_id=s.section_id, title=s.title, text=s.text)
            for s in environment.plugin.policy_sections
            if not s.tools or names & set(s.tools)]


def context_seed(domain: str, batch: str, index: int, base_seed: int = 0) -> int:
    digest = hashlib.sha256(f"{base_seed}|{domain}|{batch}|{index}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1  # fits a signed 64-bit column


class ContextSampler:
    """Samples contexts for one environment; build once per partition, call `sample(i)` per context."""

    def __init__(self, environment: Environment, config: SamplingConfig, domain: str | None = None):
        self.environment = environment
        self.config = config
        self.domain = domain or environment.name
        self.graph = DependencyGraph.from_plugin(environment.plugin)
        self._database = environment.fresh_database()
        self._specs = {spec.name: spec for spec in environment.tool_specs}
        self._auth_tools = list(environment.plugin.auth_tools)
        # The reads every task may need regardless of its writes (e.g. think, calculate) are not
        # added: the context lists what the walk needs, as the paper's API sampler does.

    def sample(self, batch: str, index: int) -> TaskContext:
        seed = context_seed(self.domain, batch, index, self.config.base_seed)
        rng = random.Random(seed)
        walk_length = rng.randint(self.config.min_write_tools, self.config.max_write_tools)
        writes = self.graph.random_walk(rng, walk_length)
        reads = self.graph.reads_needed(writes, self._auth_tools)
        tool_names = list(dict.fromkeys([*reads, *writes]))
        sample = self.environment.plugin.sample_domain_data(self._database, rng, writes)
        return TaskContext(
            context_id=f"{self.domain}-{batch}-{index:05d}",
            domain=self.domain,
            batch=batch,
            index=index,
            seed=seed,
            write_tools=list(dict.fromkeys(writes)),
            read_tools=reads,
            tools=[self._specs[name] for name in tool_names],
            policy_excerpts=self._excerpts(set(tool_names)),
            domain_data=sample,
            persona=sample_persona(rng, self.config.persona_pool),
            examples=self._examples(rng, set(writes)),
        )

    def _excerpts(self, tools: set[str]) -> list[PolicyExcerpt]:
        return policy_excerpts(self.environment, tools)

    def _examples(self, rng: random.Random, writes: set[str]) -> list[ExampleTask]:
        examples = list(self.environment.plugin.example_tasks)
        if not examples or self.config.max_examples == 0:
            return []
        count = min(len(examples), rng.randint(self.config.min_examples, self.config.max_examples))
        # Examples sharing a write tool with the task come first; the rest fill up in random order.
        related = [e for e in examples if writes & set(e.write_tools)]
        others = [e for e in examples if e not in related]
        rng.shuffle(related)
        rng.shuffle(others)
        return (related + others)[:count]


def context_row(context: TaskContext) -> dict[str, Any]:
    return {
        "context_id": context.context_id,
        "context_index": context.index,
        "seed": context.seed,
        "user_id": context.domain_data.user_id,
        "persona_id": context.persona.persona_id,
        "write_tools": context.write_tools,
        "read_tools": context.read_tools,
        "context": context.model_dump_json(),
    }

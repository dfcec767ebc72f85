"""The Environment contract: what a domain plugin provides and how the pipeline uses it.

A plugin is data plus plain functions (an `EnvironmentPlugin`); `Environment` wraps one with a
seed and a scale and gives sessions that execute tool calls. Nothing here imports an LLM or Dagster.

Optional hooks for the offline simulated backend (`apigen_pipeline.simulated`), which plays every
LLM role without a model and takes its domain knowledge from them; real models never need them:
- `EnvironmentPlugin.propose_actions(sample, write_tools, rng)`: a grounded ground-truth action list
  for a sampled user (the simulated generator's task);
- `ToolSpec.utterance`: how a user asks for the tool, with `{argument}` slots; the simulated user says
  it and the simulated agent inverts it into a call;
- `EnvironmentPlugin.auth_tools` (which contexts always include): how the simulated generator and
  agent authenticate the user.
A run whose generator or agent is simulated refuses a plugin lacking these before anything is sent
(`simulated.hooks`), naming the missing ones.

Environments written for another harness fit the same contract (tau-bench's style: tools that take the
whole data set as a plain dict, mutate it in place and return `"Error: ..."` strings; a fixed data set):
- `tool_data="dict"`: each tool receives a dict-shaped view of its session's copy-on-write database
  (`dict_database.DictTables`): tables of records keyed by id, records private to the session;
- a returned string starting with `Error:` is an error exactly like a raised `ToolError`: the state is
  rolled back and the string is the observation (any plugin, any tool);
- `load_data` instead of `generate_data`: a fixed data set (a `scale` other than 1 is refused);
- `terminating_tools` (e.g. `transfer_to_human_agents`): a successful call ends the episode (reason
  `transfer`), and verification expects it exactly when the blueprint's actions end with one;
- a `ToolSpec` may leave `kind` unset: it is inferred by probing (`tool_kinds`), and a tool declared
  `read` that changes the state on a probe breaks the contract;
- per-record business rules are policy checks (`record_rule`).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any, Literal

import jsonschema
from pydantic import BaseModel, Field

from apigen_pipeline.environments.database import (
    Database,
    Record,
    SeedSnapshot,
    StateDiff,
    Tables,
    tables_problem,
)
from apigen_pipeline.environments.dict_database import DictTables
from apigen_pipeline.environments.tool_kinds import declared_read_problems, infer_tool_kinds

ToolKind = Literal["read", "write"]
ToolData = Literal["database", "dict"]
ERROR_PREFIX = "Error:"


class ToolError(Exception):
    """A domain error a tool reports to the caller as `Error: <message>`; state is rolled back."""


class EnvironmentContractError(ValueError):
    """A plugin that does not meet the Environment contract; the message names the problem."""


class ToolSpec(BaseModel):
    """The public face of a tool: what LLMs see and what the dependency graph is built from."""

    name: str
    description: str
    parameters: dict[str, Any]
    # None: inferred when the environment is built (a probe that changes the state makes it a write).
    kind: ToolKind | None = None
    # Fields the tool's observation can yield (e.g. "user_id", "order_id"): the graph's edge sources.
    returns: list[str] = Field(default_factory=list)
    # A sentence a simulated user would say to ask for this call, with {argument} slots. Optional hook of
    # the simulated backend (see the module notes).
    utterance: str | None = None

    def openai_schema(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "parameters": self.parameters}


@dataclass(frozen=True)
class Tool:
    spec: ToolSpec
    function: Callable[..., Any]

    @property
    def name(self) -> str:
        return self.spec.name


@dataclass(frozen=True)
class PolicySection:
    section_id: str
    title: str
    text: str
    tools: tuple[str, ...] = ()  # tools this section governs; an empty tuple means "applies to all"


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class ExecutedCall:
    name: str
    arguments: dict[str, Any]
    observation: str
    ok: bool
    kind: ToolKind | None  # None when the tool is unknown


@dataclass(frozen=True)
class PolicyViolation:
    rule: str
    message: str
    call_index: int | None = None


PolicyCheckFn = Callable[[Database, Sequence[ExecutedCall], Database], list[str]]


# Rule names every domain with the rule uses, so failure reasons read alike across domains
# (`policy.authenticated_before_write` in airline and retail; the Phase 2 audit's rule is named after it).
AUTHENTICATED_BEFORE_WRITE = "authenticated_before_write"
SINGLE_USER = "single_user"
SHARED_POLICY_RULES = (AUTHENTICATED_BEFORE_WRITE, SINGLE_USER)


@dataclass(frozen=True)
class PolicyCheck:
    """One executable rule over (state before, action trace, state after); returns violation messages."""

    rule: str
    description: str
    check: PolicyCheckFn

    def __call__(self, before: Database, trace: Sequence[ExecutedCall], after: Database) -> list[PolicyViolation]:
        return [PolicyViolation(self.rule, message) for message in self.check(before, trace, after)]


RecordViolation = Callable[[Record, ExecutedCall], "str | None"]


def record_rule(rule: str, description: str, tools: Sequence[str], table: str, id_argument: str,
                violation: RecordViolation) -> PolicyCheck:
    """A per-record business rule as a policy check (the pattern for rules the tools do not enforce).

    For every successful call of one of `tools`, the record `table[arguments[id_argument]]` as it was
    when the conversation began is handed to `violation`, which says why the call breaks the rule (or
    None). E.g. "orders over $1,000 are cancelled by a human agent only":
    `record_rule("large_order_needs_human", "...", ["cancel_order"], "orders", "order_id",
    lambda order, call: "the order is over $1,000" if order["total"] > 1000 else None)`.
    """
    names = frozenset(tools)

    def check(before: Database, trace: Sequence[ExecutedCall], after: Database) -> list[str]:
        problems: list[str] = []
        for index, call in enumerate(trace):
            if not call.ok or call.name not in names:
                continue
            record = before.get(table, str(call.arguments.get(id_argument)))
            problem = violation(record, call) if record is not None else None
            if problem:
                problems.append(f"call {index} ({call.name}): {problem}")
        return problems

    return PolicyCheck(rule, description, check)


class ExampleTask(BaseModel):
    """A few-shot example: an instruction and its ground truth actions/outputs."""

    instruction: str
    actions: list[dict[str, Any]]
    outputs: list[str] = Field(default_factory=list)
    write_tools: list[str] = Field(default_factory=list)


class DomainSample(BaseModel):
    """Domain data sampled for one task context: one user and the records the task may touch."""

    user_id: str
    records: dict[str, dict[str, Any]]  # table -> {id: record}
    # How the user can identify themselves, e.g. {"email": ...} or {"first_name":..., "zip":...}.
    identity: dict[str, Any]


DomainSampler = Callable[[Database, random.Random, Sequence[str]], DomainSample]
ActionProposer = Callable[[DomainSample, Sequence[str], random.Random], "list[ToolCall] | None"]


@dataclass(frozen=True)
class EnvironmentPlugin:
    """Everything a domain provides. Validate with `registry.validate_plugin` before use."""

    name: str
    tools: Sequence[Tool]
    policy_sections: Sequence[PolicySection]
    # (seed, scale) -> tables; same seed, same bytes. None for a fixed data set (`load_data`).
    generate_data: Callable[[int, float], Tables] | None
    policy_checks: Sequence[PolicyCheck]
    sample_domain_data: DomainSampler
    example_tasks: Sequence[ExampleTask] = ()
    # A fixed data set (`() -> tables`) for plugins without a generator (`generate_data=None`).
    load_data: Callable[[], Tables] | None = None
    # What a tool function's first argument is: the `Database`, or a plain-dict view of it (`dict_database`).
    tool_data: ToolData = "database"
    # Tools whose successful call ends the conversation (e.g. a transfer to a human agent).
    terminating_tools: Sequence[str] = ()
    # Tool pairs (a, b) the policy forbids in one task, removed from the dependency graph.
    forbidden_pairs: Sequence[tuple[str, str]] = ()
    # Tools that authenticate the user; a context always includes one.
    auth_tools: Sequence[str] = ()
    # Proposes a grounded ground-truth action list for a sample. Optional hook of the offline simulated
    # backend (see the module notes); the pipeline itself never calls it.
    propose_actions: ActionProposer | None = None
    description: str = ""
    default_seed: int = 0
    # Per-table record-count scale factors of the default size are owned by generate_data.
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def policy_text(self) -> str:
        return "\n\n".join(f"## {s.title}\n{s.text}" for s in self.policy_sections)


class Environment:
    """A plugin bound to a seed and a scale: the seeded database is built once and shared read-only.

    Tools whose spec leaves `kind` unset get it from probes here (which builds the database at once);
    `plugin` is then the plugin with every kind filled in. A fixed data set refuses a scale other than 1.
    """

    def __init__(self, plugin: EnvironmentPlugin, seed: int | None = None, scale: float = 1.0):
        if plugin.generate_data is None and scale != 1:
            raise EnvironmentContractError(
                f"environment '{plugin.name}' has a fixed data set (load_data, no generator): its scale must be 1, "
                f"got {scale}")
        self.plugin = plugin
        self.seed = plugin.default_seed if seed is None else seed
        self.scale = scale
        self._bind_tools()
        self._declared_reads = tuple(t.name for t in plugin.tools if t.spec.kind == "read")
        undeclared = [t.name for t in plugin.tools if t.spec.kind is None]
        if undeclared:
            kinds, problems = infer_tool_kinds(self, undeclared)
            if problems:
                raise EnvironmentContractError(f"environment '{plugin.name}' does not meet the contract: "
                                               + "; ".join(problems))
            self.plugin = replace(plugin, tools=[
                replace(t, spec=t.spec.model_copy(update={"kind": kinds[t.name]})) if t.name in kinds else t
                for t in plugin.tools])
            self._bind_tools()

    def _bind_tools(self) -> None:
        self._tools = {tool.name: tool for tool in self.plugin.tools}
        self._validators = {
            tool.name: jsonschema.Draft202012Validator(tool.spec.parameters) for tool in self.plugin.tools
        }

    @property
    def name(self) -> str:
        return self.plugin.name

    @cached_property
    def snapshot(self) -> SeedSnapshot:
        plugin = self.plugin
        if plugin.generate_data is not None:
            return SeedSnapshot(plugin.generate_data(self.seed, self.scale))
        assert plugin.load_data is not None  # the contract check requires one of the two
        tables = plugin.load_data()
        problem = tables_problem(tables)
        if problem is not None:
            raise EnvironmentContractError(f"environment '{plugin.name}': load_data {problem}")
        return SeedSnapshot(tables)

    @property
    def tool_specs(self) -> list[ToolSpec]:
        return [tool.spec for tool in self.plugin.tools]

    def tool_spec(self, name: str) -> ToolSpec | None:
        tool = self._tools.get(name)
        return tool.spec if tool else None

    @property
    def write_tools(self) -> list[str]:
        return [t.name for t in self.plugin.tools if t.spec.kind == "write"]

    @property
    def terminating_tools(self) -> frozenset[str]:
        return frozenset(self.plugin.terminating_tools)

    @property
    def policy_text(self) -> str:
        return self.plugin.policy_text

    def fresh_database(self) -> Database:
        return Database(self.snapshot)

    def fingerprint(self) -> str:
        return Database(self.snapshot).state_hash()

    def new_session(self, database: Database | None = None) -> Session:
        return Session(self, database or self.fresh_database())

    def argument_errors(self, name: str, arguments: Any) -> str | None:
        """Why a call is malformed (unknown tool, bad arguments), or None when it is well formed."""
        tool = self._tools.get(name)
        if tool is None:
            return f"unknown tool '{name}'"
        if not isinstance(arguments, dict):
            return f"arguments of '{name}' must be an object, got {type(arguments).__name__}"
        error = jsonschema.exceptions.best_match(self._validators[name].iter_errors(arguments))
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path) or "arguments"
            return f"invalid arguments for '{name}' at {where}: {error.message}"
        return None

    def execute(self, database: Database, name: str, arguments: Any) -> ExecutedCall:
        """Run one call. Errors come back as `Error: ...` observations with the state unchanged."""
        problem = self.argument_errors(name, arguments)
        tool = self._tools.get(name)
        kind = tool.spec.kind if tool else None
        if problem is not None or tool is None:
            return ExecutedCall(name, arguments if isinstance(arguments, dict) else {}, f"Error: {problem}", False, kind)
        # Only a read is trusted to leave the state alone (the contract check probes that it does).
        savepoint = database.savepoint() if kind != "read" else None
        observation, ok = self._invoke(tool, database, arguments)
        if not ok and savepoint is not None:
            database.rollback(savepoint)
        return ExecutedCall(name, arguments, observation, ok, kind)

    def _invoke(self, tool: Tool, database: Database, arguments: dict[str, Any]) -> tuple[str, bool]:
        view = DictTables(database) if self.plugin.tool_data == "dict" else None
        try:
            result = tool.function(view if view is not None else database, **arguments)
            if isinstance(result, str) and result.startswith(ERROR_PREFIX):
                return result, False  # the error-string convention: the same as a raised ToolError
            return render_observation(result), True
        except ToolError as error:
            return f"{ERROR_PREFIX} {error}", False
        except Exception as error:  # a bug in a plugin tool (or a result JSON cannot hold) must not crash a batch
            return f"{ERROR_PREFIX} internal tool failure: {type(error).__name__}: {error}", False
        finally:
            if view is not None:
                view.settle()

    def check_policy(self, before: Database, trace: Sequence[ExecutedCall], after: Database) -> list[PolicyViolation]:
        violations: list[PolicyViolation] = []
        for check in self.plugin.policy_checks:
            violations.extend(check(before, trace, after))
        return violations

    def sample_domain_data(self, rng: random.Random, write_tools: Sequence[str]) -> DomainSample:
        return self.plugin.sample_domain_data(self.fresh_database(), rng, write_tools)

    def tool_kind_problems(self) -> list[str]:
        """The contract check of the declared kinds: a tool declared `read` must not change the state on a probe."""
        return declared_read_problems(self, self._declared_reads)


class Session:
    """One conversation's (or one replay's) database plus the trace of calls made on it."""

    def __init__(self, environment: Environment, database: Database):
        self.environment = environment
        self.database = database
        self.trace: list[ExecutedCall] = []

    def execute(self, name: str, arguments: Any) -> ExecutedCall:
        call = self.environment.execute(self.database, name, arguments)
        self.trace.append(call)
        return call

    def state_hash(self) -> str:
        return self.database.state_hash()

    def diff_from_seed(self) -> StateDiff:
        return self.environment.fresh_database().diff(self.database)


def render_observation(result: Any) -> str:
    """Tool return values become the observation text the agent sees (JSON for structures)."""
    if isinstance(result, str):
        return result
    import json

    return json.dumps(result, sort_keys=True, ensure_ascii=False)

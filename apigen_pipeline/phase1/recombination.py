"""Reverse task recombination: 2-3 accepted simple blueprints of one user become one harder task.

Actions and outputs are concatenated (a repeated identical read, such as authenticating a second
time, is dropped), the result is re-executed on a fresh database and re-checked against the policy
(earlier steps change the state later steps see, so a combination can fail where its parts passed),
the recombiner role writes one instruction, and the committee and acceptance rule decide as for
simple blueprints. The format rules apply twice: to the combined actions first (the union of the
sources' context tools, see `group_scope`), then to the recombiner's instruction (placeholder, length).
Failures are kept as attempts with their reasons; accepted ones link their sources.
"""

from __future__ import annotations

import hashlib
import random
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from apigen_pipeline.environments.base import Environment
from apigen_pipeline.environments.database import canonical_json
from apigen_pipeline.llm.types import LLMResult
from apigen_pipeline.phase1.committee import JudgeSubject, decision_verdicts, run_committee
from apigen_pipeline.phase1.contexts import TaskContext
from apigen_pipeline.phase1.models import (
    AcceptedBlueprint,
    ActionCall,
    Blueprint,
    BlueprintAttempt,
    CommitteeDecision,
    JudgeVote,
    StageVerdict,
)
from apigen_pipeline.phase1.prompts import judge_context, recombiner_request
from apigen_pipeline.phase1.settings import Phase1Config, RecombinationConfig
from apigen_pipeline.phase1.timed_client import TimedClient
from apigen_pipeline.phase1.validation.format import check_instruction, check_scope
from apigen_pipeline.phase1.validation.generation import llm_failure_verdict, parsed_reply
from apigen_pipeline.phase1.validation.scope import ToolScope
from apigen_pipeline.phase1.validation.staged import StagedValidation, validate_blueprint


def plan_groups(sources: Sequence[AcceptedBlueprint], config: RecombinationConfig,
                domain: str) -> list[list[AcceptedBlueprint]]:
    """Seeded groups of `min..max` blueprints sharing a user (and persona, if configured)."""
    by_owner: dict[tuple[str, ...], list[AcceptedBlueprint]] = defaultdict(list)
    for blueprint in sources:
        if blueprint.kind != "simple":
            continue
        owner = (blueprint.user_id,) if config.group_by == "user" else (blueprint.user_id, blueprint.persona_id)
        by_owner[owner].append(blueprint)
    rng = random.Random(f"recombination|{config.seed}|{domain}")
    groups: list[list[AcceptedBlueprint]] = []
    for owner in sorted(by_owner):
        members = sorted(by_owner[owner], key=lambda b: b.blueprint_id)
        rng.shuffle(members)
        while len(members) >= config.min_group_size and len(groups) < config.max_per_partition:
            size = min(len(members), rng.randint(config.min_group_size, config.max_group_size))
            groups.append(members[:size])
            members = members[size:]
    return groups


def combine(sources: Sequence[AcceptedBlueprint], environment: Environment, drop_repeated_reads: bool) -> Blueprint:
    """Concatenated actions and outputs; the instruction is a placeholder until the recombiner writes one."""
    actions: list[ActionCall] = []
    seen_reads: set[str] = set()
    for source in sources:
        for action in source.blueprint.actions:
            spec = environment.tool_spec(action.name)
            if spec is not None and spec.kind == "read" and drop_repeated_reads:
                key = canonical_json([action.name, action.arguments])
                if key in seen_reads:
                    continue
                seen_reads.add(key)
            actions.append(action)
    outputs = list(dict.fromkeys(o for s in sources for o in s.blueprint.outputs))
    instruction = "\n".join(s.blueprint.instruction for s in sources)
    return Blueprint(instruction=instruction, actions=actions, outputs=outputs)


def group_scope(sources: Sequence[AcceptedBlueprint], contexts_by_id: Mapping[str, TaskContext],
                environment: Environment) -> ToolScope:
    """The union of the sources' context tools. A source whose context is not given contributes the tools
    of its own actions, which were checked against that context when it was accepted."""
    scopes = []
    for source in sources:
        context = contexts_by_id.get(source.context_id)
        if context is not None:
            scopes.append(ToolScope.of_context(context))
            continue
        names = frozenset(a.name for a in source.blueprint.actions)
        scopes.append(ToolScope(tools=names, write_tools=frozenset(
            n for n in names if (spec := environment.tool_spec(n)) is not None and spec.kind == "write")))
    return ToolScope.union(scopes)


def group_id(sources: Sequence[AcceptedBlueprint]) -> str:
    digest = hashlib.sha256("|".join(s.blueprint_id for s in sources).encode()).hexdigest()[:12]
    return f"rc-{digest}"


@dataclass
class _Candidate:
    group_id: str
    sources: list[AcceptedBlueprint]
    staged: StagedValidation
    context: dict
    judge_view: dict
    verdicts: list[StageVerdict]
    request_keys: list[str]
    blueprint: Blueprint


def recombine(sources: Sequence[AcceptedBlueprint], contexts_by_id: Mapping[str, TaskContext],
              environment: Environment, client: TimedClient, config: Phase1Config,
              domain: str) -> tuple[list[BlueprintAttempt], list[AcceptedBlueprint]]:
    settings = config.recombination
    if not settings.enabled or settings.max_per_partition == 0:
        return [], []
    candidates = []
    for group in plan_groups(sources, settings, domain):
        combined = combine(group, environment, settings.drop_repeated_reads)
        in_scope = check_scope(combined.actions, environment, group_scope(group, contexts_by_id, environment))
        staged = (validate_blueprint(combined, environment, [in_scope]) if in_scope.passed
                  else StagedValidation(blueprint=combined, verdicts=[in_scope]))
        context, judge_view = _views(group, contexts_by_id, domain)
        candidates.append(_Candidate(group_id(group), group, staged, context, judge_view, list(staged.verdicts), [],
                                     combined))
    writable = [c for c in candidates if c.staged.passed]
    requests = [recombiner_request(c.group_id, c.context, [s.blueprint for s in c.sources], c.blueprint, environment,
                                   domain, config.prompts.recombiner, config.generator_temperature,
                                   config.max_tokens) for c in writable]
    for candidate, result in zip(writable, client.complete_many(requests), strict=True):
        candidate.request_keys.append(result.request_key)
        verdict = _instruction_verdict(result) if result.ok else llm_failure_verdict("generation", result)
        candidate.verdicts.append(verdict)
        if verdict.passed:
            instruction = str(parsed_reply(result)["instruction"]).strip()
            candidate.blueprint = candidate.blueprint.model_copy(update={"instruction": instruction})
            candidate.verdicts.append(check_instruction(instruction, config.validity))
    judged = [c for c in writable if c.verdicts[-1].passed]
    subjects = [JudgeSubject(subject_id=f"{c.group_id}-r0", round=0, blueprint=c.blueprint, context=c.judge_view,
                             diff_text=c.staged.execution.diff_text if c.staged.execution else "")
                for c in judged]
    outcomes = dict(zip((c.group_id for c in judged), run_committee(subjects, client, environment, domain, config),
                        strict=True))
    attempts: list[BlueprintAttempt] = []
    accepted: list[AcceptedBlueprint] = []
    for candidate in candidates:
        votes, decision = outcomes.get(candidate.group_id, ([], None))
        if decision is not None:
            candidate.verdicts.extend(decision_verdicts(decision, config))
            candidate.request_keys.extend(v.request_key for v in votes)
        attempt = _attempt(candidate, votes, decision, config)
        attempts.append(attempt)
        if attempt.accepted:
            accepted.append(_accepted(candidate, attempt))
    return attempts, accepted


def _instruction_verdict(result: LLMResult) -> StageVerdict:
    reply = parsed_reply(result)
    instruction = reply.get("instruction") if isinstance(reply, dict) else None
    if isinstance(instruction, str) and instruction.strip():
        return StageVerdict(stage="generation", passed=True)
    return StageVerdict(stage="generation", passed=False, reason="generation.invalid_output",
                        details={"error": "the recombiner reply has no non-empty 'instruction'"})


def _views(group: Sequence[AcceptedBlueprint], contexts_by_id: Mapping[str, TaskContext],
           domain: str) -> tuple[dict, dict]:
    first = group[0]
    first_context = contexts_by_id.get(first.context_id)
    persona = first_context.persona.description if first_context else ""
    records: dict[str, dict] = {}
    for source in group:
        source_context = contexts_by_id.get(source.context_id)
        if source_context is None:
            continue
        for table, rows in source_context.domain_data.records.items():
            records.setdefault(table, {}).update(rows)
    context = {"domain": domain, "user_id": first.user_id, "identity": first.identity, "persona": persona}
    return context, judge_context(domain, first.user_id, first.identity, persona, records)


def _attempt(candidate: _Candidate, votes: list[JudgeVote], decision: CommitteeDecision | None,
             config: Phase1Config) -> BlueprintAttempt:
    failed = next((v for v in candidate.verdicts if not v.passed), None)
    accepted = failed is None and candidate.verdicts[-1].stage == "acceptance"
    execution = candidate.staged.execution
    first = candidate.sources[0]
    return BlueprintAttempt(
        attempt_id=f"{candidate.group_id}-r0", context_id=candidate.group_id, kind="recombined", round=0,
        prompt_version=f"recombiner.{config.prompts.recombiner}", blueprint=candidate.blueprint,
        verdicts=candidate.verdicts, votes=votes, decision=decision,
        state_hash=execution.state_hash if execution else None, diff=execution.diff if execution else [],
        diff_text=execution.diff_text if execution else "", status="accepted" if accepted else "rejected",
        failure_stage=failed.stage if failed else None, failure_reason=failed.reason if failed else None,
        request_keys=candidate.request_keys, user_id=first.user_id, persona_id=first.persona_id,
        source_blueprint_ids=[s.blueprint_id for s in candidate.sources])


def _accepted(candidate: _Candidate, attempt: BlueprintAttempt) -> AcceptedBlueprint:
    first = candidate.sources[0]
    return AcceptedBlueprint(
        blueprint_id=f"bp-{candidate.group_id}", kind="recombined", context_id=candidate.group_id,
        attempt_id=attempt.attempt_id, blueprint=candidate.blueprint,
        source_blueprint_ids=attempt.source_blueprint_ids,
        rounds_used=max(s.rounds_used for s in candidate.sources), user_id=first.user_id,
        persona_id=first.persona_id, identity=first.identity, state_hash=attempt.state_hash or "",
        diff=attempt.diff, voted_score=attempt.decision.voted_score if attempt.decision else 0)

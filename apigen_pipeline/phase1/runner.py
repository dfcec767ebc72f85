"""`run_phase1`: contexts in, verified blueprints (and every attempt on the way) out.

Rounds run across all still-active contexts at once: one `complete_many` for the generator, one for
all judges, one for the summarizer per round, so a gateway can fan a whole partition out at once.
Per round: generate -> format -> execution -> policy -> committee -> accept, or summarize -> revise.
Then reverse task recombination and dedup.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from apigen_pipeline.environments.base import Environment
from apigen_pipeline.llm.client import LLMClient
from apigen_pipeline.llm.context_window import prompt_room
from apigen_pipeline.phase1.committee import JudgeSubject, decision_verdicts, run_committee
from apigen_pipeline.phase1.contexts import TaskContext
from apigen_pipeline.phase1.dedup import deduplicate
from apigen_pipeline.phase1.feedback import failure_errors, feedback_request, plan_from
from apigen_pipeline.phase1.models import (
    AcceptedBlueprint,
    AttemptStatus,
    Blueprint,
    BlueprintAttempt,
    CommitteeDecision,
    JudgeVote,
    Phase1Result,
    Phase1Timings,
    StageVerdict,
)
from apigen_pipeline.phase1.prompts import fitting_generator_request, judge_context
from apigen_pipeline.phase1.recombination import recombine
from apigen_pipeline.phase1.settings import Phase1Config
from apigen_pipeline.phase1.stats import phase1_stats
from apigen_pipeline.phase1.timed_client import TimedClient
from apigen_pipeline.phase1.validation.execution import ExecutionOutcome
from apigen_pipeline.phase1.validation.generation import check_generation
from apigen_pipeline.phase1.validation.scope import ToolScope
from apigen_pipeline.phase1.validation.staged import validate_payload


@dataclass
class _ContextState:
    context: TaskContext
    previous: dict[str, Any] | None = None  # the last blueprint as written, shown to the revision
    plan: str | None = None
    # The context as the generator sees it, rendered once for the first draft (False) and once for revisions
    # (True), and reused by every round's request.
    rendered: dict[bool, str] = field(default_factory=dict)


@dataclass
class _Draft:
    """One attempt while its round is in progress."""

    state: _ContextState
    round: int
    prompt_version: str
    blueprint: Blueprint | None
    verdicts: list[StageVerdict]
    execution: ExecutionOutcome | None
    request_keys: list[str]
    payload: dict[str, Any] | None = None  # the raw blueprint object, kept even when it fails the format check
    votes: list[JudgeVote] = field(default_factory=list)
    decision: CommitteeDecision | None = None
    plan: str | None = None

    @property
    def ready_for_committee(self) -> bool:
        return all(v.passed for v in self.verdicts) and self.verdicts[-1].stage == "policy"

    @property
    def accepted(self) -> bool:
        return self.verdicts[-1].stage == "acceptance" and self.verdicts[-1].passed

    def to_attempt(self, status: AttemptStatus) -> BlueprintAttempt:
        context = self.state.context
        failed = next((v for v in self.verdicts if not v.passed), None)
        execution = self.execution
        return BlueprintAttempt(
            attempt_id=attempt_id(context.context_id, self.round), context_id=context.context_id, kind="simple",
            round=self.round, prompt_version=self.prompt_version, blueprint=self.blueprint,
            verdicts=self.verdicts, votes=self.votes, decision=self.decision, feedback_plan=self.plan,
            state_hash=execution.state_hash if execution else None, diff=execution.diff if execution else [],
            diff_text=execution.diff_text if execution else "", status=status,
            failure_stage=failed.stage if failed else None, failure_reason=failed.reason if failed else None,
            request_keys=self.request_keys, user_id=context.domain_data.user_id,
            persona_id=context.persona.persona_id)


def attempt_id(context_id: str, round_index: int) -> str:
    return f"{context_id}-r{round_index}"


def simple_blueprint_id(context_id: str) -> str:
    return f"bp-{context_id}"


def run_phase1(contexts: Sequence[TaskContext], environment: Environment, client: LLMClient,
               config: Phase1Config, domain: str | None = None) -> Phase1Result:
    started = time.perf_counter()
    domain = domain or environment.name
    timed = TimedClient(client)
    rounds = config.feedback_rounds(domain)
    attempts: list[BlueprintAttempt] = []
    accepted: list[AcceptedBlueprint] = []
    active = [_ContextState(context) for context in contexts]
    for round_index in range(rounds + 1):
        if not active:
            break
        drafts = _generate_and_validate(active, round_index, environment, domain, config, timed)
        _judge(drafts, environment, domain, config, timed)
        failed = [d for d in drafts if not d.accepted]
        last_round = round_index == rounds
        if not last_round:
            _summarize(failed, environment, domain, config, timed)
        for draft in drafts:
            status: AttemptStatus = "accepted" if draft.accepted else ("rejected" if last_round else "revised")
            attempt = draft.to_attempt(status)
            attempts.append(attempt)
            if draft.accepted:
                accepted.append(_accepted_simple(draft, attempt))
        active = []
        for draft in failed:
            if not last_round:
                draft.state.previous = draft.payload or draft.state.previous
                draft.state.plan = draft.plan
                active.append(draft.state)
    simple = deduplicate(accepted, environment, config.dedup)
    contexts_by_id = {c.context_id: c for c in contexts}
    recombined_attempts, recombined = recombine([b for b in simple if b.kept], contexts_by_id, environment,
                                                timed, config, domain)
    blueprints = deduplicate([*accepted, *recombined], environment, config.dedup)
    all_attempts = [*attempts, *recombined_attempts]
    stats = phase1_stats(contexts, all_attempts, blueprints, timed.requests, timed.failures)
    timings = Phase1Timings(total_s=time.perf_counter() - started, llm_s=timed.llm_s)
    return Phase1Result(domain=domain, feedback_rounds=rounds, attempts=all_attempts, blueprints=blueprints,
                        stats=stats, timings=timings)


def _generate_and_validate(active: list[_ContextState], round_index: int, environment: Environment, domain: str,
                           config: Phase1Config, client: TimedClient) -> list[_Draft]:
    # A model with a small context window gets a shrunk context (fewer examples, then fewer records).
    room = prompt_room(client.context_window("generator"), config.max_tokens)
    requests = []
    for state in active:
        revising = state.plan is not None
        request, state.rendered[revising] = fitting_generator_request(
            state.context, environment, config.prompts.generator, round_index, state.previous, state.plan,
            config.generator_temperature, config.max_tokens, room, state.rendered.get(revising))
        requests.append(request)
    results = client.complete_many(requests)
    drafts = []
    for state, request, result in zip(active, requests, results, strict=True):
        payload, generation = check_generation(result)
        if payload is None:
            drafts.append(_Draft(state, round_index, request.prompt_version or "", None, [generation], None,
                                 [result.request_key]))
            continue
        staged = validate_payload(payload, environment, ToolScope.of_context(state.context), config.validity)
        drafts.append(_Draft(state, round_index, request.prompt_version or "", staged.blueprint,
                             [generation, *staged.verdicts], staged.execution, [result.request_key],
                             payload=payload))
    return drafts


def _judge(drafts: list[_Draft], environment: Environment, domain: str, config: Phase1Config,
           client: TimedClient) -> None:
    ready = [d for d in drafts if d.ready_for_committee]
    subjects = [JudgeSubject(subject_id=attempt_id(d.state.context.context_id, d.round), round=d.round,
                             blueprint=d.blueprint, context=_judge_view(d.state.context, domain),  # type: ignore[arg-type]
                             diff_text=d.execution.diff_text if d.execution else "")
                for d in ready]
    for draft, (votes, decision) in zip(ready, run_committee(subjects, client, environment, domain, config),
                                        strict=True):
        draft.votes = votes
        draft.decision = decision
        draft.verdicts.extend(decision_verdicts(decision, config))
        draft.request_keys.extend(v.request_key for v in votes)


def _judge_view(context: TaskContext, domain: str) -> dict:
    sample = context.domain_data
    return judge_context(domain, sample.user_id, sample.identity, context.persona.description, sample.records)


def _summarize(failed: list[_Draft], environment: Environment, domain: str, config: Phase1Config,
               client: TimedClient) -> None:
    errors = [failure_errors(d.verdicts, d.votes) for d in failed]
    requests = [feedback_request(attempt_id(d.state.context.context_id, d.round), d.round, d.payload, e,
                                 environment, domain, config) for d, e in zip(failed, errors, strict=True)]
    for draft, error_list, result in zip(failed, errors, client.complete_many(requests), strict=True):
        draft.plan, _ = plan_from(result, error_list)
        draft.request_keys.append(result.request_key)


def _accepted_simple(draft: _Draft, attempt: BlueprintAttempt) -> AcceptedBlueprint:
    context = draft.state.context
    assert draft.blueprint is not None and draft.execution is not None and draft.decision is not None
    return AcceptedBlueprint(
        blueprint_id=simple_blueprint_id(context.context_id), kind="simple", context_id=context.context_id,
        attempt_id=attempt.attempt_id, blueprint=draft.blueprint, rounds_used=draft.round,
        user_id=context.domain_data.user_id, persona_id=context.persona.persona_id,
        identity=context.domain_data.identity, state_hash=draft.execution.state_hash, diff=draft.execution.diff,
        voted_score=draft.decision.voted_score)

"""`run_phase2`: accepted blueprints in, verified trajectories (and every attempt on the way) out.

Rejection sampling as in the paper: every blueprint gets `attempts_per_blueprint` attempts (all run; no
early stop), each attempt is verified by replay and audited for policy, and the unique successes are
kept (see `uniqueness`). All attempts of all blueprints run in lockstep, one `complete_many` per step.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

from apigen_pipeline.environments.base import Environment
from apigen_pipeline.llm.client import LLMClient
from apigen_pipeline.phase1.models import AcceptedBlueprint
from apigen_pipeline.phase1.timed_client import TimedClient
from apigen_pipeline.phase2.agent import agent_system_text, agent_tools
from apigen_pipeline.phase2.audit import audit_trajectory
from apigen_pipeline.phase2.human import human_system_text, persona_text
from apigen_pipeline.phase2.models import (
    Phase2Result,
    Phase2Settings,
    Phase2Timings,
    TrajectoryAttempt,
)
from apigen_pipeline.phase2.orchestrator import AgentSetup, Episode, EpisodeSpec, new_episode, run_episodes
from apigen_pipeline.phase2.stats import phase2_stats
from apigen_pipeline.phase2.uniqueness import canonical_hash
from apigen_pipeline.phase2.verification import ExpectedOutcome, TrajectoryEvidence, expected_outcome, verify


def trajectory_id(blueprint_id: str, attempt_index: int, purpose: str = "generation") -> str:
    suffix = "t" if purpose == "generation" else f"{purpose}-t"
    return f"{blueprint_id}-{suffix}{attempt_index}"


def agent_setup(environment: Environment, domain: str, settings: Phase2Settings) -> AgentSetup:
    return AgentSetup(system_text=agent_system_text(environment, domain, settings.prompts.agent),
                      tools=agent_tools(environment), terminating_tools=environment.terminating_tools)


def episode_specs(blueprints: Sequence[AcceptedBlueprint], attempts: int, domain: str, settings: Phase2Settings,
                  purpose: str = "generation", extra_tags: Mapping[str, str] | None = None) -> list[EpisodeSpec]:
    specs: list[EpisodeSpec] = []
    for blueprint in blueprints:
        system = human_system_text(blueprint.blueprint.instruction, persona_text(blueprint.persona_id), domain,
                                   settings.prompts.human)
        for attempt in range(attempts):
            specs.append(EpisodeSpec(
                trajectory_id=trajectory_id(blueprint.blueprint_id, attempt, purpose),
                blueprint_id=blueprint.blueprint_id, attempt_index=attempt,
                instruction=blueprint.blueprint.instruction, human_system_text=system,
                tags={"domain": domain, "purpose": purpose, **(extra_tags or {})}))
    return specs


def simulate_and_verify(blueprints: Sequence[AcceptedBlueprint], environment: Environment, client: LLMClient,
                        settings: Phase2Settings, domain: str, attempts: int, purpose: str = "generation",
                        extra_tags: Mapping[str, str] | None = None) -> tuple[list[TrajectoryAttempt], int]:
    """Run `attempts` episodes per blueprint and return them verified and audited (not yet deduplicated)."""
    setup = agent_setup(environment, domain, settings)
    episodes = [new_episode(spec, environment, setup, settings)
                for spec in episode_specs(blueprints, attempts, domain, settings, purpose, extra_tags)]
    steps = run_episodes(episodes, client)
    by_id = {b.blueprint_id: b for b in blueprints}
    expected: dict[str, ExpectedOutcome] = {}
    fresh = environment.fresh_database()
    results: list[TrajectoryAttempt] = []
    for episode in episodes:
        blueprint = by_id[episode.spec.blueprint_id]
        if blueprint.blueprint_id not in expected:
            expected[blueprint.blueprint_id] = expected_outcome(blueprint.blueprint, environment)
        results.append(finished_attempt(episode, blueprint, expected[blueprint.blueprint_id], environment, fresh,
                                        settings))
    return results, steps


def finished_attempt(episode: Episode, blueprint: AcceptedBlueprint, expected: ExpectedOutcome,
                     environment: Environment, fresh_database, settings: Phase2Settings) -> TrajectoryAttempt:
    assert episode.end_reason is not None
    final = episode.session.database
    evidence = TrajectoryEvidence(episode.end_reason, episode.end_detail, episode.messages, episode.executed, final)
    report = verify(evidence, blueprint.blueprint, expected, environment)
    state = report.check("final_state")
    outputs = report.check("outputs")
    findings = audit_trajectory(environment, fresh_database, episode.messages, episode.executed, final,
                                settings.confirmation_words, episode.protocol_violations)
    return TrajectoryAttempt(
        trajectory_id=episode.spec.trajectory_id, blueprint_id=blueprint.blueprint_id,
        attempt_index=episode.spec.attempt_index, messages=episode.messages, executed_calls=episode.executed,
        final_state_hash=final.state_hash(), expected_state_hash=expected.state_hash,
        end_reason=episode.end_reason, end_detail=episode.end_detail,
        verdict="verified" if report.verified else "failed", failure_reason=report.failure_reason,
        checks=list(report.checks),
        diff=state.details.get("diff", []) if state is not None else [],
        diff_text=state.details.get("diff_text", "") if state is not None else "",
        missing_outputs=outputs.details.get("missing", []) if outputs is not None else [],
        audit_findings=findings, protocol_violations=episode.protocol_violations,
        candidates=episode.candidates, request_keys=episode.request_keys,
        user_turns=episode.user_turns, agent_turns=episode.agent_steps, tool_calls=len(episode.executed),
        canonical_hash=canonical_hash(episode.messages))


def select_unique_successes(attempts: Sequence[TrajectoryAttempt], keep_policy_violations: bool
                            ) -> list[TrajectoryAttempt]:
    """Mark which attempts are kept: verified, allowed by the audit, first of their canonical form."""
    seen: dict[tuple[str, str], str] = {}
    marked: list[TrajectoryAttempt] = []
    for attempt in sorted(attempts, key=lambda a: (a.blueprint_id, a.attempt_index)):
        update: dict[str, object] = {"kept": False, "drop_reason": None, "duplicate_of": None}
        if attempt.verified:
            key = (attempt.blueprint_id, attempt.canonical_hash)
            if attempt.audit_findings and not keep_policy_violations:
                update["drop_reason"] = "policy_violation"
            elif key in seen:
                update.update(drop_reason="duplicate", duplicate_of=seen[key])
            else:
                seen[key] = attempt.trajectory_id
                update["kept"] = True
        marked.append(attempt.model_copy(update=update))
    return marked


def run_phase2(blueprints: Sequence[AcceptedBlueprint], environment: Environment, client: LLMClient,
               settings: Phase2Settings | None = None, domain: str | None = None) -> Phase2Result:
    """Simulate, verify, audit and deduplicate. Blueprints marked as Phase 1 duplicates are skipped."""
    settings = settings or Phase2Settings()
    domain = domain or environment.name
    kept_blueprints = [b for b in blueprints if b.kept]
    timed = TimedClient(client)
    started = time.perf_counter()
    attempts, steps = simulate_and_verify(kept_blueprints, environment, timed, settings, domain,
                                          settings.attempts_per_blueprint)
    marked = select_unique_successes(attempts, settings.keep_policy_violations)
    timings = Phase2Timings(total_s=time.perf_counter() - started, llm_s=timed.llm_s, steps=steps)
    return Phase2Result(domain=domain, attempts=marked,
                        stats=phase2_stats(len(kept_blueprints), marked, timed.requests, timed.failures),
                        timings=timings)

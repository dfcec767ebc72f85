"""pass^k (tau-bench): for a task with c successes in n trials, C(c, k) / C(n, k); averaged over tasks.

It measures consistency: the chance that k independent trials of the same task all succeed. Computed
exactly with fractions. The evaluation runner runs a configured agent (whatever model the client routes
the "agent" role to) k times per accepted blueprint with the same human simulator and verification as
generation, and reports pass^1..pass^k per domain.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from fractions import Fraction
from math import comb

from pydantic import BaseModel, ConfigDict

from apigen_pipeline.environments.base import Environment
from apigen_pipeline.llm.client import LLMClient
from apigen_pipeline.phase1.models import AcceptedBlueprint
from apigen_pipeline.phase1.timed_client import TimedClient
from apigen_pipeline.phase2.models import Phase2Settings, TrajectoryAttempt
from apigen_pipeline.phase2.runner import simulate_and_verify


def task_pass_hat_k(trials: int, successes: int, k: int) -> Fraction:
    if k < 1 or trials < k or not 0 <= successes <= trials:
        raise ValueError(f"pass^{k} needs 1 <= k <= n and 0 <= c <= n (n={trials}, c={successes})")
    return Fraction(comb(successes, k), comb(trials, k))


def pass_hat_k(outcomes: Mapping[str, Sequence[bool]], k: int) -> Fraction:
    """Mean over tasks of C(c, k) / C(n, k); tasks with fewer than k trials cannot count and are refused."""
    if not outcomes:
        raise ValueError("pass^k of no tasks is undefined")
    total = sum((task_pass_hat_k(len(trials), sum(trials), k) for trials in outcomes.values()), Fraction(0))
    return total / len(outcomes)


class PassKResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    domain: str
    agent_label: str
    k: int
    value: float
    exact: str          # the exact fraction, e.g. "1/6"
    tasks: int
    trials_per_task: int


class PassKEvaluation(BaseModel):
    model_config = ConfigDict(frozen=True)

    domain: str
    agent_label: str
    results: list[PassKResult]
    outcomes: dict[str, list[bool]]   # blueprint id -> success per trial
    attempts: list[TrajectoryAttempt]

    def value(self, k: int) -> float:
        return next(r.value for r in self.results if r.k == k)


def pass_hat_k_table(domain: str, agent_label: str, outcomes: Mapping[str, Sequence[bool]], max_k: int
                     ) -> list[PassKResult]:
    trials = min(len(v) for v in outcomes.values())
    results = []
    for k in range(1, max_k + 1):
        exact = pass_hat_k(outcomes, k)
        results.append(PassKResult(domain=domain, agent_label=agent_label, k=k, value=float(exact),
                                   exact=f"{exact.numerator}/{exact.denominator}", tasks=len(outcomes),
                                   trials_per_task=trials))
    return results


def run_passk_evaluation(blueprints: Sequence[AcceptedBlueprint], environment: Environment, client: LLMClient,
                         k: int, agent_label: str, settings: Phase2Settings | None = None,
                         domain: str | None = None, require_audit_clean: bool = True) -> PassKEvaluation:
    """k trials per blueprint; a trial succeeds when verified (and, by default, audit-clean)."""
    if k < 1:
        raise ValueError("k must be >= 1")
    settings = settings or Phase2Settings()
    domain = domain or environment.name
    tasks = [b for b in blueprints if b.kept]
    if not tasks:
        raise ValueError("pass^k needs at least one blueprint")
    attempts, _ = simulate_and_verify(tasks, environment, TimedClient(client), settings, domain, k,
                                      purpose="eval", extra_tags={"agent_label": agent_label})
    outcomes: dict[str, list[bool]] = {b.blueprint_id: [] for b in tasks}
    for attempt in sorted(attempts, key=lambda a: (a.blueprint_id, a.attempt_index)):
        outcomes[attempt.blueprint_id].append(attempt.verified and (attempt.audit_clean or not require_audit_clean))
    return PassKEvaluation(domain=domain, agent_label=agent_label,
                           results=pass_hat_k_table(domain, agent_label, outcomes, k), outcomes=outcomes,
                           attempts=attempts)

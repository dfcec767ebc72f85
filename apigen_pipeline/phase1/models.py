"""Records that cross Phase 1's boundaries: blueprints, stage verdicts, judge votes, attempts, results.

Everything here is plain data (pydantic) so the runner, the row builders and the Dagster shell can
pass it around, hash it and store it without knowing how it was made.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from apigen_pipeline.llm.provenance import Simulated
from apigen_pipeline.records import FrozenModel

Stage = Literal["generation", "format", "execution", "policy", "committee", "acceptance"]
STAGES: tuple[Stage, ...] = ("generation", "format", "execution", "policy", "committee", "acceptance")
Criterion = Literal["correctness", "completeness", "satisfaction", "creativity"]
CRITERIA: tuple[Criterion, ...] = ("correctness", "completeness", "satisfaction", "creativity")
BlueprintKind = Literal["simple", "recombined"]
# accepted: passed every stage; revised: failed, and a feedback round follows; rejected: failed for good.
AttemptStatus = Literal["accepted", "revised", "rejected"]


class ActionCall(FrozenModel):
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)


class Blueprint(FrozenModel):
    """The paper's (q, a_gt, o_gt): instruction for the simulated user, ground-truth calls, outputs."""

    instruction: str
    actions: list[ActionCall]
    outputs: list[str] = Field(default_factory=list)


class StageVerdict(FrozenModel):
    stage: Stage
    passed: bool
    # Machine-readable code such as "execution.tool_error" or "policy.authenticate_first"; None on a pass.
    reason: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)


class JudgeVote(FrozenModel):
    judge_index: int
    provider: str = ""
    model: str = ""
    abstained: bool = False
    abstain_reason: str | None = None  # why the vote does not count (LLM failure, unparseable output)
    scores: dict[str, int] = Field(default_factory=dict)  # criterion -> 0/1; empty when abstained
    reflection: str = ""
    correction: str = ""
    request_key: str = ""


class CriterionTally(FrozenModel):
    criterion: Criterion
    yes: int
    no: int
    passed: bool
    decided_by: Literal["majority", "tie_rule", "no_quorum"]


class CommitteeDecision(FrozenModel):
    tallies: list[CriterionTally]
    voters: int  # judges that did not abstain
    quorum_met: bool
    committee_passed: bool
    accepted: bool
    reason: str | None = None  # "committee.<criterion>", "committee.no_quorum", "acceptance.<rule>"
    voted_score: int = 0  # criteria passed by vote

    def tally(self, criterion: str) -> CriterionTally | None:
        return next((t for t in self.tallies if t.criterion == criterion), None)


class BlueprintAttempt(FrozenModel):
    """One generation round for one context (or one recombination try): everything that was decided."""

    attempt_id: str
    context_id: str
    kind: BlueprintKind = "simple"
    round: int = 0
    prompt_version: str = ""
    blueprint: Blueprint | None = None
    verdicts: list[StageVerdict] = Field(default_factory=list)
    votes: list[JudgeVote] = Field(default_factory=list)
    decision: CommitteeDecision | None = None
    feedback_plan: str | None = None  # the plan the next round receives (None when none follows)
    state_hash: str | None = None
    diff: list[dict[str, Any]] = Field(default_factory=list)
    diff_text: str = ""
    status: AttemptStatus = "rejected"
    failure_stage: Stage | None = None
    failure_reason: str | None = None
    request_keys: list[str] = Field(default_factory=list)
    user_id: str = ""
    persona_id: str = ""
    source_blueprint_ids: list[str] = Field(default_factory=list)

    @property
    def accepted(self) -> bool:
        return self.status == "accepted"


class AcceptedBlueprint(FrozenModel):
    blueprint_id: str
    kind: BlueprintKind
    context_id: str
    attempt_id: str
    blueprint: Blueprint
    source_blueprint_ids: list[str] = Field(default_factory=list)
    rounds_used: int = 0  # feedback rounds needed (0: accepted at the first attempt)
    user_id: str = ""
    persona_id: str = ""
    identity: dict[str, Any] = Field(default_factory=dict)
    state_hash: str = ""
    diff: list[dict[str, Any]] = Field(default_factory=list)
    voted_score: int = 0
    duplicate_of: str | None = None
    duplicate_kind: Literal["exact", "near"] | None = None
    simulated: Simulated | None = None  # from the request log entries behind it (`phase1.provenance`)

    @property
    def kept(self) -> bool:
        return self.duplicate_of is None


class StageFunnel(FrozenModel):
    stage: Stage
    reached: int
    passed: int


class Phase1Stats(FrozenModel):
    contexts: int
    attempts: int
    accepted_simple: int
    accepted_recombined: int
    kept_after_dedup: int
    yield_without_feedback: float  # accepted at round 0 / contexts
    yield_with_feedback: float     # accepted after all rounds / contexts
    acceptance_by_round: dict[str, int]
    funnel: list[StageFunnel]
    failures_by_reason: dict[str, int]
    kappa: dict[str, float | None]  # per criterion and "overall"; None when undefined
    judge_abstentions: int
    recombination_tried: int
    recombination_failures_by_reason: dict[str, int]
    exact_duplicates: int
    near_duplicates: int
    llm_requests: int
    llm_failures: int


class Phase1Timings(FrozenModel):
    """Wall-clock measurements: kept apart from stats and rows, which must be reproducible."""

    total_s: float = 0.0
    llm_s: float = 0.0

    @property
    def non_llm_s(self) -> float:
        return max(0.0, self.total_s - self.llm_s)


class Phase1Result(FrozenModel):
    domain: str
    feedback_rounds: int
    attempts: list[BlueprintAttempt]
    blueprints: list[AcceptedBlueprint]  # simple and recombined, duplicates marked, never dropped
    stats: Phase1Stats
    timings: Phase1Timings = Field(default_factory=Phase1Timings)

    @property
    def kept_blueprints(self) -> list[AcceptedBlueprint]:
        return [b for b in self.blueprints if b.kept]

    @property
    def votes(self) -> list[tuple[BlueprintAttempt, JudgeVote]]:
        return [(attempt, vote) for attempt in self.attempts for vote in attempt.votes]

"""Records that cross Phase 2's boundaries: messages, user-turn candidates, attempts, settings, results.

Plain pydantic data, so the runner, the verification and audit evaluators, the row builders, the
exporters and the Dagster shell can pass them around and store them without knowing how they were made.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from apigen_pipeline.llm.provenance import Simulated
from apigen_pipeline.llm.types import ToolCallData
from apigen_pipeline.records import FrozenModel

EndReason = Literal["user_stop", "transfer", "turn_limit", "provider_failure"]
FailureReason = Literal["provider_failure", "turn_limit", "unexpected_transfer", "missing_transfer",
                        "user_stopped_before_write", "state_mismatch", "missing_output"]
FAILURE_REASONS: tuple[FailureReason, ...] = ("provider_failure", "turn_limit", "unexpected_transfer",
                                              "missing_transfer", "user_stopped_before_write", "state_mismatch",
                                              "missing_output")
Verdict = Literal["verified", "failed"]
STOP_TOKEN = "###STOP###"


class TrajectoryMessage(FrozenModel):
    """One turn of the conversation as the agent saw it. An assistant turn carries at most one call."""

    role: Literal["user", "assistant", "tool"]
    content: str | None = None
    tool_calls: list[ToolCallData] = Field(default_factory=list)
    tool_call_id: str | None = None  # role == "tool": the call it answers
    name: str | None = None          # role == "tool": the tool's name


class ExecutedToolCall(FrozenModel):
    """A call the agent made and what the environment answered (the trace the audit reads)."""

    call_id: str
    name: str
    arguments: dict[str, Any]
    observation: str
    ok: bool
    kind: Literal["read", "write"] | None
    message_index: int  # position of the assistant message that made the call


class UserTurnCandidate(FrozenModel):
    """One of the best-of-N candidate user turns, with the critic's score (kept whether chosen or not)."""

    turn_index: int
    sample_index: int
    text: str | None
    score: int | None = None         # 0-10; None when the critic failed or the candidate failed
    reason: str = ""
    chosen: bool = False
    request_key: str = ""
    critic_request_key: str = ""
    failure: str | None = None       # why this candidate has no text or no score


class CheckResult(FrozenModel):
    """The verdict of one evaluator (tau2-style: one evaluator per check)."""

    check: str
    passed: bool
    reason: FailureReason | None = None
    details: dict[str, Any] = Field(default_factory=dict)


class AuditFinding(FrozenModel):
    """A policy or conversational rule the trajectory broke, although the state may be right."""

    rule: str
    message: str
    call_index: int | None = None


class TrajectoryAttempt(FrozenModel):
    trajectory_id: str
    blueprint_id: str
    attempt_index: int
    messages: list[TrajectoryMessage]
    executed_calls: list[ExecutedToolCall]
    final_state_hash: str
    expected_state_hash: str = ""
    end_reason: EndReason
    end_detail: str = ""               # e.g. the provider error that ended the episode
    verdict: Verdict = "failed"
    failure_reason: FailureReason | None = None
    checks: list[CheckResult] = Field(default_factory=list)
    diff: list[dict[str, Any]] = Field(default_factory=list)  # expected -> actual final state
    diff_text: str = ""
    missing_outputs: list[str] = Field(default_factory=list)
    audit_findings: list[AuditFinding] = Field(default_factory=list)
    protocol_violations: list[str] = Field(default_factory=list)  # e.g. extra tool calls in one reply
    candidates: list[UserTurnCandidate] = Field(default_factory=list)
    request_keys: list[str] = Field(default_factory=list)
    user_turns: int = 0
    agent_turns: int = 0
    tool_calls: int = 0
    canonical_hash: str = ""           # the uniqueness key (see `phase2.uniqueness`)
    kept: bool = False                 # verified, audit-clean (or allowed), and the first of its form
    drop_reason: str | None = None     # why a verified attempt is not kept: "policy_violation" | "duplicate"
    duplicate_of: str | None = None
    simulated: Simulated | None = None  # from the request log entries behind it (`phase2.provenance`)

    @property
    def verified(self) -> bool:
        return self.verdict == "verified"

    @property
    def audit_clean(self) -> bool:
        return not self.audit_findings


class Phase2Prompts(FrozenModel):
    """Which prompt file each Phase 2 role uses (`phase2/prompt_templates/<role>.<version>.md`)."""

    human: str = "v1"
    critic: str = "v1"
    agent: str = "v1"


class Phase2Settings(FrozenModel):
    # Best-of-N for the simulated human (the paper: N = 4); N = 1 sends the only candidate, no critic.
    best_of_n: int = Field(default=4, ge=1, le=16)
    # tau-bench's limit: agent actions (tool calls and replies) per episode.
    max_agent_steps: int = Field(default=30, ge=1)
    # A safety net against a human and an agent that never finish talking (user turns per episode).
    max_user_turns: int = Field(default=30, ge=1)
    # Rejection sampling: attempts per blueprint; all run, the unique successes are kept.
    attempts_per_blueprint: int = Field(default=3, ge=1)
    # A verified trajectory with audit findings is dropped by default (counted either way).
    keep_policy_violations: bool = False
    # "native": typed tool calls; "json": the agent answers a next-action JSON object (open models).
    tool_call_mode: Literal["native", "json"] = "native"
    # Which tools end an episode (a transfer to a human) is the environment's to declare (`terminating_tools`).
    # Words that count as an explicit confirmation in the user turn before a write (audit).
    confirmation_words: list[str] = Field(default_factory=lambda: [
        "yes", "yeah", "yep", "confirm", "confirmed", "go ahead", "proceed", "please do", "correct", "sure"])
    human_temperature: float | None = 1.0
    critic_temperature: float | None = 0.0
    agent_temperature: float | None = 0.0
    max_tokens: int = Field(default=1024, ge=64)
    prompts: Phase2Prompts = Phase2Prompts()


class Phase2Stats(FrozenModel):
    blueprints: int
    attempts: int
    verified_attempts: int
    audit_flagged: int            # verified attempts with at least one audit finding
    dropped_policy: int           # verified but dropped for audit findings
    duplicates: int
    kept_trajectories: int
    blueprints_with_success: int  # blueprints with at least one kept trajectory
    phase2_yield: float           # blueprints_with_success / blueprints
    attempt_success_rate: float   # verified attempts / attempts
    end_reasons: dict[str, int]
    failures_by_reason: dict[str, int]
    audit_findings_by_rule: dict[str, int]
    mean_user_turns: float
    mean_tool_calls: float
    mean_turns: float
    max_turns: int
    min_turns: int
    best_of_n_candidates: int
    llm_requests: int
    llm_failures: int


class Phase2Timings(FrozenModel):
    """Wall-clock measurements: kept apart from rows, which must be reproducible."""

    total_s: float = 0.0
    llm_s: float = 0.0
    steps: int = 0

    @property
    def non_llm_s(self) -> float:
        return max(0.0, self.total_s - self.llm_s)


class Phase2Result(FrozenModel):
    domain: str
    attempts: list[TrajectoryAttempt]
    stats: Phase2Stats
    timings: Phase2Timings = Field(default_factory=Phase2Timings)

    @property
    def trajectories(self) -> list[TrajectoryAttempt]:
        """The kept ones: verified, allowed by the audit, unique per blueprint."""
        return [a for a in self.attempts if a.kept]

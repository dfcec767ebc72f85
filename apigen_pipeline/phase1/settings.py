"""Phase 1 configuration. Every choice the paper leaves open is a field with a documented default."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from apigen_pipeline.phase1.models import Criterion
from apigen_pipeline.records import FrozenModel


class PromptVersions(FrozenModel):
    """Which prompt file each role uses (`prompt_templates/<role>.<version>.md`)."""

    # v3: lean, records as tables (`compact_records`); v2: lean (sampled tools and their policy only), records
    # as plain JSON; v1: the whole domain in the prefix
    generator: str = "v3"
    judge: str = "v3"
    summarizer: str = "v1"
    recombiner: str = "v1"


class RecombinationConfig(FrozenModel):
    """Reverse task recombination: 2-3 accepted simple blueprints of one user become one harder task."""

    enabled: bool = True
    min_group_size: int = Field(default=2, ge=2)
    max_group_size: int = Field(default=3, ge=2)
    max_per_partition: int = Field(default=10, ge=0)
    # "user": blueprints of the same user combine (contexts draw personas independently, so requiring
    # the same persona as well would almost never find a group); "user_and_persona": the paper's stricter reading.
    group_by: Literal["user", "user_and_persona"] = "user"
    seed: int = 0
    # A second identical read (e.g. authenticating again) adds nothing to a combined task.
    drop_repeated_reads: bool = True

    @model_validator(mode="after")
    def _sizes(self) -> RecombinationConfig:
        if self.min_group_size > self.max_group_size:
            raise ValueError("recombination.min_group_size must not exceed max_group_size")
        return self


class DedupConfig(FrozenModel):
    """Exact duplicates: the same write calls with the same arguments (order-insensitive).
    Near duplicates: instruction token-set Jaccard >= `near_duplicate_jaccard`. Both within a partition;
    the first blueprint (simple before recombined, then by id) is kept, later ones are marked."""

    enabled: bool = True
    near_duplicate_jaccard: float = Field(default=0.9, gt=0.0, le=1.0)


class ValidityConfig(FrozenModel):
    """Deterministic checks of the format stage, before execution and any judge. Besides these, every
    action must use a tool of its context and the blueprint needs at least one write among the context's
    sampled write tools (not configurable: without a write, Phase 2 has no state to verify against)."""

    # Shorter than any brief that says who the user is and what they want ("You are X; cancel order Y.").
    min_instruction_chars: int = Field(default=30, ge=1)
    # A whole instruction equal to one of these (case-insensitive, surrounding punctuation and whitespace
    # ignored) is a placeholder; so is one with no letter or digit at all ("...", "???").
    placeholder_instructions: list[str] = Field(default_factory=lambda: [
        "placeholder", "instruction", "the instruction", "your instruction", "task", "todo", "tbd", "n/a",
        "none", "null", "test", "example", "string", "text", "...", "<text>", "<instruction>"])
    # Text that marks a template never filled in, anywhere in the instruction (case-insensitive, on word
    # boundaries).
    placeholder_markers: list[str] = Field(default_factory=lambda: [
        "placeholder", "lorem ipsum", "todo", "tbd", "fixme", "<instruction>", "{instruction}", "[instruction]",
        "insert instruction", "instruction here", "your task here"])
    # An unfilled template slot such as "{user_id}" or "<order id>" makes the instruction a placeholder.
    reject_template_slots: bool = True


DEFAULT_FEEDBACK_ROUNDS: dict[str, int] = {"retail": 3, "airline": 5}


class Phase1Config(FrozenModel):
    # R = revision rounds *after* the first attempt (the paper: at most 3 for retail, 5 for airline).
    # A context gets at most R + 1 generator calls; R = 0 disables the feedback loop.
    max_feedback_rounds: dict[str, int] = Field(default_factory=lambda: dict(DEFAULT_FEEDBACK_ROUNDS))
    default_feedback_rounds: int = Field(default=3, ge=0, description="R for domains not listed above.")
    committee_size: int = Field(default=3, ge=1, description="K judges; judge i goes to settings.judges[i].")
    # Acceptance: every required criterion must pass the committee's majority vote (the paper gives no
    # threshold; creativity is scored and stored but does not gate by default).
    required_criteria: list[Criterion] = Field(
        default_factory=lambda: ["correctness", "completeness", "satisfaction"])
    # Optional extra threshold: at least this many of the four criteria must pass the vote.
    min_voted_score: int | None = Field(default=None, ge=0, le=4)
    # Even committees can split evenly on a criterion: by default a tie fails it (reject when unsure).
    tie_rule: Literal["fail", "pass"] = "fail"
    # Minimum non-abstaining judges for a decision; None = a majority of K (K // 2 + 1).
    quorum: int | None = Field(default=None, ge=1)
    generator_temperature: float | None = 0.7
    judge_temperature: float | None = 0.0
    max_tokens: int = Field(default=2048, ge=64)
    prompts: PromptVersions = PromptVersions()
    recombination: RecombinationConfig = RecombinationConfig()
    dedup: DedupConfig = DedupConfig()
    validity: ValidityConfig = ValidityConfig()

    @model_validator(mode="after")
    def _consistent(self) -> Phase1Config:
        if any(rounds < 0 for rounds in self.max_feedback_rounds.values()):
            raise ValueError("max_feedback_rounds must be >= 0 for every domain")
        if self.quorum is not None and self.quorum > self.committee_size:
            raise ValueError(f"quorum {self.quorum} exceeds committee_size {self.committee_size}")
        return self

    def feedback_rounds(self, domain: str) -> int:
        return self.max_feedback_rounds.get(domain, self.default_feedback_rounds)

    @property
    def effective_quorum(self) -> int:
        return self.quorum if self.quorum is not None else self.committee_size // 2 + 1

    def with_feedback_rounds(self, rounds: int) -> Phase1Config:
        """The same config with R fixed for every domain (R = 0 measures the yield without the loop)."""
        return self.model_copy(update={"max_feedback_rounds": {}, "default_feedback_rounds": rounds})

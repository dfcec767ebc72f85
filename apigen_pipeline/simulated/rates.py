"""How often the simulated roles make the mistakes `FaultRates` does not cover (pipeline config:
`simulated_phase1`, `simulated_phase2`). Yields are what these rates produce, never hard-coded outcomes."""

from __future__ import annotations

from pydantic import Field

from apigen_pipeline.records import FrozenModel


class Phase1SimulationRates(FrozenModel):
    """Per-request probabilities of the blueprint-specific faults and behaviours (not in `FaultRates`)."""

    hallucinated_id: float = Field(default=0.3, ge=0, le=1)      # an id argument that does not exist
    skip_authentication: float = Field(default=0.25, ge=0, le=1)   # auth calls left out: policy rejects
    missing_identity: float = Field(default=0.3, ge=0, le=1)     # instruction without identity: judges reject
    missing_output: float = Field(default=0.15, ge=0, le=1)       # a question asked, its answer not in outputs
    info_request: float = Field(default=0.4, ge=0, le=1)          # share of tasks that also ask a question
    # A revision either takes the feedback in (and fixes what was flagged) or repeats its blueprint.
    revision_fix: float = Field(default=0.2, ge=0, le=1)

    @classmethod
    def none(cls) -> Phase1SimulationRates:
        return cls(hallucinated_id=0, skip_authentication=0, missing_identity=0, missing_output=0,
                   revision_fix=1)


class Phase2SimulationRates(FrozenModel):
    """Per-request probabilities of Phase 2 behaviours that `FaultRates` does not cover."""

    # The critic overlooks a drifting or early-stopping candidate and scores it like a faithful one.
    critic_miss: float = Field(default=0.25, ge=0, le=1)
    # How often a persona's behavioural trait (impatient, forgetful, indecisive) shows in a conversation.
    trait_strength: float = Field(default=0.9, ge=0, le=1)
    # An impatient user gives up when asked for more after this many turns of their own.
    impatience_turns: int = Field(default=5, ge=1)

    @classmethod
    def none(cls) -> Phase2SimulationRates:
        return cls(critic_miss=0.0, trait_strength=0.0)

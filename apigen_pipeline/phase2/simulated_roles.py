"""Registers the simulated backend's Phase 2 roles: human, critic and agent.

Each handler answers in exactly the format the Phase 2 prompts ask for (`human.py`, `agent.py`). The
generic fault kinds come from the provider's `FaultRates` (`user_drift`, `user_early_stop`,
`agent_wrong_tool`, `agent_skip_confirmation`); the critic's carelessness is drawn here at
`Phase2SimulationRates.critic_miss`. Yields are what these mechanics produce, never hard-coded.
"""

from __future__ import annotations

from pydantic import Field

from apigen_pipeline.llm.simulated import register_role_handler
from apigen_pipeline.llm.simulated.roles import RoleHandlerRegistry
from apigen_pipeline.phase2.simulated_agent import agent_handler
from apigen_pipeline.phase2.simulated_human import TraitSettings, critic_handler, human_handler
from apigen_pipeline.records import FrozenModel


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


def register_phase2_roles(rates: Phase2SimulationRates | None = None, *,
                          registry: RoleHandlerRegistry | None = None) -> None:
    """Register the three handlers (replacing earlier Phase 2 registrations) in `registry` or the default one."""
    rates = rates or Phase2SimulationRates()
    handlers = {
        "human": lambda request, ctx: human_handler(
            request, ctx, TraitSettings(rates.trait_strength, rates.impatience_turns)),
        "critic": lambda request, ctx: critic_handler(request, ctx, rates.critic_miss),
        "agent": agent_handler,
    }
    for role, handler in handlers.items():
        if registry is not None:
            registry.register(role, handler, replace=True)
        else:
            register_role_handler(role, handler, replace=True)

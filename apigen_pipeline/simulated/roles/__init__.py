"""The simulated backend's pipeline roles, one module per role.

Phase 1: `generator`, `judge`, `summarizer`, `recombiner` (sharing the instruction grammar of
`instruction` and the answer helpers of `answers`). Phase 2: `human` and `critic` (sharing the
instruction `script` they read) and `agent` (reading the `conversation`).

The roles that need domain knowledge get it from the environments they are built with, keyed by
domain name (a request names its domain in its prompt or `tags["domain"]`), and from the plugin's
optional hooks (`propose_actions`, each tool's `utterance`). Without the environment of a request's
domain a role leaves the answer to the generic behaviour.
"""

from __future__ import annotations

from collections.abc import Mapping

from apigen_pipeline.environments.base import Environment
from apigen_pipeline.simulated.rates import Phase1SimulationRates, Phase2SimulationRates
from apigen_pipeline.simulated.registry import RoleHandlerRegistry
from apigen_pipeline.simulated.roles.agent import agent_handler
from apigen_pipeline.simulated.roles.critic import critic_handler
from apigen_pipeline.simulated.roles.generator import generator_handler
from apigen_pipeline.simulated.roles.human import TraitSettings, human_handler
from apigen_pipeline.simulated.roles.judge import judge_handler
from apigen_pipeline.simulated.roles.recombiner import recombiner_handler
from apigen_pipeline.simulated.roles.summarizer import summarizer_handler


def role_registry(environments: Mapping[str, Environment], phase1: Phase1SimulationRates | None = None,
                  phase2: Phase2SimulationRates | None = None) -> RoleHandlerRegistry:
    """A registry of all seven roles, each bound to these environments (domain -> Environment) and rates."""
    phase1 = phase1 or Phase1SimulationRates()
    phase2 = phase2 or Phase2SimulationRates()
    traits = TraitSettings(phase2.trait_strength, phase2.impatience_turns)
    registry = RoleHandlerRegistry()
    registry.register("generator", lambda request, ctx: generator_handler(request, ctx, phase1, environments))
    registry.register("judge", lambda request, ctx: judge_handler(request, ctx, environments))
    registry.register("summarizer", summarizer_handler)
    registry.register("recombiner", recombiner_handler)
    registry.register("human", lambda request, ctx: human_handler(request, ctx, traits))
    registry.register("critic", lambda request, ctx: critic_handler(request, ctx, phase2.critic_miss))
    registry.register("agent", lambda request, ctx: agent_handler(request, ctx, environments))
    return registry

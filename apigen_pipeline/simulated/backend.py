"""`SimulatedBackend`: the simulated roles for some environments, and the `simulated` provider the
gateway builds from them.

Built from the pipeline config by whoever binds the LLM layer to a partition (the Dagster LLM
resource, a test, a benchmark) and handed to the gateway as the factory of the `simulated` provider,
so the LLM layer never imports this package and nothing about the roles or the environments is
kept process-wide.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from types import MappingProxyType

from apigen_pipeline.environments.base import Environment
from apigen_pipeline.llm.config import LLMSettings, ModelRef
from apigen_pipeline.llm.simulated_faults import FaultRates
from apigen_pipeline.llm.types import canonical
from apigen_pipeline.simulated.provider import SimulatedProvider
from apigen_pipeline.simulated.rates import Phase1SimulationRates, Phase2SimulationRates
from apigen_pipeline.simulated.registry import RoleHandlerRegistry
from apigen_pipeline.simulated.roles import role_registry


class SimulatedBackend:
    """The seven simulated roles bound to `environments` (domain name -> Environment) and the rates."""

    def __init__(self, environments: Mapping[str, Environment] | None = None,
                 phase1: Phase1SimulationRates | None = None, phase2: Phase2SimulationRates | None = None):
        self.environments: Mapping[str, Environment] = MappingProxyType(dict(environments or {}))
        self.phase1 = phase1 or Phase1SimulationRates()
        self.phase2 = phase2 or Phase2SimulationRates()
        self.roles: RoleHandlerRegistry = role_registry(self.environments, self.phase1, self.phase2)

    def cache_identity(self, settings: LLMSettings | None = None) -> str:
        """A digest of everything besides the request that decides a simulated answer: the settings' seed
        and fault rates and these behaviour rates (the gateway's `cache_identities["simulated"]`), so a
        changed seed or rate is a new request, never a replay of answers made under the old one."""
        settings = settings or LLMSettings()
        faults = settings.simulated_faults or FaultRates()
        body = canonical({"seed": settings.simulated_seed, "faults": faults.model_dump(mode="json"),
                          "phase1": self.phase1.model_dump(mode="json"), "phase2": self.phase2.model_dump(mode="json")})
        return hashlib.sha256(body.encode()).hexdigest()[:16]

    def provider(self, ref: ModelRef | None = None, settings: LLMSettings | None = None) -> SimulatedProvider:
        """A `SimulatedProvider` with these roles and the settings' seed, faults and latency.

        The signature is the LLM layer's `ProviderFactory`: pass `backend.provider` as
        `provider_factories={"simulated": backend.provider}`.
        """
        settings = settings or LLMSettings()
        return SimulatedProvider(seed=settings.simulated_seed, faults=settings.simulated_faults,
                                 latency_s=settings.simulated_latency_s, handlers=self.roles)

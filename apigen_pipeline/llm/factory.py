"""Builds providers lazily from `ModelRef`s: one instance per distinct endpoint, shared by its models.

The factory knows the SDK providers only. Any other backend (the offline simulated one, which plays
the pipeline's roles and so lives above this layer in `apigen_pipeline.simulated`) is handed in by
the caller as a `ProviderFactory` under its provider name.
"""

from __future__ import annotations

import gc
import importlib
from collections.abc import Callable, Iterable, Mapping

from apigen_pipeline.llm.capabilities import EndpointCapabilities
from apigen_pipeline.llm.config import LLMSettings, ModelRef
from apigen_pipeline.llm.providers.base import Provider

# Builds the provider for one endpoint; the caller's way to supply a backend this layer does not hold.
ProviderFactory = Callable[[ModelRef, LLMSettings], Provider]

# What building each provider imports: its module and the SDK it wraps.
_PROVIDER_MODULES: dict[str, tuple[str, ...]] = {
    "openai": ("apigen_pipeline.llm.providers.openai_provider",),
    "anthropic": ("apigen_pipeline.llm.providers.anthropic_provider", "anthropic"),
}

_frozen_modules: set[str] = set()  # preloaded modules whose objects were frozen (see `preload_providers`)


def preload_providers(provider_names: Iterable[str]) -> None:
    """Import these providers' modules and SDKs now rather than at their first request.

    An SDK import costs about a second of CPU; done inside a batch it stalls the event loop while
    every other request waits, so callers do it when they are set up.

    The SDKs bring some 200,000 long-lived objects (their typed models and modules) that Python's
    cyclic garbage collector would otherwise walk in every full collection: 50-170 ms a walk, one
    every one to two thousand requests in bench/llm_gateway.py. So when a provider is first preloaded,
    the garbage there is now is collected and every object still alive is frozen (`gc.freeze`: left
    out of later collections; freed as usual once nothing refers to it). Once per provider in a process.
    """
    new = False
    for name in provider_names:
        for module in _PROVIDER_MODULES.get(name, ()):
            importlib.import_module(module)
            new = new or module not in _frozen_modules
            _frozen_modules.add(module)
    if new:
        gc.collect()
        gc.freeze()


def build_provider(ref: ModelRef, settings: LLMSettings, capabilities: EndpointCapabilities | None = None,
                   factories: Mapping[str, ProviderFactory] | None = None) -> Provider:
    factory = (factories or {}).get(ref.provider)
    if factory is not None:
        return factory(ref, settings)
    # Imported here so that a run on one provider never needs the other SDKs importable.
    if ref.provider == "openai":
        from apigen_pipeline.llm.providers.openai_provider import OpenAIProvider

        return OpenAIProvider(name="openai", base_url=ref.base_url, api_key_env=ref.key_env or "OPENAI_API_KEY",
                              timeout_s=ref.timeout_s, structured_mode=ref.structured_mode,
                              tool_call_mode=ref.tool_call_mode, http_transport=settings.http_transport,
                              max_connections=settings.max_concurrency, capabilities=capabilities)
    if ref.provider == "anthropic":
        from apigen_pipeline.llm.providers.anthropic_provider import AnthropicProvider

        return AnthropicProvider(name="anthropic", base_url=ref.base_url,
                                 api_key_env=ref.key_env or "ANTHROPIC_API_KEY", timeout_s=ref.timeout_s,
                                 http_transport=settings.http_transport, max_connections=settings.max_concurrency)
    if ref.provider == "simulated":
        raise ValueError("no 'simulated' provider factory was given: the simulated backend plays the pipeline's "
                         "roles and is built above the LLM layer (apigen_pipeline.simulated.SimulatedBackend); "
                         "pass its `provider` as provider_factories={'simulated': ...}")
    raise ValueError(f"no provider '{ref.provider}'")


class ProviderPool:
    """Providers for one event loop's lifetime (SDK clients bind to the loop that first used them).

    `overrides` (by provider name) replace what the factory would build; they are the caller's to close.
    `factories` (by provider name) build providers this layer does not know; what they build is pooled.
    """

    def __init__(self, settings: LLMSettings, overrides: Mapping[str, Provider] | None = None,
                 factories: Mapping[str, ProviderFactory] | None = None,
                 capabilities: EndpointCapabilities | None = None):
        self._settings = settings
        self._overrides = dict(overrides or {})
        self._factories = dict(factories or {})
        self._capabilities = capabilities if capabilities is not None else EndpointCapabilities()
        self._built: dict[tuple[object, ...], Provider] = {}

    def get(self, ref: ModelRef) -> Provider:
        override = self._overrides.get(ref.provider)
        if override is not None:
            return override
        provider = self._built.get(ref.endpoint)
        if provider is None:
            provider = self._built[ref.endpoint] = build_provider(ref, self._settings, self._capabilities,
                                                                  self._factories)
        return provider

    async def aclose(self) -> None:
        built, self._built = list(self._built.values()), {}
        for provider in built:
            await provider.aclose()

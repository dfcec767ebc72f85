"""Building providers: the SDKs' HTTP transport and pool, and importing SDKs before a batch starts."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from types import SimpleNamespace
from typing import Any

import anthropic
import openai
import pytest

from apigen_pipeline.llm import factory, gateway
from apigen_pipeline.llm.config import LLMSettings, ModelRef, RoleModels, SettingsError
from apigen_pipeline.llm.factory import build_provider, preload_providers
from apigen_pipeline.llm.gateway import LLMGateway
from apigen_pipeline.llm.sdk_common import sdk_http_client

KEY_ENV = "APIGEN_FACTORY_TEST_KEY"


class _RecordingClient:
    def __init__(self, **kwargs: Any):
        self.kwargs = kwargs


class _MissingExtra:
    def __init__(self, **kwargs: Any):
        raise RuntimeError("To use the aiohttp client you must have installed the package with the `aiohttp` extra")


def fake_sdk(name: str, aiohttp_client: type = _RecordingClient, max_connections: int = 1000,
             max_keepalive: int = 100) -> SimpleNamespace:
    """Just what `sdk_http_client` uses of an SDK module, with clients that record their arguments."""
    limits = openai.DEFAULT_CONNECTION_LIMITS
    defaults = type(limits)(max_connections=max_connections, max_keepalive_connections=max_keepalive,
                            keepalive_expiry=7.0)
    httpx_client = type("HttpxClient", (_RecordingClient,), {})
    return SimpleNamespace(__name__=name, DEFAULT_CONNECTION_LIMITS=defaults,
                           DefaultAioHttpClient=aiohttp_client, DefaultAsyncHttpxClient=httpx_client)


def wire_ref(provider: str) -> ModelRef:
    return ModelRef(provider=provider, model="m", base_url="http://127.0.0.1:9/v1", api_key_env=KEY_ENV)


def test_pool_keeps_alive_at_least_the_concurrency_and_never_less_than_the_sdk_default():
    sdk = fake_sdk("sdk_a", max_connections=150, max_keepalive=100)
    big, transport = sdk_http_client(sdk, "aiohttp", 400)  # type: ignore[arg-type]
    small, _ = sdk_http_client(sdk, "aiohttp", 8)  # type: ignore[arg-type]
    assert transport == "aiohttp" and isinstance(big, _RecordingClient)
    assert (big.kwargs["limits"].max_keepalive_connections, big.kwargs["limits"].max_connections) == (400, 400)
    assert (small.kwargs["limits"].max_keepalive_connections, small.kwargs["limits"].max_connections) == (100, 150)
    assert big.kwargs["limits"].keepalive_expiry == 7.0


def test_httpx_is_chosen_on_request(caplog):
    sdk = fake_sdk("sdk_b")
    client, transport = sdk_http_client(sdk, "httpx", 64)  # type: ignore[arg-type]
    assert transport == "httpx" and type(client).__name__ == "HttpxClient"
    assert client.kwargs["limits"].max_keepalive_connections == 100


def test_missing_aiohttp_extra_falls_back_to_httpx_and_warns_once(caplog):
    sdk = fake_sdk("sdk_without_extra", aiohttp_client=_MissingExtra)
    with caplog.at_level(logging.WARNING):
        first = sdk_http_client(sdk, "aiohttp", 64)  # type: ignore[arg-type]
        second = sdk_http_client(sdk, "aiohttp", 64)  # type: ignore[arg-type]
    assert first[1] == second[1] == "httpx"
    warnings = [r.getMessage() for r in caplog.records if "aiohttp transport unavailable" in r.getMessage()]
    assert warnings == ["sdk_without_extra: aiohttp transport unavailable (install sdk_without_extra[aiohttp]); "
                        "using httpx"]


def test_unknown_transport_is_refused():
    with pytest.raises(ValueError, match="http_transport"):
        sdk_http_client(fake_sdk("sdk_c"), "curl", 64)  # type: ignore[arg-type]
    with pytest.raises(SettingsError, match="http_transport"):
        LLMSettings.validated({"http_transport": "curl"})


@pytest.mark.parametrize("provider, sdk", [("openai", openai), ("anthropic", anthropic)])
@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
def test_built_providers_use_the_configured_transport_of_the_real_sdk(provider, sdk, transport, monkeypatch):
    monkeypatch.setenv(KEY_ENV, "factory-test-key")
    settings = LLMSettings(http_transport=transport, max_concurrency=300)
    built = build_provider(wire_ref(provider), settings)
    http_client = built._client._client  # type: ignore[attr-defined]
    expected = sdk.DefaultAioHttpClient if transport == "aiohttp" else sdk.DefaultAsyncHttpxClient
    assert built.http_transport == transport  # type: ignore[attr-defined]
    assert type(http_client) is expected


def test_aiohttp_is_the_default_transport():
    assert LLMSettings().http_transport == "aiohttp"


def test_preload_imports_each_providers_module_and_sdk(monkeypatch):
    imported: list[str] = []
    monkeypatch.setattr(factory.importlib, "import_module", imported.append)
    preload_providers(["anthropic", "no-such-provider", "simulated"])
    # The simulated backend is handed in from above (a provider factory): nothing of it is imported here.
    assert imported == ["apigen_pipeline.llm.providers.anthropic_provider", "anthropic"]


def test_gateway_preloads_its_target_providers_but_not_overridden_ones(tmp_path, monkeypatch):
    preloaded: list[set[str]] = []
    monkeypatch.setattr(gateway, "preload_providers", lambda names: preloaded.append(set(names)))
    configured = LLMSettings(backend_override="configured",
                             roles=RoleModels(generator=wire_ref("anthropic")),
                             judges=[wire_ref("openai"), wire_ref("anthropic")])
    LLMGateway(configured, request_log=None)  # type: ignore[arg-type]
    LLMGateway(configured, request_log=None, providers={"openai": object()})  # type: ignore[arg-type, dict-item]
    LLMGateway(LLMSettings(), request_log=None)  # type: ignore[arg-type]
    assert preloaded == [{"openai", "anthropic"}, {"anthropic"}, {"simulated"}]


FREEZE_PROBE = """
import gc, json, weakref
import apigen_pipeline.llm.providers.openai_provider  # imported, not yet preloaded
from apigen_pipeline.llm.factory import preload_providers

class Node:
    pass

cycle = Node()
cycle.me = cycle
made_before = weakref.ref(cycle)
del cycle
frozen_at_start = gc.get_freeze_count()
preload_providers(["openai"])
import openai
frozen = gc.get_freeze_count()
preload_providers(["openai"])
print(json.dumps({"at_start": frozen_at_start, "frozen": frozen, "again": gc.get_freeze_count(),
                  "garbage_freed": made_before() is None,
                  "sdk_class_tracked": any(o is openai.AsyncOpenAI for o in gc.get_objects())}))
"""


def test_preloading_an_sdk_freezes_its_objects_out_of_the_collector_once_garbage_is_gone():
    """In a fresh interpreter: the SDK's long-lived objects leave the cyclic collector's walks (gc.freeze),
    the cyclic garbage there was is collected first rather than frozen for good, and preloading the same
    SDK again freezes nothing more."""
    probe = subprocess.run([sys.executable, "-c", FREEZE_PROBE], capture_output=True, text=True, timeout=120,
                           check=True)
    seen = json.loads(probe.stdout)
    assert seen["at_start"] == 0
    assert seen["frozen"] > 50_000  # the SDK's modules, classes and typed models
    assert seen["again"] == seen["frozen"]
    assert seen["garbage_freed"]
    assert not seen["sdk_class_tracked"]  # frozen objects are out of every generation the collector walks

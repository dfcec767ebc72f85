"""Benchmarks of the LLM gateway against local wire servers (127.0.0.1 only; no real provider).

    .venv/bin/python bench/llm_gateway.py           # full: includes a one-minute rate-limit window
    .venv/bin/python bench/llm_gateway.py --quick   # half the throughput requests, a 6 s rate-limit window
    .venv/bin/python bench/llm_gateway.py --transport httpx   # the SDKs' httpx transport instead of aiohttp

Gateway overhead: four clients send the same batch one after another to the same wire server (a
forked child process: like a real provider, its CPU is not the client's), at concurrency 64 with
200 ms server latency and at 256 with 2 s: raw aiohttp POSTs of the bodies the SDKs would send (the
floor), a plain loop over the official SDK client's typed method (`chat.completions.create`,
`messages.create`), a loop over the SDK's lowest-level public call (`client.post` returning the HTTP
response, the providers' path: what the SDK itself costs), and the gateway with its request log (the
batch's rows ingested into DuckDB before the clock stops). Targets: the gateway's wall time within 1.05x the
floor's, under 1 ms of client CPU per request. Client CPU is `time.process_time()` of this process
(every thread), the SDK imports done before the clock starts; wall ratios depend on the machine's
load, so the load average is printed with them.
Prints one line per measurement with its target, and exits non-zero if a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import httpx2

from apigen_pipeline.llm.config import LLMSettings, ModelRef, ProviderName, RateLimit, RoleModels
from apigen_pipeline.llm.gateway import CallContext, LLMGateway
from apigen_pipeline.llm.providers.anthropic_provider import MESSAGES_PATH, messages_create_params
from apigen_pipeline.llm.providers.openai_provider import CHAT_COMPLETIONS_PATH, chat_completion_params
from apigen_pipeline.llm.request_log import RequestLog
from apigen_pipeline.llm.sdk_common import HttpTransport, sdk_http_client
from apigen_pipeline.llm.simulated_faults import FaultRates
from apigen_pipeline.llm.types import ChatMessage, LLMRequest
from apigen_pipeline.simulated import SimulatedBackend
from apigen_pipeline.testing.wire_servers import WIRE_SERVERS, OpenAIWireServer
from apigen_pipeline.warehouse import Warehouse

CONTEXT = CallContext(domain="bench", batch="b1", run_id="bench", asset="bench")
# Generic answers only: the replay benchmark sends no pipeline prompts.
SIMULATED_FACTORY = {"simulated": SimulatedBackend().provider}
KEY_ENV = "APIGEN_BENCH_KEY"
MODEL = "wire-test-model"


def requests(count: int, tag: str) -> list[LLMRequest]:
    return [LLMRequest(role="generator", messages=[
        ChatMessage(role="system", content="You write short customer-service tasks."),
        ChatMessage(role="user", content=f"Write task number {i} for run {tag}.")]) for i in range(count)]




def wire_settings(base_url: str, concurrency: int, limit: RateLimit | None = None, *,
                  provider: ProviderName = "openai", transport: HttpTransport = "aiohttp") -> LLMSettings:
    ref = ModelRef(provider=provider, model=MODEL, base_url=base_url, api_key_env=KEY_ENV, timeout_s=30)
    return LLMSettings(backend_override="configured", roles=RoleModels(generator=ref), max_concurrency=concurrency,
                       limits={f"{provider}:{MODEL}": limit} if limit else {}, http_transport=transport)


def report(name: str, value: float, unit: str, target: str, ok: bool) -> bool:
    print(f"{name:<60} {value:>10.3f} {unit:<10} target {target:<12} {'ok' if ok else 'MISSED'}", flush=True)
    return ok


async def _floor_batch(url: str, headers: dict[str, str], bodies: list[bytes], concurrency: int) -> int:
    """Raw aiohttp POSTs of the bodies the SDKs would send, each reply read and parsed: the floor."""
    import aiohttp  # the SDKs' own transport, so the floor uses the same HTTP stack

    slots = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        async def post(body: bytes) -> bool:
            async with slots, session.post(url, data=body, headers=headers) as response:
                return response.status == 200 and bool(json.loads(await response.read()))
        return sum(await asyncio.gather(*(post(body) for body in bodies)))


def floor_client(provider: ProviderName, base_url: str, batch: list[LLMRequest], concurrency: int) -> int:
    key = os.environ[KEY_ENV]
    headers = {"content-type": "application/json", "authorization": f"Bearer {key}"}
    if provider == "openai":
        url = f"{base_url}/chat/completions"
        bodies = [chat_completion_params(request, MODEL, None) for request in batch]
    else:
        url, headers["anthropic-version"] = f"{base_url}/v1/messages", "2023-06-01"
        bodies = [messages_create_params(request, MODEL)[0] for request in batch]
    return asyncio.run(_floor_batch(url, headers, [json.dumps(body).encode() for body in bodies], concurrency))


def sdk_async_client(provider: ProviderName, base_url: str, concurrency: int) -> Any:
    """The official SDK's async client on its aiohttp transport, without retries."""
    sdk = importlib.import_module(provider)
    client_class = sdk.AsyncOpenAI if provider == "openai" else sdk.AsyncAnthropic
    http_client, _ = sdk_http_client(sdk, "aiohttp", concurrency)
    return client_class(api_key=os.environ[KEY_ENV], base_url=base_url, max_retries=0, http_client=http_client)


async def _sdk_batch(provider: ProviderName, base_url: str, batch: list[LLMRequest], concurrency: int) -> int:
    """The official SDK's async client in a plain loop, parsed responses and all: no log, no retries."""
    slots = asyncio.Semaphore(concurrency)
    async with sdk_async_client(provider, base_url, concurrency) as client:
        create = client.chat.completions.create if provider == "openai" else client.messages.create

        async def send(request: LLMRequest) -> bool:
            async with slots:
                messages = [message.model_dump(include={"role", "content"}) for message in request.messages]
                if provider == "openai":
                    return bool((await create(model=MODEL, messages=messages, max_tokens=2048)).choices)
                system, turns = messages[0]["content"], messages[1:]
                return bool((await create(model=MODEL, system=system, messages=turns, max_tokens=2048)).content)
        return sum(await asyncio.gather(*(send(request) for request in batch)))


def sdk_client(provider: ProviderName, base_url: str, batch: list[LLMRequest], concurrency: int) -> int:
    return asyncio.run(_sdk_batch(provider, base_url, batch, concurrency))


async def _sdk_post_batch(provider: ProviderName, base_url: str, batch: list[LLMRequest], concurrency: int) -> int:
    """The SDK's lowest-level public call, `client.post` of the floor's bodies returning the HTTP response
    (the providers' path): what the SDK itself costs above raw aiohttp, with no gateway around it."""
    slots = asyncio.Semaphore(concurrency)
    async with sdk_async_client(provider, base_url, concurrency) as client:
        async def send(request: LLMRequest) -> bool:
            async with slots:
                if provider == "openai":
                    response = await client.post(CHAT_COMPLETIONS_PATH, body=chat_completion_params(request, MODEL, None),
                                                 cast_to=httpx2.Response, options={"security": {"bearer_auth": True}})
                else:
                    response = await client.post(MESSAGES_PATH, body=messages_create_params(request, MODEL)[0],
                                                 cast_to=httpx2.Response)
                return bool(json.loads(response.content))
        return sum(await asyncio.gather(*(send(request) for request in batch)))


def sdk_post_client(provider: ProviderName, base_url: str, batch: list[LLMRequest], concurrency: int) -> int:
    return asyncio.run(_sdk_post_batch(provider, base_url, batch, concurrency))


def gateway_client(provider: ProviderName, base_url: str, batch: list[LLMRequest], concurrency: int,
                   log: RequestLog, transport: HttpTransport) -> int:
    """The gateway, its durable request log included: the batch's rows are ingested before the clock stops."""
    gateway = LLMGateway(wire_settings(base_url, concurrency, provider=provider, transport=transport), log)
    answered = sum(result.ok for result in gateway.complete_many(batch, CONTEXT))
    log.flush()
    return answered


@dataclass(frozen=True)
class Measured:
    wall_s: float
    cpu_ms_per_request: float


def measure(client: Callable[[list[LLMRequest]], int], batch: list[LLMRequest]) -> Measured:
    """Wall and client CPU (`process_time`: this process, every thread) of one client's batch."""
    wall, cpu = time.perf_counter(), time.process_time()
    answered = client(batch)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    if answered != len(batch):
        raise RuntimeError(f"only {answered} of {len(batch)} requests answered")
    return Measured(wall, cpu / len(batch) * 1000)


def bench_side_by_side(home: Path, provider: ProviderName, transport: HttpTransport, count: int,
                       concurrency: int, latency_s: float) -> bool:
    """The floor (raw aiohttp), the plain SDK client and the gateway, one after another, same server."""
    ideal = count / concurrency * latency_s
    sdk_name = "AsyncOpenAI" if provider == "openai" else "AsyncAnthropic"
    print(f"{provider}: {count} requests @ concurrency {concurrency}, server latency {latency_s * 1000:.0f} ms "
          f"(ideal {ideal:.2f} s; load average {os.getloadavg()[0]:.2f})", flush=True)
    with WIRE_SERVERS[provider](latency_s=latency_s, isolated=True) as server, \
            RequestLog(Warehouse(home / f"throughput-{provider}-{concurrency}.duckdb")) as log:
        LLMGateway(wire_settings(server.base_url, concurrency, provider=provider), log)  # SDK imports: once
        clients: dict[str, Callable[[list[LLMRequest]], int]] = {
            "raw aiohttp (floor)": partial(floor_client, provider, server.base_url, concurrency=concurrency),
            f"plain {sdk_name} loop": partial(sdk_client, provider, server.base_url, concurrency=concurrency),
            "SDK client.post loop": partial(sdk_post_client, provider, server.base_url, concurrency=concurrency),
            f"gateway ({transport})": partial(gateway_client, provider, server.base_url, concurrency=concurrency,
                                              log=log, transport=transport)}
        tag = f"{provider}-{concurrency}"
        measured = {name: measure(client, requests(count, f"{tag}-{name}")) for name, client in clients.items()}
    for name, result in measured.items():
        print(f"  {name:<28} wall/ideal {result.wall_s / ideal:6.3f}   client CPU {result.cpu_ms_per_request:6.3f} "
              "ms/request", flush=True)
    floor, gateway = measured["raw aiohttp (floor)"], measured[f"gateway ({transport})"]
    label = f"{provider} @ {concurrency}, {latency_s * 1000:.0f} ms"
    ratio = gateway.wall_s / floor.wall_s
    ok = report(f"gateway {label}: wall / floor wall", ratio, "ratio", "<= 1.05", ratio <= 1.05)
    return report(f"gateway {label}: client CPU per request", gateway.cpu_ms_per_request, "ms", "< 1",
                  gateway.cpu_ms_per_request < 1) and ok


def bench_replay(home: Path, count: int = 10_000) -> bool:
    warehouse = Warehouse(home / "replay.duckdb")
    batch = requests(count, "replay")
    settings = LLMSettings(simulated_faults=FaultRates.none())
    with RequestLog(warehouse) as log:  # fill the cache through the offline backend
        LLMGateway(settings, log, provider_factories=SIMULATED_FACTORY).complete_many(batch, CONTEXT)
    with RequestLog(warehouse) as log:
        gateway = LLMGateway(settings, log, provider_factories=SIMULATED_FACTORY)
        started = time.perf_counter()
        results = gateway.complete_many(batch, CONTEXT)
        elapsed = time.perf_counter() - started
    return report(f"replay: {count} cached requests", elapsed, "s", "< 3",
                  elapsed < 3 and all(r.from_cache for r in results))


def bench_rate_limit(home: Path, window_s: float, per_minute: float = 600) -> bool:
    expected = per_minute * window_s / 60
    with OpenAIWireServer(isolated=True) as server:
        settings = wire_settings(server.base_url, 64, RateLimit(requests_per_min=per_minute))
        with RequestLog(Warehouse(home / "limit.duckdb")) as log:
            LLMGateway(settings, log).complete_many(requests(int(expected * 1.1) + 2, "limit"), CONTEXT)
        times = sorted(record.received_at for record in server.requests)
    in_first_window = sum(1 for t in times if t < times[0] + window_s)
    busiest = max(sum(1 for t in times[i:] if t < start + window_s) for i, start in enumerate(times))
    ratio = in_first_window / expected
    return report(f"rate limit {per_minute:.0f}/min over {window_s:.0f} s: observed/limit", ratio, "ratio",
                  "0.95..1.00", ratio >= 0.95 and busiest <= expected)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="scale the one-minute rate-limit window to 6 s")
    parser.add_argument("--transport", choices=["aiohttp", "httpx"], default="aiohttp",
                        help="the SDKs' HTTP transport (LLMSettings.http_transport)")
    args = parser.parse_args()
    os.environ.setdefault(KEY_ENV, "bench-key-not-secret")
    with tempfile.TemporaryDirectory(prefix="llm-gateway-bench-") as directory:
        home = Path(directory)
        scale = 2 if args.quick else 1
        results = [bench_side_by_side(home, "openai", args.transport, 2000 // scale, 64, 0.2),
                   bench_side_by_side(home, "openai", args.transport, 2560 // scale, 256, 2.0),
                   bench_side_by_side(home, "anthropic", args.transport, 2000 // scale, 64, 0.2),
                   bench_replay(home), bench_rate_limit(home, 6.0 if args.quick else 60.0)]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())

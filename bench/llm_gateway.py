"""Benchmarks of the LLM gateway against local wire servers (127.0.0.1 only; no real provider).

    .venv/bin/python bench/llm_gateway.py           # full: includes a one-minute rate-limit window
    .venv/bin/python bench/llm_gateway.py --quick   # CI: the rate-limit window scaled down to 6 s
    .venv/bin/python bench/llm_gateway.py --transport httpx   # the SDKs' httpx transport instead of aiohttp

Throughput runs through the real OpenAI and Anthropic SDK providers against a wire server in a
forked child process (like a real provider, its CPU is not the client's); client CPU is
`time.process_time()` of this process only, the SDK imports done before the clock starts.
Prints one line per measurement with its target, and exits non-zero if a target is missed.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Literal

from apigen_pipeline.llm.config import LLMSettings, ModelRef, ProviderName, RateLimit, RoleModels
from apigen_pipeline.llm.gateway import CallContext, LLMGateway
from apigen_pipeline.llm.request_log import RequestLog
from apigen_pipeline.llm.simulated_faults import FaultRates
from apigen_pipeline.llm.types import ChatMessage, LLMRequest
from apigen_pipeline.simulated import SimulatedBackend
from apigen_pipeline.testing.wire_servers import AnthropicWireServer, OpenAIWireServer, WireServer
from apigen_pipeline.warehouse import Warehouse

CONTEXT = CallContext(domain="bench", batch="b1", run_id="bench", asset="bench")
# Generic answers only: the replay benchmark sends no pipeline prompts.
SIMULATED_FACTORY = {"simulated": SimulatedBackend().provider}
KEY_ENV = "APIGEN_BENCH_KEY"


def requests(count: int, tag: str) -> list[LLMRequest]:
    return [LLMRequest(role="generator", messages=[
        ChatMessage(role="system", content="You write short customer-service tasks."),
        ChatMessage(role="user", content=f"Write task number {i} for run {tag}.")]) for i in range(count)]


WIRE_SERVERS: dict[str, type[WireServer]] = {"openai": OpenAIWireServer, "anthropic": AnthropicWireServer}
HttpTransport = Literal["aiohttp", "httpx"]


def wire_settings(base_url: str, concurrency: int, limit: RateLimit | None = None, *,
                  provider: ProviderName = "openai", transport: HttpTransport = "aiohttp") -> LLMSettings:
    ref = ModelRef(provider=provider, model="wire-test-model", base_url=base_url, api_key_env=KEY_ENV, timeout_s=30)
    return LLMSettings(backend_override="configured", roles=RoleModels(generator=ref), max_concurrency=concurrency,
                       limits={f"{provider}:wire-test-model": limit} if limit else {}, http_transport=transport)


def report(name: str, value: float, unit: str, target: str, ok: bool) -> bool:
    print(f"{name:<60} {value:>10.3f} {unit:<10} target {target:<12} {'ok' if ok else 'MISSED'}", flush=True)
    return ok


def bench_throughput(home: Path, provider: ProviderName, transport: HttpTransport, count: int = 2000,
                     concurrency: int = 64, latency_s: float = 0.2) -> bool:
    with WIRE_SERVERS[provider](latency_s=latency_s, isolated=True) as server:
        settings = wire_settings(server.base_url, concurrency, provider=provider, transport=transport)
        with RequestLog(Warehouse(home / f"throughput-{provider}.duckdb")) as log:
            gateway = LLMGateway(settings, log)  # imports the SDK: a once-per-process cost, not a request's
            wall, cpu = time.perf_counter(), time.process_time()
            results = gateway.complete_many(requests(count, f"throughput-{provider}"), CONTEXT)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    ideal = count / concurrency * latency_s
    answered = sum(r.ok for r in results)
    label = f"{provider} ({transport})"
    ok = report(f"throughput {label}: {count} req @ {concurrency}, {latency_s * 1000:.0f} ms", wall / ideal,
                "wall/ideal", "<= 1.15", wall / ideal <= 1.15 and answered == count)
    return report(f"throughput {label}: client CPU per request", cpu / count * 1000, "ms", "< 2",
                  cpu / count < 0.002) and ok


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
        results = [bench_throughput(home, "openai", args.transport), bench_throughput(home, "anthropic", args.transport),
                   bench_replay(home), bench_rate_limit(home, 6.0 if args.quick else 60.0)]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())

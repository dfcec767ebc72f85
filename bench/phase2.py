"""Phase 2 benchmark: one partition of 50 accepted blueprints per domain through `run_phase2`.

Blueprints come from `run_phase1` with the simulated backend. Phase 2 then runs twice per domain with
the simulated backend behind a DirectClient (all requests of a lockstep step in flight at once): with 0
ms and with 300 ms of simulated latency per call. Reported: wall time, time inside LLM calls, the share
outside them (target < 10% at 300 ms), steps, requests, and the yields the default fault rates produce.

    .venv/bin/python bench/phase2.py [--blueprints 50] [--domains retail airline] [--latency 0.3] [--seed 0]
"""

from __future__ import annotations

import argparse
import time

from apigen_pipeline.config import SamplingConfig
from apigen_pipeline.environments.base import Environment
from apigen_pipeline.environments.registry import load_environment
from apigen_pipeline.llm.client import DirectClient
from apigen_pipeline.phase1.contexts import ContextSampler
from apigen_pipeline.phase1.runner import run_phase1
from apigen_pipeline.phase1.settings import Phase1Config
from apigen_pipeline.phase2.models import Phase2Settings
from apigen_pipeline.phase2.runner import run_phase2
from apigen_pipeline.simulated import SimulatedBackend, SimulatedProvider


def client(seed: int, latency_s: float, environment: Environment) -> DirectClient:
    roles = SimulatedBackend({environment.name: environment}).roles
    return DirectClient(SimulatedProvider(seed=seed, latency_s=latency_s, handlers=roles))


def bench_domain(domain: str, count: int, latency_s: float, seed: int) -> None:
    environment = load_environment(domain)
    sampler = ContextSampler(environment, SamplingConfig())
    contexts = [sampler.sample("bench", index) for index in range(int(count * 1.6))]
    phase1 = run_phase1(contexts, environment, client(seed, 0.0, environment), Phase1Config())
    blueprints = phase1.kept_blueprints[:count]
    print(f"\n== {domain}: {len(blueprints)} accepted blueprints (from {len(contexts)} contexts)")
    for latency in (0.0, latency_s):
        started = time.perf_counter()
        result = run_phase2(blueprints, environment, client(seed, latency, environment), Phase2Settings(), domain)
        wall = time.perf_counter() - started
        stats, timings = result.stats, result.timings
        print(f"  latency {latency * 1000:>4.0f} ms: wall {wall:.2f} s, in LLM calls {timings.llm_s:.2f} s, "
              f"outside {timings.non_llm_s / timings.total_s:.1%} ({timings.non_llm_s:.2f} s); "
              f"steps {timings.steps}; requests {stats.llm_requests}; "
              f"non-LLM per attempt {1000 * timings.non_llm_s / stats.attempts:.1f} ms")
    print(f"  yield {stats.phase2_yield:.1%} of blueprints; attempts verified {stats.attempt_success_rate:.1%}; "
          f"kept {stats.kept_trajectories}/{stats.attempts} (policy drops {stats.dropped_policy}, "
          f"duplicates {stats.duplicates})")
    print(f"  failures {stats.failures_by_reason}; audit {stats.audit_findings_by_rule}")
    print(f"  kept trajectories: turns {stats.mean_turns:.1f} (min {stats.min_turns}, max {stats.max_turns}), "
          f"user turns {stats.mean_user_turns:.1f}, tool calls {stats.mean_tool_calls:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blueprints", type=int, default=50)
    parser.add_argument("--domains", nargs="*", default=["retail", "airline"])
    parser.add_argument("--latency", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    for domain in args.domains:
        bench_domain(domain, args.blueprints, args.latency, args.seed)


if __name__ == "__main__":
    main()

"""Phase 1 benchmark: 1,000 simulated contexts per domain through `run_phase1`.

Reports the non-LLM time per attempt (target < 5 ms on average), the share of wall time spent
outside LLM calls, and the yield without the feedback loop (R = 0) and with the domain's default R.
The simulated backend answers through a DirectClient (no cache, no retries), so "LLM time" here is
the simulated provider's own time; everything else is the pipeline's Python. The yields are those of
simulated answers: they rehearse the pipeline (the loop runs, its plans are acted on) and measure
nothing about any model.

    .venv/bin/python bench/phase1.py [--contexts 1000] [--domains retail airline] [--seed 0]
"""

from __future__ import annotations

import argparse
import time

from apigen_pipeline.environments.base import Environment
from apigen_pipeline.environments.registry import EnvironmentNotFoundError, load_environment
from apigen_pipeline.llm.client import DirectClient
from apigen_pipeline.phase1.contexts import ContextSampler, SamplingConfig
from apigen_pipeline.phase1.runner import run_phase1
from apigen_pipeline.phase1.settings import Phase1Config
from apigen_pipeline.simulated import SimulatedBackend, SimulatedProvider

MOCK = "apigen_pipeline_tests.mock_domain:plugin"


def client(seed: int, environment: Environment) -> DirectClient:
    roles = SimulatedBackend({environment.name: environment}).roles
    return DirectClient(SimulatedProvider(seed=seed, handlers=roles))


def bench_domain(reference: str, count: int, seed: int) -> None:
    environment = load_environment(reference)
    sampler = ContextSampler(environment, SamplingConfig())
    started = time.perf_counter()
    contexts = [sampler.sample("bench", index) for index in range(count)]
    sampling_s = time.perf_counter() - started
    print(f"\n== {environment.name}: {count} contexts (sampled in {sampling_s:.2f} s); simulated yields rehearse "
          "the pipeline, they measure nothing about models")
    for label, config in (("R=0", Phase1Config().with_feedback_rounds(0)), ("default R", Phase1Config())):
        result = run_phase1(contexts, environment, client(seed, environment), config)
        stats, timings = result.stats, result.timings
        attempts = stats.attempts + stats.recombination_tried
        print(f"  {label:<9} (R={result.feedback_rounds}): yield {stats.yield_with_feedback:.1%} "
              f"(round 0: {stats.yield_without_feedback:.1%}); attempts {attempts}; "
              f"recombined {stats.accepted_recombined}/{stats.recombination_tried}; "
              f"duplicates exact {stats.exact_duplicates} near {stats.near_duplicates}")
        print(f"            wall {timings.total_s:.2f} s, in LLM calls {timings.llm_s:.2f} s, "
              f"outside {timings.non_llm_s / timings.total_s:.0%}; "
              f"non-LLM per attempt {1000 * timings.non_llm_s / attempts:.2f} ms; "
              f"LLM requests {stats.llm_requests}")
        print(f"            kappa {stats.kappa}")
        top = sorted(stats.failures_by_reason.items(), key=lambda item: -item[1])[:6]
        print(f"            failures {dict(top)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contexts", type=int, default=1000)
    parser.add_argument("--domains", nargs="*", default=["retail", "airline"])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    for domain in args.domains:
        try:
            bench_domain(domain, args.contexts, args.seed)
        except EnvironmentNotFoundError:
            print(f"\n{domain} is not available; using the mock domain")
            bench_domain(MOCK, args.contexts, args.seed)


if __name__ == "__main__":
    main()

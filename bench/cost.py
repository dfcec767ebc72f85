"""Cost benchmark: $ per verified trajectory of the default partition, before and after the cost work.

Runs the default config's batch job for one partition per domain (default: retail) on the offline simulated
backend, with pass^k evaluation switched on (today's behaviour), into a fresh project home. Then it prices
the request log on the configured models with the providers' price table (`llm.config.DEFAULT_PRICES`):

* before: every request at the full input price (no prompt-cache hits assumed), none through a batch API,
  the pass^k evaluation's requests included;
* after: the cache reads and writes each request's projection target reports under its provider's
  prefix rule (`llm.prompt_cache`, stored per request), the batch discount on the roles sent through a
  batch API (`--batch-roles`), and no pass^k evaluation (the default run leaves it out; its requests are
  left out here, which is the same: it runs in its own step and feeds nothing else).

These are simulated projections of token counts estimated from the prompts, not measurements on models.
Target: after <= half of before.

    .venv/bin/python bench/cost.py [--domains retail] [--batch 2026-11-25] [--batch-roles generator judge ...]
"""

from __future__ import annotations

import argparse
import os
import tempfile
from collections import defaultdict
from pathlib import Path

from apigen_pipeline.config import EvaluationConfig, PipelineConfig
from apigen_pipeline.llm.pricing import cost_of
from apigen_pipeline.llm.types import Usage

EVALUATION_ASSET = "passk_evaluation"
# Requests that wait on no conversation: Phase 1's roles can go through a provider's batch API.
PHASE1_ROLES = ("generator", "judge", "summarizer", "recombiner")
TARGET_RATIO = 0.5
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


def run_partitions(home: Path, domains: list[str], batch: str) -> PipelineConfig:
    """The default config with evaluation on, materialized by the batch job for each domain's partition."""
    os.environ["APIGEN_HOME"] = str(home)
    os.environ["DAGSTER_HOME"] = str(home / "dagster_home")
    os.environ.pop("APIGEN_LLM", None)  # the simulated backend, projecting onto the configured models
    (home / "dagster_home").mkdir(parents=True)
    import dagster as dg

    from apigen_pipeline.definitions import build_definitions
    from apigen_pipeline.defs.automation.batches import BATCH_JOB_NAME
    from apigen_pipeline.defs.shared.partitions import Partition

    default = PipelineConfig()
    config = default.model_copy(update={"domains": [d for d in default.domains if d.name in domains],
                                        "evaluation": EvaluationConfig(enabled=True)})
    job = build_definitions(config=config).resolve_job_def(BATCH_JOB_NAME)
    with dg.DagsterInstance.get() as instance:
        for domain in domains:
            result = job.execute_in_process(partition_key=Partition(domain, batch).key(), instance=instance,
                                            run_config=QUIET, raise_on_error=True)
            print(f"run {result.run_id} {domain}|{batch}: {'SUCCESS' if result.success else 'FAILURE'}")
    return config


def read_log(home: Path) -> tuple[list[dict], int]:
    """The request log's sent requests and the verified trajectories of the partitions run."""
    from apigen_pipeline.cli.reading import read_only_connection

    with read_only_connection(home) as con:
        rows = con.execute("SELECT role, asset, projection_model, input_tokens, cached_input_tokens, "
                           "cache_write_input_tokens, output_tokens, projected_cost_usd FROM llm_requests "
                           "WHERE status <> 'not_sent'").fetchdf().to_dict("records")
        verified = con.execute("SELECT coalesce(sum(verified_trajectories), 0) FROM (SELECT DISTINCT domain, batch, "
                               "verified_trajectories FROM generation_report)").fetchone()[0]
    return rows, int(verified)


def price(row: dict, config: PipelineConfig, cached: bool, via_batch: bool) -> float:
    usage = Usage(input_tokens=int(row["input_tokens"]), output_tokens=int(row["output_tokens"]),
                  cached_input_tokens=int(row["cached_input_tokens"] or 0) if cached else 0,
                  cache_write_input_tokens=int(row["cache_write_input_tokens"] or 0) if cached else 0)
    return cost_of(usage, row["projection_model"], config.llm.prices, via_batch=via_batch).usd_or_zero


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domains", nargs="*", default=["retail"])
    parser.add_argument("--batch", default="2026-11-25")
    parser.add_argument("--batch-roles", nargs="*", default=list(PHASE1_ROLES),
                        help="roles priced as sent through the provider's batch API in the 'after' figure")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="apigen-bench-cost-") as folder:
        home = Path(folder) / "apigen_home"
        config = run_partitions(home, args.domains, args.batch)
        rows, verified = read_log(home)
    if not verified:
        raise SystemExit("no verified trajectory: nothing to divide by")

    before_by: dict[str, float] = defaultdict(float)
    after_by: dict[str, float] = defaultdict(float)
    for row in rows:
        label = "pass^k evaluation" if row["asset"] == EVALUATION_ASSET else row["role"]
        before_by[label] += price(row, config, cached=False, via_batch=False)
        if row["asset"] != EVALUATION_ASSET:
            after_by[label] += price(row, config, cached=True, via_batch=row["role"] in args.batch_roles)
    generation = [row for row in rows if row["asset"] != EVALUATION_ASSET]
    stored = sum(float(row["projected_cost_usd"] or 0) for row in generation)
    recomputed = sum(price(row, config, cached=True, via_batch=False) for row in generation)
    assert abs(stored - recomputed) < 1e-6 * max(1.0, stored), (stored, recomputed)  # the log's own pricing
    hit_rate = sum(int(r["cached_input_tokens"] or 0) for r in generation) / max(1, sum(int(r["input_tokens"])
                                                                                    for r in generation))
    before, after = sum(before_by.values()), sum(after_by.values())
    steps = [("evaluation off", sum(price(r, config, cached=False, via_batch=False) for r in generation)),
             ("+ cache rule", recomputed)]

    print(f"\n{len(rows)} requests, {verified} verified trajectories ({', '.join(args.domains)} | {args.batch}); "
          f"simulated projections on the configured models, not model measurements")
    print(f"{'':<20} {'before $':>10} {'after $':>10}")
    for label in sorted(before_by, key=lambda name: -before_by[name]):
        print(f"{label:<20} {before_by[label]:>10.4f} {after_by.get(label, 0.0):>10.4f}")
    print(f"{'total':<20} {before:>10.4f} {after:>10.4f}")
    print(f"prompt-cache hit rate (generation, by the providers' prefix rule): {hit_rate:.1%} of input tokens")
    print(f"batch roles: {', '.join(args.batch_roles) or 'none'}")
    print("step by step, $ per verified trajectory: "
          + ", ".join(f"{name} ${total / verified:.4f}" for name, total in [*steps, ("+ batch discount", after)]))
    print(f"$ per verified trajectory: before ${before / verified:.4f} (no caching, no batch, evaluation on), "
          f"after ${after / verified:.4f} (cache rule, batch discount, evaluation off)")
    ratio = after / before
    print(f"after/before {ratio:.3f} (target <= {TARGET_RATIO}): {'met' if ratio <= TARGET_RATIO else 'NOT met'}")


if __name__ == "__main__":
    main()

"""What a stage reads back of earlier stages' rows in its partition, as core records."""

from __future__ import annotations

from apigen_pipeline.dataset.report import RolePromptTokens, UsageTotals
from apigen_pipeline.defs.shared.partitions import Partition
from apigen_pipeline.phase1.models import AcceptedBlueprint
from apigen_pipeline.phase1.rows import accepted_blueprint_from_row
from apigen_pipeline.phase2.models import TrajectoryAttempt
from apigen_pipeline.warehouse import Warehouse


def kept_blueprints(store: Warehouse, partition: Partition) -> list[AcceptedBlueprint]:
    """The partition's accepted blueprints that survived deduplication, by blueprint id."""
    frame = store.query("phase1/kept_blueprint_records", [partition.domain, partition.batch])
    return [accepted_blueprint_from_row(row) for row in frame.to_dict("records")]


def kept_trajectories(store: Warehouse, partition: Partition) -> list[TrajectoryAttempt]:
    """The partition's kept trajectories, by blueprint and attempt."""
    frame = store.query("phase2/kept_trajectories", [partition.domain, partition.batch])
    return [TrajectoryAttempt.model_validate_json(text) for text in frame["attempt_json"]]


def usage_totals(store: Warehouse, partition: Partition) -> UsageTotals:
    """Tokens and cost of every LLM request logged for the partition."""
    row = store.query("report/usage_totals", [partition.domain, partition.batch]).iloc[0]
    return UsageTotals(input_tokens=int(row["input_tokens"]), output_tokens=int(row["output_tokens"]),
                       cached_input_tokens=int(row["cached_input_tokens"]),
                       cache_write_input_tokens=int(row["cache_write_input_tokens"]), cost_usd=float(row["cost_usd"]),
                       projected_cost_usd=float(row["projected_cost_usd"]))


def prompt_tokens_by_role(store: Warehouse, partition: Partition) -> dict[str, RolePromptTokens]:
    """Input tokens per request of each role logged for the partition (p50/p95)."""
    frame = store.query("report/prompt_tokens_by_role", [partition.domain, partition.batch])
    return {str(row["role"]): RolePromptTokens(requests=int(row["requests"]), p50=round(float(row["p50"]), 1),
                                               p95=round(float(row["p95"]), 1))
            for row in frame.to_dict("records")}


def simulated_by_key(store: Warehouse, keys: list[str]) -> dict[str, bool]:
    """Whether the simulated backend answered each of `keys`, from the request log (keys it lacks left out)."""
    if not keys:
        return {}
    frame = store.query("llm/simulated_by_key", [keys])
    return {str(key): bool(flag) for key, flag in zip(frame["request_key"], frame["simulated"], strict=True)}

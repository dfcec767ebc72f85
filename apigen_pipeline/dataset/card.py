"""The dataset card of an export: counts, turn and tool-call statistics, provenance, cost.

Rendered as JSON (machine-readable) and Markdown. Data made by the simulated backend is marked
NOT FOR TRAINING in both: it rehearses the pipeline, it does not teach a model anything real. Whether it
was is the rows' provenance (`simulated`: true, false or mixed, from the request log behind each row),
never the configuration in force at export time.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import Field

from apigen_pipeline.llm.provenance import Simulated, fit_for_training
from apigen_pipeline.records import FrozenModel

NOT_FOR_TRAINING = "NOT FOR TRAINING"


class DatasetCardInfo(FrozenModel):
    """What the exporter cannot see in the rows. No timestamps or run ids: cards must be reproducible."""

    models: dict[str, str] = Field(default_factory=dict)           # role -> provider:model
    prompt_versions: dict[str, str] = Field(default_factory=dict)  # role -> version
    config_hash: str = ""
    cost_usd: float = 0.0
    projected_cost_usd: float = 0.0                 # what the configured real models would have cost
    input_tokens: int = 0
    cached_input_tokens: int = 0                    # of the input tokens, served from prompt caches
    output_tokens: int = 0
    # role -> {"requests", "p50", "p95"}: input tokens per request, from the request log.
    prompt_tokens_by_role: dict[str, dict[str, float]] = Field(default_factory=dict)
    dataset_name: str = "apigen-mt-synthetic"


def _stats(values: Sequence[int]) -> dict[str, float]:
    if not values:
        return {"mean": 0.0, "min": 0, "max": 0}
    return {"mean": round(sum(values) / len(values), 4), "min": min(values), "max": max(values)}


BACKENDS = {"true": "simulated", "false": "live", "mixed": "simulated and live", None: "unknown"}


def dataset_card(domain: str, batch: str, lineage: Sequence[Mapping[str, Any]], info: DatasetCardInfo,
                 dropped_by_reason: Mapping[str, int] | None = None, simulated: Simulated | None = None
                 ) -> dict[str, Any]:
    """`dropped_by_reason`: kept trajectories the exporter did not write (a trainer could not use them);
    `simulated`: the provenance of the partition's exported content (None: unknown, not fit for training)."""
    rows = len(lineage)
    dropped = dict(sorted((dropped_by_reason or {}).items()))
    verified = rows + sum(dropped.values())  # every kept trajectory was paid for, exported or not
    not_for_training = not fit_for_training(simulated)
    return {
        "dataset": info.dataset_name,
        "partition": {"domain": domain, "batch": batch},
        "status": NOT_FOR_TRAINING if not_for_training else "generated",
        "not_for_training": not_for_training,
        "simulated": simulated or "unknown",
        "backend": BACKENDS[simulated],
        "rows": rows,
        "rows_dropped": sum(dropped.values()),
        "dropped_by_reason": dropped,
        "rows_per_domain": dict(sorted(Counter(str(r["domain"]) for r in lineage).items())),
        "blueprints": len({r["blueprint_id"] for r in lineage}),
        "turns": _stats([int(r["turns"]) for r in lineage]),
        "user_turns": _stats([int(r["user_turns"]) for r in lineage]),
        "tool_calls": _stats([int(r["tool_calls"]) for r in lineage]),
        "models": dict(sorted(info.models.items())),
        "prompt_versions": dict(sorted(info.prompt_versions.items())),
        "config_hash": info.config_hash,
        "cost": {"usd": round(info.cost_usd, 6), "projected_usd": round(info.projected_cost_usd, 6),
                 "input_tokens": info.input_tokens, "cached_input_tokens": info.cached_input_tokens,
                 "output_tokens": info.output_tokens, "verified_trajectories": verified,
                 "usd_per_verified_trajectory": _per(info.cost_usd, verified),
                 "projected_usd_per_verified_trajectory": _per(info.projected_cost_usd, verified),
                 "usd_per_row": _per(info.cost_usd, rows),
                 "projected_usd_per_row": _per(info.projected_cost_usd, rows)},
        "prompt_tokens_by_role": dict(sorted(info.prompt_tokens_by_role.items())),
        "formats": {"apigen_mt": "ShareGPT rows: conversations, system, tools",
                    "openai": "chat fine-tuning examples: messages, tools"},
    }


def _per(total: float, count: int) -> float | None:
    return round(total / count, 6) if count else None


def _dollars(value: float | None) -> str:
    return "n/a" if value is None else f"${value:.4f}"


_REHEARSAL = ("it rehearses the pipeline and its costs; its conversations are synthetic placeholders, and its "
              "yields measure the pipeline's plumbing, nothing about any model.")
_NOT_FOR_TRAINING_WHY = {
    "true": "Made by the offline simulated backend: " + _REHEARSAL,
    "mixed": "Part of it was made by the offline simulated backend: " + _REHEARSAL,
    "unknown": "Where its rows came from is not recorded (rows written before provenance was stored).",
}


def card_json(card: Mapping[str, Any]) -> bytes:
    return (json.dumps(card, ensure_ascii=False, sort_keys=True, indent=2) + "\n").encode()


def card_markdown(card: Mapping[str, Any]) -> str:
    partition = card["partition"]
    lines = [f"# {card['dataset']}: {partition['domain']} / {partition['batch']}", ""]
    if card["not_for_training"]:
        lines += [f"> **{NOT_FOR_TRAINING}.** {_NOT_FOR_TRAINING_WHY[card['simulated']]}", ""]
    lines += [
        "Verified multi-turn tool-use trajectories made with the APIGen-MT method (blueprints verified in "
        "Phase 1, simulated human-agent conversations verified by replay in Phase 2).", "",
        "| | |", "|---|---|",
        f"| rows | {card['rows']} |",
        f"| blueprints | {card['blueprints']} |",
        f"| backend | {card['backend']} |",
        f"| simulated | {card['simulated']} |",
        f"| config hash | `{card['config_hash']}` |",
        "",
        "## Rows per domain", "", "| domain | rows |", "|---|---|",
        *(f"| {domain} | {count} |" for domain, count in card["rows_per_domain"].items()),
        "",
        "## Rows left out", "",
        "Verified trajectories a trainer could not use (no human turn, no tool call, not ending on an agent "
        "reply, a blueprint write not made, or a format validator's rejection) are not written.", "",
        "| reason | rows |", "|---|---|",
        *(f"| {reason} | {count} |" for reason, count in card["dropped_by_reason"].items()),
        f"| total | {card['rows_dropped']} |",
        "",
        "## Conversation statistics", "", "| | mean | min | max |", "|---|---|---|---|",
        *(f"| {name.replace('_', ' ')} | {card[name]['mean']} | {card[name]['min']} | {card[name]['max']} |"
          for name in ("turns", "user_turns", "tool_calls")),
        "",
        "## Models and prompts", "", "| role | model | prompt version |", "|---|---|---|",
        *(f"| {role} | {card['models'].get(role, '')} | {card['prompt_versions'].get(role, '')} |"
          for role in sorted(set(card["models"]) | set(card["prompt_versions"]))),
        "",
        "## Cost", "",
        f"- spent: ${card['cost']['usd']:.4f} ({card['cost']['input_tokens']} input, of them "
        f"{card['cost']['cached_input_tokens']} cached, {card['cost']['output_tokens']} output tokens)",
        f"- projected on the configured models: ${card['cost']['projected_usd']:.4f}",
        f"- per verified trajectory ({card['cost']['verified_trajectories']}): "
        f"{_dollars(card['cost']['usd_per_verified_trajectory'])} spent, "
        f"{_dollars(card['cost']['projected_usd_per_verified_trajectory'])} projected",
        "",
        "## Prompt tokens per role", "", "Input tokens per request (the request log).", "",
        "| role | requests | p50 | p95 |", "|---|---:|---:|---:|",
        *(f"| {role} | {tokens['requests']:.0f} | {tokens['p50']:.0f} | {tokens['p95']:.0f} |"
          for role, tokens in card["prompt_tokens_by_role"].items()),
        "",
        "## Formats", "",
        *(f"- `{name}`: {text}" for name, text in card["formats"].items()),
        "",
    ]
    return "\n".join(lines)

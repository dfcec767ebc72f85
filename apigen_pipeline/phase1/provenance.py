"""Provenance of accepted blueprints: whether the simulated backend, real models or both answered the
requests behind each one (`llm.provenance`).

A simple blueprint rests on every round of its context up to the accepted one (generator, judges, and the
summarizer whose plan the next round followed); a recombined one on its own attempt (recombiner, judges)
and on its source blueprints.
"""

from __future__ import annotations

from collections.abc import Mapping

from apigen_pipeline.llm.provenance import Simulated, combined_label, keys_label
from apigen_pipeline.phase1.models import AcceptedBlueprint, Phase1Result


def request_keys(result: Phase1Result) -> list[str]:
    """Every request key the partition's attempts hold (what to look up in the request log)."""
    return sorted({key for attempt in result.attempts for key in attempt.request_keys})


def with_provenance(result: Phase1Result, simulated_by_key: Mapping[str, bool]) -> Phase1Result:
    """`result` with each blueprint's `simulated` label; `simulated_by_key` from the request log."""
    flags = dict(simulated_by_key)
    labels: dict[str, Simulated | None] = {}

    def label(blueprint: AcceptedBlueprint) -> Simulated | None:
        if blueprint.kind == "recombined":
            own = [key for a in result.attempts if a.attempt_id == blueprint.attempt_id for key in a.request_keys]
            return combined_label([keys_label(own, flags),
                                   *(labels.get(source) for source in blueprint.source_blueprint_ids)])
        behind = [key for a in result.attempts
                  if a.kind == "simple" and a.context_id == blueprint.context_id and a.round <= blueprint.rounds_used
                  for key in a.request_keys]
        return keys_label(behind, flags)

    # Simple blueprints first: a recombined one's label includes its sources'.
    for blueprint in sorted(result.blueprints, key=lambda b: b.kind != "simple"):
        labels[blueprint.blueprint_id] = label(blueprint)
    return result.model_copy(update={"blueprints": [b.model_copy(update={"simulated": labels[b.blueprint_id]})
                                                    for b in result.blueprints]})

"""Provenance of trajectory attempts: the requests of the conversation itself (human, critic, agent) and
the blueprint it plays out (`llm.provenance`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from apigen_pipeline.llm.provenance import Simulated, combined_label, keys_label
from apigen_pipeline.phase2.models import TrajectoryAttempt


def request_keys(attempts: Sequence[TrajectoryAttempt]) -> list[str]:
    return sorted({key for attempt in attempts for key in attempt.request_keys})


def with_provenance(attempts: Sequence[TrajectoryAttempt], simulated_by_key: Mapping[str, bool],
                    blueprint_labels: Mapping[str, Simulated | None]) -> list[TrajectoryAttempt]:
    """Each attempt with its `simulated` label: its own logged requests combined with its blueprint's label."""
    flags = dict(simulated_by_key)
    return [attempt.model_copy(update={"simulated": combined_label(
        [keys_label(attempt.request_keys, flags), blueprint_labels.get(attempt.blueprint_id)])})
        for attempt in attempts]

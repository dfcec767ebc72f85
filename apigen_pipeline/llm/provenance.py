"""Where a row's content came from, as far as the request log knows: the simulated backend, real models, or both.

A blueprint or trajectory row is labelled from the request log entries behind it (`simulated` on each
logged request), never from the configuration in force when it is read or exported: a rehearsal
re-exported after a real backend is configured stays a rehearsal.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

Simulated = Literal["true", "false", "mixed"]


def simulated_label(flags: Iterable[bool]) -> Simulated | None:
    """"true" when every entry was simulated, "false" when none was, "mixed" otherwise; None without entries."""
    seen = set(flags)
    if not seen:
        return None
    if seen == {True}:
        return "true"
    return "false" if seen == {False} else "mixed"


def combined_label(labels: Iterable[Simulated | None]) -> Simulated | None:
    """The label of content made from several labelled parts (None parts are unknown and left out)."""
    known = {label for label in labels if label is not None}
    if not known:
        return None
    return next(iter(known)) if len(known) == 1 else "mixed"


def fit_for_training(label: Simulated | None) -> bool:
    """Only content every request of which a real model answered may be used to train; unknown is not."""
    return label == "false"


def keys_label(keys: Iterable[str], simulated_by_key: dict[str, bool]) -> Simulated | None:
    """The label of the logged requests among `keys` (keys the log does not hold are left out)."""
    return simulated_label(simulated_by_key[key] for key in keys if key in simulated_by_key)

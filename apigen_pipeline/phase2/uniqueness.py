"""Which successful attempts of one blueprint count as distinct trajectories.

Canonical form: the sequence of (role, text, tool calls) of the conversation, with text lower-cased and
whitespace collapsed, each tool call as (name, canonical JSON of its arguments), tool results included,
call ids left out (they are renumbered per episode and carry no content). Two attempts with the same
canonical form would be the same training example twice; only the first (lowest attempt index) is kept.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import Any

from apigen_pipeline.llm.types import canonical
from apigen_pipeline.phase2.models import TrajectoryMessage

_SPACE = re.compile(r"\s+")


def normalized_text(text: str | None) -> str:
    return _SPACE.sub(" ", (text or "").strip().lower())


def canonical_form(messages: Sequence[TrajectoryMessage]) -> list[list[Any]]:
    return [[m.role, normalized_text(m.content), [[c.name, canonical(c.arguments)] for c in m.tool_calls]]
            for m in messages]


def canonical_hash(messages: Sequence[TrajectoryMessage]) -> str:
    return hashlib.sha256(canonical(canonical_form(messages)).encode()).hexdigest()

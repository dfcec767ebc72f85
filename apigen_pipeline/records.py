"""The one base of every record that crosses a boundary: unknown fields are errors, instances immutable.

Frozen records can be hashed, cached and shared between threads; forbidding extra fields turns a
misspelt config key or a drifted row into a validation error instead of a silently ignored value.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class FrozenModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

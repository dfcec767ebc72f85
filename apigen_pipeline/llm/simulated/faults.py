"""Configurable, deterministic fault injection for the simulated backend.

Generic paths use `invalid_json`, `wrong_argument` and `unknown_tool`; the other kinds are for role
handlers (judges, the simulated user, the agent) to apply in their own way.

Repair requests never get a fault: when the gateway re-asks after an invalid reply it appends the
bad answer and a user message starting with `REPAIR_MARKER`; injecting again there would make
repairs fail at the fault rate a second time and the repair path would never be seen to succeed.
"""

from __future__ import annotations

import random
from enum import StrEnum

from pydantic import Field

from apigen_pipeline.llm.types import LLMRequest
from apigen_pipeline.records import FrozenModel

# The gateway's repair messages begin with this text (the validation error follows it).
REPAIR_MARKER = "Your previous reply was invalid"


class FaultKind(StrEnum):
    INVALID_JSON = "invalid_json"            # schema reply truncated or garbled
    WRONG_ARGUMENT = "wrong_argument"        # tool call missing a required argument or with a wrong type
    UNKNOWN_TOOL = "unknown_tool"            # tool call naming a tool the request did not offer
    JUDGE_DISAGREE = "judge_disagree"        # a judge flips a verdict
    USER_DRIFT = "user_drift"                # the simulated user strays from (or invents beyond) the brief
    USER_EARLY_STOP = "user_early_stop"      # the simulated user ends before the task is done
    AGENT_WRONG_TOOL = "agent_wrong_tool"    # the agent calls a plausible but wrong tool
    AGENT_SKIP_CONFIRMATION = "agent_skip_confirmation"  # the agent writes without an explicit "yes"



class FaultRates(FrozenModel):
    """Probability of each fault per eligible request. Defaults are a realistic small mix."""

    invalid_json: float = Field(default=0.05, ge=0.0, le=1.0)
    wrong_argument: float = Field(default=0.05, ge=0.0, le=1.0)
    unknown_tool: float = Field(default=0.03, ge=0.0, le=1.0)
    judge_disagree: float = Field(default=0.10, ge=0.0, le=1.0)
    user_drift: float = Field(default=0.05, ge=0.0, le=1.0)
    user_early_stop: float = Field(default=0.05, ge=0.0, le=1.0)
    agent_wrong_tool: float = Field(default=0.05, ge=0.0, le=1.0)
    agent_skip_confirmation: float = Field(default=0.05, ge=0.0, le=1.0)

    @classmethod
    def none(cls) -> FaultRates:
        return cls(**{kind.value: 0.0 for kind in FaultKind})

    def rate(self, kind: FaultKind | str) -> float:
        return float(getattr(self, FaultKind(kind).value))


class FaultInjector:
    """Decides whether a fault fires, from a caller-supplied seeded `random.Random` only."""

    def __init__(self, rates: FaultRates | None = None):
        self.rates = rates if rates is not None else FaultRates()

    def fires(self, kind: FaultKind | str, rng: random.Random) -> bool:
        # Always draw exactly once, whatever the rate, so one kind's rate never shifts the
        # random stream (and therefore the answers) seen by the decisions that follow.
        draw = rng.random()
        return draw < self.rates.rate(kind)


def is_repair_request(request: LLMRequest) -> bool:
    """True when the last user message is the gateway's re-ask after an invalid reply."""
    for message in reversed(request.messages):
        if message.role == "user":
            return (message.content or "").lstrip().startswith(REPAIR_MARKER)
    return False

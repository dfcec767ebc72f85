"""How often the offline simulated backend makes each kind of mistake: part of the LLM settings.

The settings choose the backend (`APIGEN_LLM`) and carry its seed, latency and these rates, so they
live with the settings; the backend that applies them is `apigen_pipeline.simulated`, which sits above
the stages whose roles it plays. Generic paths use `invalid_json`, `wrong_argument` and `unknown_tool`;
the other kinds are for the role handlers (judges, the simulated user, the agent).
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from apigen_pipeline.records import FrozenModel


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

"""Format -> execution -> policy in order, stopping at the first failed stage."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from apigen_pipeline.environments.base import Environment
from apigen_pipeline.phase1.models import Blueprint, StageVerdict
from apigen_pipeline.phase1.settings import ValidityConfig
from apigen_pipeline.phase1.validation.execution import ExecutionOutcome, replay
from apigen_pipeline.phase1.validation.format import check_format
from apigen_pipeline.phase1.validation.policy import check_policy
from apigen_pipeline.phase1.validation.scope import ToolScope


@dataclass
class StagedValidation:
    blueprint: Blueprint | None
    verdicts: list[StageVerdict] = field(default_factory=list)
    execution: ExecutionOutcome | None = None

    @property
    def passed(self) -> bool:
        return bool(self.verdicts) and all(v.passed for v in self.verdicts)


def validate_payload(payload: Any, environment: Environment, scope: ToolScope,
                     rules: ValidityConfig) -> StagedValidation:
    """From a raw blueprint object (the generator's reply) through the policy stage; `scope` is the
    context's tools (see `ToolScope`), `rules` the instruction rules of `Phase1Config.validity`."""
    blueprint, verdict = check_format(payload, environment, scope, rules)
    if blueprint is None:
        return StagedValidation(blueprint=None, verdicts=[verdict])
    return validate_blueprint(blueprint, environment, [verdict])


def validate_blueprint(blueprint: Blueprint, environment: Environment,
                       earlier: list[StageVerdict] | None = None) -> StagedValidation:
    """Execution and policy for an already well-formed blueprint."""
    verdicts = list(earlier or [])
    outcome = replay(blueprint.actions, environment)
    verdicts.append(outcome.verdict)
    if outcome.verdict.passed:
        verdicts.append(check_policy(outcome, environment))
    return StagedValidation(blueprint=blueprint, verdicts=verdicts, execution=outcome)

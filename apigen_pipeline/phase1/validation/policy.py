"""Stage "policy": the domain's executable rules over (state before, action trace, state after).

These matter most for rules the tools do not enforce themselves; the reason names the first
violated rule and the details list every violation.
"""

from __future__ import annotations

from apigen_pipeline.environments.base import Environment
from apigen_pipeline.phase1.models import StageVerdict
from apigen_pipeline.phase1.validation.execution import ExecutionOutcome


def check_policy(outcome: ExecutionOutcome, environment: Environment) -> StageVerdict:
    violations = environment.check_policy(outcome.before, outcome.trace, outcome.after)
    if not violations:
        return StageVerdict(stage="policy", passed=True, details={"checks": len(environment.plugin.policy_checks)})
    return StageVerdict(
        stage="policy", passed=False, reason=f"policy.{violations[0].rule}",
        details={"violations": [{"rule": v.rule, "message": v.message, "call_index": v.call_index}
                                for v in violations]})

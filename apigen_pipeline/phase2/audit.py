"""Policy audit of a trajectory's own trace: guards against spurious passes.

A trajectory can reach the blueprint's final state while breaking the policy on the way (no
authentication, no explicit "yes" before a write). Verification cannot see that; this audit can:
- the domain's executable policy checks over (fresh state, the trajectory's calls, final state);
- `conversation.authenticated_before_write`: an auth tool call succeeded before every successful write;
- `conversation.explicit_confirmation`: the last user turn before each successful write confirms it
  explicitly ("yes", "confirm", ...), comes after the previous write, and answers an agent message that
  described this write (it names at least one of the write's argument values);
- `conversation.one_tool_call_per_turn`: replies that held several tool calls.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from apigen_pipeline.environments.base import AUTHENTICATED_BEFORE_WRITE, Environment, ExecutedCall
from apigen_pipeline.environments.database import Database
from apigen_pipeline.phase2.models import AuditFinding, ExecutedToolCall, TrajectoryMessage

AUTH_RULE = f"conversation.{AUTHENTICATED_BEFORE_WRITE}"
CONFIRMATION_RULE = "conversation.explicit_confirmation"
ONE_CALL_RULE = "conversation.one_tool_call_per_turn"
_NEGATION = re.compile(r"^\W*(no|nope|don't|do not|wait|stop)\b", re.IGNORECASE)


def as_trace(calls: Sequence[ExecutedToolCall]) -> list[ExecutedCall]:
    return [ExecutedCall(c.name, c.arguments, c.observation, c.ok, c.kind) for c in calls]


def is_confirmation(text: str, words: Sequence[str]) -> bool:
    if _NEGATION.search(text):
        return False
    lowered = text.lower()
    return any(re.search(rf"\b{re.escape(word.lower())}\b", lowered) for word in words)


def argument_values(arguments: Any) -> Iterable[str]:
    """Scalar argument values as text (nested lists and objects flattened), skipping trivial ones."""
    if isinstance(arguments, dict):
        for value in arguments.values():
            yield from argument_values(value)
    elif isinstance(arguments, list):
        for value in arguments:
            yield from argument_values(value)
    elif isinstance(arguments, bool) or arguments is None:
        return
    elif isinstance(arguments, int | float | str):
        text = str(arguments).strip()
        if len(text) >= 2:
            yield text


def describes(text: str, call: ExecutedToolCall) -> bool:
    lowered = text.lower()
    return any(value.lower() in lowered for value in argument_values(call.arguments))


def domain_policy_findings(environment: Environment, before: Database, calls: Sequence[ExecutedToolCall],
                           after: Database) -> list[AuditFinding]:
    return [AuditFinding(rule=v.rule, message=v.message, call_index=v.call_index)
            for v in environment.check_policy(before, as_trace(calls), after)]


def authentication_findings(calls: Sequence[ExecutedToolCall], auth_tools: Sequence[str]) -> list[AuditFinding]:
    if not auth_tools:
        return []
    findings: list[AuditFinding] = []
    authenticated = False
    for index, call in enumerate(calls):
        if call.name in auth_tools and call.ok:
            authenticated = True
        elif call.kind == "write" and call.ok and not authenticated:
            findings.append(AuditFinding(rule=AUTH_RULE, call_index=index,
                                         message=f"call {index} ({call.name}) writes before any successful "
                                                 f"authentication ({', '.join(auth_tools)})"))
    return findings


def confirmation_findings(messages: Sequence[TrajectoryMessage], calls: Sequence[ExecutedToolCall],
                          words: Sequence[str]) -> list[AuditFinding]:
    findings: list[AuditFinding] = []
    previous_write_at = -1
    for index, call in enumerate(calls):
        if call.kind != "write" or not call.ok:
            continue
        problem = _confirmation_problem(messages, call, previous_write_at, words)
        if problem:
            findings.append(AuditFinding(rule=CONFIRMATION_RULE, call_index=index,
                                         message=f"call {index} ({call.name}): {problem}"))
        previous_write_at = call.message_index
    return findings


def _confirmation_problem(messages: Sequence[TrajectoryMessage], call: ExecutedToolCall, since: int,
                          words: Sequence[str]) -> str | None:
    user_at = next((i for i in range(call.message_index - 1, since, -1) if messages[i].role == "user"), None)
    if user_at is None:
        return "no user turn between the previous write and this one"
    if not is_confirmation(messages[user_at].content or "", words):
        return f"the user turn before it is not an explicit confirmation: {messages[user_at].content!r}"
    described = any(messages[i].role == "assistant" and messages[i].content and describes(messages[i].content, call)
                    for i in range(user_at - 1, since, -1))
    if not described:
        return "the agent did not describe this write before the user confirmed"
    return None


def audit_trajectory(environment: Environment, before: Database, messages: Sequence[TrajectoryMessage],
                     calls: Sequence[ExecutedToolCall], after: Database, confirmation_words: Sequence[str],
                     protocol_violations: Sequence[str] = ()) -> list[AuditFinding]:
    return [
        *domain_policy_findings(environment, before, calls, after),
        *authentication_findings(calls, tuple(environment.plugin.auth_tools)),
        *confirmation_findings(messages, calls, confirmation_words),
        *(AuditFinding(rule=ONE_CALL_RULE, message=violation) for violation in protocol_violations),
    ]

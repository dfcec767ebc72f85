"""The instruction grammar the simulated roles share: how the generator writes a task instruction (one
part per line) and what the judge, the recombiner and the simulated human read back out of it.

Second person, one line per part: persona, "If asked to identify yourself, give your ...", one
"Your request: ..." per write call (and per terminating call, e.g. a transfer to a human), "You also want
to know ..." per question, and a fallback line.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from apigen_pipeline.environments.base import Environment, ToolCall

REQUEST_PREFIX = "Your request: "
QUESTION_PREFIX = "You also want to know "
FALLBACK_LINE = "If the agent cannot do exactly this, ask what the closest allowed alternative is and accept it."


def identity_sentence(identity: Mapping[str, Any]) -> str:
    parts = [f"{key.replace('_', ' ')} {value}" for key, value in identity.items()]
    return f"If asked to identify yourself, give your {' and '.join(parts)}." if parts else ""


def render_instruction(persona: str, identity: Mapping[str, Any], calls: Sequence[ToolCall],
                       environment: Environment, questions: Sequence[str]) -> str:
    """Second person, one line per part: persona, identity, one request per write call, questions, fallback."""
    lines = [persona.strip(), identity_sentence(identity)]
    for call in calls:
        spec = environment.tool_spec(call.name)
        # A terminating call (a transfer to a human) is something the user asks for, like a write.
        if spec is not None and (spec.kind == "write" or call.name in environment.terminating_tools):
            lines.append(REQUEST_PREFIX + request_sentence(call, spec.utterance))
    lines.extend(questions)
    lines.append(FALLBACK_LINE)
    return "\n".join(line for line in lines if line)


def request_sentence(call: ToolCall, utterance: str | None) -> str:
    """The tool's utterance template filled in, plus any id argument the template leaves out."""
    values = {k: spoken(v) for k, v in call.arguments.items()}
    sentence = ""
    if utterance:
        try:
            sentence = utterance.format_map(values)
        except (KeyError, IndexError, ValueError):
            sentence = ""
    if not sentence:
        sentence = f"{call.name.replace('_', ' ')}."
    missing = [f"{k.replace('_', ' ')}: {values[k]}" for k in sorted(values)
               if id_like(k) and values[k] not in sentence]
    if missing or not utterance:
        extra = missing or [f"{k.replace('_', ' ')}: {values[k]}" for k in sorted(values)]
        sentence += f" ({'; '.join(extra)})" if extra else ""
    return sentence


def spoken(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(spoken(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return str(value)


def id_like(key: str) -> bool:
    return key.endswith("_id") or key.endswith("_ids")

"""The simulated agent: reads ONLY the conversation, the policy's environment and the tools.

It never sees the blueprint. Each turn it rebuilds its understanding from the request's messages:
- identity the user gave ("my email is ...") -> the first auth tool whose arguments it can fill, then
  the user's profile (a read taking only `user_id`);
- requests -> tool calls, by inverting the write tools' `utterance` templates (`utterances`); missing
  arguments come from what tools returned earlier (e.g. `user_id`);
- before a write: read the record it acts on, describe the write with its arguments and ask for an
  explicit yes; after "yes", execute it and report the outcome;
- questions ("... know the status of order #W1") -> the read tool taking `<noun>_id`, then the value;
- a request for a terminating tool (a transfer to a human, by its `utterance`) -> the call, at once: it
  changes nothing to confirm, and it ends the conversation.
Faults (per request, from `FaultRates`): `agent_skip_confirmation` writes without asking, and
`agent_wrong_tool` calls a plausible but wrong tool at the moment of the write.
Answers follow the request's tool-call mode: native tool calls, or a next-action JSON object.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from apigen_pipeline.environments.base import Environment, ToolSpec
from apigen_pipeline.llm.tool_call_modes import NEXT_ACTION_SCHEMA_NAME, REPLY_ACTION
from apigen_pipeline.llm.types import LLMRequest, LLMResponse, canonical
from apigen_pipeline.phase2.audit import is_confirmation
from apigen_pipeline.simulated.context import SimulationContext
from apigen_pipeline.simulated.faults import FaultKind
from apigen_pipeline.simulated.roles.conversation import (
    Turn,
    conversation_turns,
    find_field,
    observation_json,
)
from apigen_pipeline.simulated.roles.utterances import match_utterances

PROPOSAL_QUESTION = "Do you want me to proceed? (yes/no)"
ANYTHING_ELSE = "Is there anything else I can help you with?"
ASK_IDENTITY = ("I'd be glad to help. First I need to verify your identity: please give me your email address, "
                "or your first name, last name and zip code, or your user id.")
_IDENTITY = re.compile(r"\bmy (email(?: address)?|first name|last name|zip(?: code)?|user id) is "
                       r"([^\s,;]+?)[.,;]?(?=\s|$)", re.IGNORECASE)
_QUESTION = re.compile(r"know the (?P<field>[\w ]+?) of (?P<noun>[a-z]+) (?P<id>[#\w-]+)", re.IGNORECASE)
_CONFIRMATION_WORDS = ("yes", "yeah", "yep", "confirm", "confirmed", "go ahead", "proceed", "please do", "sure")


@dataclass(frozen=True)
class Decision:
    text: str | None = None
    call: tuple[str, dict[str, Any]] | None = None


@dataclass
class Intent:
    kind: str                     # "write" | "question"
    tool: str
    arguments: dict[str, Any]
    since: int                    # index of the latest user turn asking for it
    first: int                    # index of the first user turn asking for it
    question: tuple[str, str, str] | None = None  # (field, noun, record id)

    @property
    def key(self) -> str:
        return canonical([self.kind, self.tool, self.arguments, self.question])


class AgentMind:
    """Everything the agent concludes from the conversation; `decide` picks the next action."""

    def __init__(self, environment: Environment, turns: list[Turn], ctx: SimulationContext):
        self.environment = environment
        self.turns = turns
        self.ctx = ctx
        self.specs = {spec.name: spec for spec in environment.tool_specs}
        self.calls = [(i, t) for i, t in enumerate(turns) if t.role == "call"]
        self.results = {i: turns[i + 1] for i, _ in self.calls if i + 1 < len(turns) and turns[i + 1].role == "result"}

    # -- facts ------------------------------------------------------------------------------------
    def identity(self) -> dict[str, str]:
        found: dict[str, str] = {}
        for turn in self.turns:
            if turn.role == "user":
                for key, value in _IDENTITY.findall(turn.text):
                    name = key.lower().replace(" address", "").replace(" code", "").replace(" ", "_")
                    found[name] = value
        return found

    def succeeded(self, name: str, arguments: dict[str, Any] | None = None) -> list[int]:
        return [i for i, call in self.calls if call.name == name and i in self.results and self.results[i].ok
                and (arguments is None or call.arguments == arguments)]

    def attempted(self, name: str, arguments: dict[str, Any], after: int = -1) -> bool:
        return any(call.name == name and call.arguments == arguments and i > after for i, call in self.calls)

    def authenticated_user(self) -> str | None:
        for name in self.environment.plugin.auth_tools:
            for index in self.succeeded(name):
                arguments = self.turns[index].arguments
                if "user_id" in arguments:
                    return str(arguments["user_id"])
                observed = observation_json(self.results[index].text)
                if isinstance(observed, dict) and "user_id" in observed:
                    return str(observed["user_id"])
                if isinstance(observed, str) and observed.strip():
                    return observed.strip()
        return None

    def known_values(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        user_id = self.authenticated_user()
        for index in sorted(self.results):
            observed = observation_json(self.results[index].text)
            if isinstance(observed, dict):
                for key, value in observed.items():
                    if not isinstance(value, dict | list):
                        values[key] = value
        if user_id:
            values["user_id"] = user_id
        return values

    def intents(self) -> list[Intent]:
        terminating = self.environment.terminating_tools
        writes = [spec for spec in self.specs.values() if spec.kind == "write" or spec.name in terminating]
        found: dict[str, Intent] = {}
        for index, turn in enumerate(self.turns):
            if turn.role != "user":
                continue
            for match in match_utterances(turn.text, writes):
                intent = Intent("write", match.tool, self._completed(match.tool, match.arguments), index, index)
                self._remember(found, intent)
            for question in _QUESTION.finditer(turn.text):
                spec = self._reader_for(question.group("noun").lower())
                field_name = question.group("field").lower()
                record_id = question.group("id").rstrip(".")
                arguments = {f"{question.group('noun').lower()}_id": record_id} if spec else {}
                intent = Intent("question", spec.name if spec else "", arguments, index, index,
                                (field_name, question.group("noun").lower(), record_id))
                self._remember(found, intent)
        return sorted(found.values(), key=lambda intent: intent.first)

    @staticmethod
    def _remember(found: dict[str, Intent], intent: Intent) -> None:
        if intent.key in found:
            found[intent.key].since = intent.since
        else:
            found[intent.key] = intent

    def _completed(self, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        spec = self.specs[tool]
        properties = spec.parameters.get("properties", {})
        known = self.known_values()
        completed = dict(arguments)
        for name in spec.parameters.get("required", []):
            if name in completed:
                continue
            if name in known:
                completed[name] = known[name]
            elif properties.get(name, {}).get("type") == "integer":
                completed[name] = 0  # a count nobody mentioned: assume none
            else:
                completed[name] = self.ctx.value_for_schema(properties.get(name, {}), name=name)
        return {name: completed[name] for name in properties if name in completed}

    def _reader_for(self, noun: str) -> ToolSpec | None:
        for spec in self.specs.values():
            required = spec.parameters.get("required", [])
            if spec.kind == "read" and required == [f"{noun}_id"]:
                return spec
        return None

    def _record_reader(self, arguments: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
        """The read of the record a write acts on (e.g. the order), when it has not been read yet."""
        for name, value in arguments.items():
            if name == "user_id" or not name.endswith("_id") or not isinstance(value, str):
                continue
            spec = self._reader_for(name.removesuffix("_id"))
            if spec is not None:
                return spec.name, {name: value}
        return None

    def proposal_index(self, intent: Intent) -> int | None:
        marker = canonical(intent.arguments)
        return next((i for i in range(len(self.turns) - 1, intent.since, -1)
                     if self.turns[i].role == "assistant" and PROPOSAL_QUESTION in self.turns[i].text
                     and marker in self.turns[i].text), None)

    def reply_after(self, index: int) -> Turn | None:
        return next((t for t in self.turns[index + 1:] if t.role == "user"), None)

    # -- the next action --------------------------------------------------------------------------
    def decide(self) -> Decision:
        last = self.turns[-1] if self.turns else Turn("user")
        if last.role == "result" and self.specs.get(last.name) is not None \
                and self.specs[last.name].kind == "write":
            return Decision(text=self._outcome(last))
        user_id = self.authenticated_user()
        if user_id is None:
            return self._authenticate()
        profile = self._reader_for("user")
        if profile is not None and not any(call.name == profile.name for _, call in self.calls):
            return Decision(call=(profile.name, {"user_id": user_id}))
        for intent in self.intents():
            decision = self._advance(intent)
            if decision is not None:
                return decision
        last_user = next((t for t in reversed(self.turns) if t.role == "user"), None)
        if last_user is not None and not _IDENTITY.search(last_user.text) and not match_utterances(
                last_user.text, list(self.specs.values())) and not is_confirmation(last_user.text, _CONFIRMATION_WORDS):
            return Decision(text="Could you tell me more about what you need?")
        return Decision(text=ANYTHING_ELSE)

    def _authenticate(self) -> Decision:
        identity = self.identity()
        tried_and_failed = False
        for name in self.environment.plugin.auth_tools:
            spec = self.specs.get(name)
            if spec is None:
                continue
            required = spec.parameters.get("required", [])
            if required and all(field_name in identity for field_name in required):
                arguments = {field_name: identity[field_name] for field_name in required}
                if not self.attempted(name, arguments):
                    return Decision(call=(name, arguments))
                tried_and_failed = True
        if tried_and_failed:
            return Decision(text="I'm sorry, I could not find an account with those details. Could you check them, "
                                 "or verify with your email, your name and zip code, or your user id?")
        return Decision(text=ASK_IDENTITY)

    def _advance(self, intent: Intent) -> Decision | None:
        if intent.kind == "question":
            return self._answer(intent)
        if self.attempted(intent.tool, intent.arguments, after=intent.first):
            return None
        if intent.tool in self.environment.terminating_tools:
            return Decision(call=(intent.tool, intent.arguments))
        reader = self._record_reader(intent.arguments)
        if reader is not None and not self.attempted(*reader):
            return Decision(call=reader)
        proposed_at = self.proposal_index(intent)
        if proposed_at is None:
            if self.ctx.fires(FaultKind.AGENT_SKIP_CONFIRMATION):
                return Decision(call=(intent.tool, intent.arguments))
            return Decision(text=self._proposal(intent))
        reply = self.reply_after(proposed_at)
        if reply is None or not is_confirmation(reply.text, _CONFIRMATION_WORDS):
            return None  # declined: a restated request starts a new proposal
        if self.ctx.fires(FaultKind.AGENT_WRONG_TOOL):
            return Decision(call=self._wrong_tool(intent))
        return Decision(call=(intent.tool, intent.arguments))

    def _proposal(self, intent: Intent) -> str:
        action = self.specs[intent.tool].description.split(".")[0].lower()
        return (f"Before I do this, please confirm: I will {action} with these details: "
                f"{canonical(intent.arguments)}. {PROPOSAL_QUESTION}")

    def _wrong_tool(self, intent: Intent) -> tuple[str, dict[str, Any]]:
        """A plausible mistake: another write sharing the most argument names, filled from what is known."""
        known = {**self.known_values(), **intent.arguments}
        others = [s for s in self.specs.values() if s.kind == "write" and s.name != intent.tool]
        if not others:
            return intent.tool, intent.arguments
        def overlap(spec: ToolSpec) -> int:
            return len(set(spec.parameters.get("properties", {})) & set(intent.arguments))
        best = max(others, key=lambda s: (overlap(s), s.name))
        arguments = {name: known[name] for name in best.parameters.get("properties", {}) if name in known}
        return best.name, arguments

    def _answer(self, intent: Intent) -> Decision | None:
        assert intent.question is not None
        field_name, noun, record_id = intent.question
        subject = f"the {field_name} of {noun} {record_id}"
        if any(t.role == "assistant" and subject in t.text for t in self.turns[intent.since:]):
            return None
        if not intent.tool:
            return Decision(text=f"I'm sorry, I can't look up {subject} with the tools I have.")
        if not self.attempted(intent.tool, intent.arguments):
            return Decision(call=(intent.tool, intent.arguments))
        index = max(i for i, call in self.calls if call.name == intent.tool and call.arguments == intent.arguments)
        result = self.results.get(index)
        value = find_field(observation_json(result.text), field_name.replace(" ", "_")) if result else None
        if value is None:
            return Decision(text=f"I'm sorry, I couldn't find {subject}.")
        return Decision(text=f"The {field_name} of {noun} {record_id} is {value}.")

    def _outcome(self, result: Turn) -> str:
        if not result.ok:
            return f"I'm sorry, I could not complete that: {result.text}. {ANYTHING_ELSE}"
        return f"Done: your request ({result.name.replace('_', ' ')}) has been completed. {ANYTHING_ELSE}"


def agent_handler(request: LLMRequest, ctx: SimulationContext,
                  environments: Mapping[str, Environment]) -> LLMResponse | None:
    environment = environments.get(request.tags.get("domain", ""))
    if environment is None:
        return None
    decision = AgentMind(environment, conversation_turns(request), ctx).decide()
    if request.response_schema_name == NEXT_ACTION_SCHEMA_NAME:
        if decision.call is not None:
            return ctx.json_response({"action": decision.call[0], "arguments": decision.call[1]})
        return ctx.json_response({"action": REPLY_ACTION, "content": decision.text or ""})
    if decision.call is not None:
        return ctx.tool_call_response(decision.call[0], decision.call[1])
    return ctx.text_response(decision.text or ANYTHING_ELSE)

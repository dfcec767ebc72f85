"""Answer profiles of weak real models, for wire servers that must not be trusted.

`hostile_responder(plausible, profiles)` wraps a plausible responder (e.g. `simulated_responder`) and
degrades its replies the way small or badly prompted models do:

- `code_fenced_json`: the JSON answer wrapped in a Markdown ```json fence;
- `prose_around_json`: the JSON answer with chatter before and after it;
- `truncated_json`: the JSON answer (or a tool call's arguments) cut off mid-value, `finish_reason` length;
  the re-ask after a cut answer is cut again (the same token limit);
- `empty_actions`: a blueprint with no actions; an agent reply with neither text nor a tool call;
- `unknown_tool`: tool calls (and blueprint actions) naming a tool the environment does not have;
- `wrong_argument_types`: argument values of the wrong JSON type (strings as numbers, numbers as strings);
- `endless_user`: a simulated user that never says the stop token (it asks for one more check instead);
- `agent_never_calls_tool`: an agent that talks where it should call a tool.

A request is degraded by a profile when a draw from its body hash falls below the profile's `share` (one
number for all, or one per profile; 1.0: every request it applies to, e.g. a user that literally never
stops), so with a smaller share the gateway's repair re-asks (different bodies) can succeed and some items
make it through. With several profiles a degraded request
draws one of those that apply to it (a mixed weak model). With `cover_all`, a profile that has not fired yet
degrades the first reply it applies to whatever the draw, so a short run meets every profile (which reply
that is then depends on arrival order). The same body always gets the same reply, so a re-asked failed key
fails again (as `--retry-failed` against a deterministic weak model would). `fired` counts the replies each
profile degraded.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any, Literal, get_args

from apigen_pipeline.llm.types import LLMRequest, Role
from apigen_pipeline.phase2.models import STOP_TOKEN
from apigen_pipeline.simulated import is_repair_request
from apigen_pipeline.testing.simulated_wire import WireProvider, request_from_body
from apigen_pipeline.testing.wire_servers import Responder, WireReply, WireToolCall, body_hash

HostileProfile = Literal["code_fenced_json", "prose_around_json", "truncated_json", "empty_actions",
                         "unknown_tool", "wrong_argument_types", "endless_user", "agent_never_calls_tool"]
HOSTILE_PROFILES: tuple[HostileProfile, ...] = get_args(HostileProfile)

UNKNOWN_TOOL = "lookup_everything_v2"
NEVER_DONE = "One more thing: could you double-check that everything went through?"
ONLY_TALK = "I have taken care of everything for you. Is there anything else?"
_PROSE_BEFORE = "Sure! Here is what I came up with after thinking it through:\n"
_PROSE_AFTER = "\nLet me know if you would like me to change anything."


class _Answer:
    """A reply read as what the model meant: a JSON value (OpenAI: the text; Anthropic: the forced schema
    tool's input), and the tool calls that are real tool calls."""

    def __init__(self, reply: WireReply, schema_tool: str | None):
        self.reply = reply
        self.schema_call = next((c for c in reply.tool_calls if schema_tool and c.name == schema_tool), None)
        self.calls = [c for c in reply.tool_calls if c is not self.schema_call]
        self.json: Any = None
        if self.schema_call is not None and isinstance(self.schema_call.arguments, dict):
            self.json = self.schema_call.arguments
        elif reply.text:
            try:
                self.json = json.loads(reply.text)
            except ValueError:
                self.json = None

    def with_json_text(self, text: str, **changes: Any) -> WireReply:
        """The JSON answer as plain text (a model ignoring the forced tool does exactly that)."""
        return replace(self.reply, text=text, tool_calls=tuple(self.calls), usage=None, **changes)

    def with_json(self, value: Any) -> WireReply:
        if self.schema_call is not None:
            calls = tuple(replace(c, arguments=value) if c is self.schema_call else c for c in self.reply.tool_calls)
            return replace(self.reply, tool_calls=calls, usage=None)
        return replace(self.reply, text=json.dumps(value, ensure_ascii=False), usage=None)

    def with_calls(self, calls: Sequence[WireToolCall]) -> WireReply:
        kept = (self.schema_call,) if self.schema_call is not None else ()
        return replace(self.reply, tool_calls=(*kept, *calls), usage=None)


def _wrong_type(value: Any) -> Any:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return sum(ord(ch) for ch in value) % 100_000
    if isinstance(value, list):
        return json.dumps(value)
    if isinstance(value, dict):
        return [value]
    return "null"


def _retyped(arguments: Any) -> Any:
    if not isinstance(arguments, dict) or not arguments:
        return {"value": 42}
    return {name: _wrong_type(value) for name, value in arguments.items()}


def _map_actions(value: Any, change: Callable[[list[Any]], list[Any]]) -> Any:
    """`value` with every list under an "actions" key replaced by `change(list)`; None when there is none."""
    found = False

    def walk(node: Any) -> Any:
        nonlocal found
        if isinstance(node, dict):
            out = {}
            for key, item in node.items():
                if key == "actions" and isinstance(item, list):
                    found = True
                    out[key] = change(item)
                else:
                    out[key] = walk(item)
            return out
        if isinstance(node, list):
            return [walk(item) for item in node]
        return node

    changed = walk(value)
    return changed if found else None


def _first_renamed(actions: list[Any]) -> list[Any]:
    return [{**a, "name": UNKNOWN_TOOL} if i == 0 and isinstance(a, dict) else a for i, a in enumerate(actions)]


def _first_retyped(actions: list[Any]) -> list[Any]:
    return [{**a, "arguments": _retyped(a.get("arguments"))} if i == 0 and isinstance(a, dict) else a
            for i, a in enumerate(actions)]


def degrade(profile: HostileProfile, reply: WireReply, role: Role, schema_tool: str | None) -> WireReply | None:
    """`reply` as a weak model of this profile would give it; None when the profile does not apply."""
    answer = _Answer(reply, schema_tool)
    text_json = json.dumps(answer.json, ensure_ascii=False, indent=2) if answer.json is not None else None
    if profile == "code_fenced_json" and text_json is not None:
        return answer.with_json_text(f"```json\n{text_json}\n```")
    if profile == "prose_around_json" and text_json is not None:
        return answer.with_json_text(_PROSE_BEFORE + text_json + _PROSE_AFTER)
    if profile == "truncated_json":
        if text_json is not None:
            return answer.with_json_text(text_json[: max(1, len(text_json) * 3 // 5)], finish_reason="length")
        if answer.calls:
            cut = [replace(c, arguments=json.dumps(c.arguments)[: max(1, len(json.dumps(c.arguments)) // 2)])
                   for c in answer.calls]
            return replace(answer.with_calls(cut), finish_reason="length")
        return None
    if profile == "empty_actions":
        if answer.json is not None:
            emptied = _map_actions(answer.json, lambda actions: [])
            return None if emptied is None else answer.with_json(emptied)
        if role == "agent" and answer.calls:  # a reply where a call was due, with nothing in it
            return replace(reply, text="", tool_calls=(), usage=None)
        return None
    if profile == "unknown_tool":
        if answer.calls:
            return answer.with_calls([replace(c, name=UNKNOWN_TOOL, id=None) for c in answer.calls])
        renamed = _map_actions(answer.json, _first_renamed) if answer.json is not None else None
        return None if renamed is None else answer.with_json(renamed)
    if profile == "wrong_argument_types":
        if answer.calls:
            return answer.with_calls([replace(c, arguments=_retyped(c.arguments), id=None) for c in answer.calls])
        retyped = _map_actions(answer.json, _first_retyped) if answer.json is not None else None
        return None if retyped is None else answer.with_json(retyped)
    if profile == "endless_user" and role == "human" and reply.text and STOP_TOKEN in reply.text:
        return replace(reply, text=NEVER_DONE, usage=None)
    if profile == "agent_never_calls_tool" and role == "agent" and answer.calls:
        return replace(reply, text=ONLY_TALK, tool_calls=(), usage=None)
    return None


class HostileResponder:
    """A `Responder`: the plausible answer, degraded by one of `profiles` (see the module notes)."""

    def __init__(self, plausible: Responder, provider: WireProvider, profiles: Sequence[HostileProfile],
                 share: float | Mapping[HostileProfile, float] = 0.5, seed: int = 0, cover_all: bool = False):
        unknown = sorted(set(profiles) - set(HOSTILE_PROFILES))
        if unknown or not profiles:
            raise ValueError(f"unknown or no hostile profiles {unknown}; known: {', '.join(HOSTILE_PROFILES)}")
        shares = {p: share.get(p, 0.0) if isinstance(share, Mapping) else share for p in profiles}
        if not all(0 <= value <= 1 for value in shares.values()):
            raise ValueError("shares must be in [0, 1]")
        self.plausible = plausible
        self.provider: WireProvider = provider
        self.shares = shares
        self.seed = seed
        self.cover_all = cover_all
        self._lock = threading.Lock()
        self._answered: dict[str, WireReply] = {}  # body hash -> the reply it got (cover_all depends on order)
        self.fired: Counter[str] = Counter()  # profile -> replies it degraded

    def __call__(self, body: dict[str, Any], call_index: int) -> WireReply:
        if not self.cover_all:
            return self._answer(body, call_index)
        digest = body_hash(body)
        with self._lock:
            known = self._answered.get(digest)
        if known is not None:
            return known
        reply = self._answer(body, call_index)
        with self._lock:
            return self._answered.setdefault(digest, reply)

    def _answer(self, body: dict[str, Any], call_index: int) -> WireReply:
        reply = self.plausible(body, call_index)
        if reply.status != 200:
            return reply
        request = request_from_body(self.provider, body).request
        schema_tool = request.response_schema_name if self.provider == "anthropic" and request.response_schema else None
        if "truncated_json" in self.shares and _repairs_a_cut_answer(request):
            again = degrade("truncated_json", reply, request.role, schema_tool)
            if again is not None:
                with self._lock:
                    self.fired["truncated_json"] += 1
                return again
        point, pick = self._draws(body)
        applicable = [(p, d) for p, share in self.shares.items()
                      if (d := degrade(p, reply, request.role, schema_tool)) is not None]
        with self._lock:
            unmet = [(p, d) for p, d in applicable if self.cover_all and not self.fired[p]]
            degraded = unmet or [(p, d) for p, d in applicable if point < self.shares[p]]
            if not degraded:
                return reply
            profile, answer = degraded[pick % len(degraded)]
            self.fired[profile] += 1
        return answer

    def _draws(self, body: Mapping[str, Any]) -> tuple[float, int]:
        digest = hashlib.sha256(f"{self.seed}|{body_hash(body)}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64, int.from_bytes(digest[8:12], "big")


def _repairs_a_cut_answer(request: LLMRequest) -> bool:
    """A repair re-ask whose rejected answer was JSON cut short (what a token limit does)."""
    if not is_repair_request(request):
        return False
    rejected = next((m.content for m in reversed(request.messages) if m.role == "assistant"), None) or ""
    if not rejected.lstrip().startswith("{"):
        return False
    try:
        json.loads(rejected)
    except ValueError:
        return True
    return False


def hostile_responder(plausible: Responder, provider: WireProvider, profiles: Sequence[HostileProfile],
                      share: float | Mapping[HostileProfile, float] = 0.5, seed: int = 0,
                      cover_all: bool = False) -> HostileResponder:
    """A responder answering like `plausible` but degraded by `profiles` (all of `HOSTILE_PROFILES`: a mixed
    weak model); `share` (per profile, or one for all) of the requests a profile applies to are degraded,
    and with `cover_all` the first each one applies to (see the module notes)."""
    return HostileResponder(plausible, provider, profiles, share, seed, cover_all)

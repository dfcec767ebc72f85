"""The simulated human: it answers exactly the format `phase2/human.py` asks for.

It reads only its system message (`<instruction>`, `<persona>`) and the conversation; says one
thing per turn: a request, a question, its identity when asked, "yes" to a proposal that matches what it
asked for (else "no" and a restatement), and ###STOP### when everything has been said and handled.
Faults (per candidate): `user_drift` changes a value it says (an invented fact), `user_early_stop`
ends the conversation before the task is done. Best-of-N filters such noise; persona traits it cannot
filter, because every candidate of a conversation shares them (drawn once per conversation, at
`trait_strength`): an impatient user gives up after `impatience_turns` turns when asked for more, a
forgetful one never mentions its last request, an indecisive one backs out of its last confirmation.
"""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass

from apigen_pipeline.llm.types import LLMRequest, LLMResponse
from apigen_pipeline.phase2.models import STOP_TOKEN
from apigen_pipeline.phase2.prompts import tagged_text
from apigen_pipeline.simulated.context import SimulationContext
from apigen_pipeline.simulated.faults import FaultKind
from apigen_pipeline.simulated.roles.script import (
    CONFIRMATION_ASKED,
    HumanScript,
    ScriptItem,
    parse_instruction,
    said,
    value_tokens,
)

IDENTITY_ASKED = re.compile(r"identif|authenticat|verify|email|zip code|user id", re.IGNORECASE)
FAILURE_REPORTED = re.compile(r"\bsorry\b|could not|couldn't|cannot|can't|unable|not possible", re.IGNORECASE)
CLARIFICATION_ASKED = re.compile(r"tell me more|clarify|didn't understand|did not understand", re.IGNORECASE)

_FIRST_OPENERS = ("Hi, ", "Hello! ", "Hi there. ", "Good day. ", "")
_NEXT_OPENERS = ("Also, ", "One more thing: ", "Next, ", "And ", "Thanks. ", "")
_YES = ("Yes, please go ahead.", "Yes, that's right. Please proceed.", "Yes, I confirm.", "Yes please, go ahead.")
_CLOSINGS = ("That's everything, thank you!", "Great, that's all I needed. Thanks!", "Thank you, that's all.")


def _with_opener(opener: str, sentence: str) -> str:
    if not opener:
        return sentence
    first_word = sentence.split(" ", 1)[0]
    if first_word in ("I", "I'm", "I'd", "I'll") or not opener.endswith((", ", ": ", "And ")):
        return opener + sentence
    return opener + sentence[0].lower() + sentence[1:]


def drifted(text: str, rng: random.Random) -> str:
    """The same sentence with one value misremembered (digits re-drawn): a fact the instruction lacks."""
    tokens = [t for t in value_tokens(text) if any(ch.isdigit() for ch in t)]
    if not tokens:
        return text + " Also, I'd like any fees waived."
    token = rng.choice(tokens)
    changed = "".join(str((int(ch) + rng.randint(1, 9)) % 10) if ch.isdigit() else ch for ch in token)
    return text.replace(token, changed, 1)


@dataclass(frozen=True)
class TraitSettings:
    strength: float = 0.9
    impatience_turns: int = 5


def traits_shown(system: str, attempt: str, persona_text: str, strength: float) -> set[str]:
    """The persona's behavioural traits that show in this conversation (same for every candidate)."""
    shown = set()
    for trait in ("impatient", "forgetful", "indecisive"):
        if re.search(rf"\b{trait}\b", persona_text):
            digest = hashlib.sha256(f"{trait}\x00{attempt}\x00{system}".encode()).digest()
            if random.Random(int.from_bytes(digest[:8], "big")).random() < strength:
                shown.add(trait)
    return shown


class HumanState:
    """The human's view of the conversation, rebuilt from its request each time (the handler is stateless)."""

    def __init__(self, request: LLMRequest, traits: TraitSettings):
        system = next((m.content or "" for m in request.messages if m.role == "system"), "")
        self.instruction = tagged_text(system, "instruction") or ""
        self.script: HumanScript = parse_instruction(self.instruction)
        self.traits = traits_shown(system, request.tags.get("attempt", ""), tagged_text(system, "persona") or "",
                                   traits.strength)
        if "forgetful" in self.traits and len(self.script.items) > 1:
            self.script = HumanScript(self.script.identity, self.script.items[:-1], self.script.has_fallback)
        self.requests_total = sum(1 for item in self.script.items if item.kind != "question")
        self.own_turns = [m.content or "" for m in request.messages if m.role == "assistant"]
        agent_turns = [m.content or "" for m in request.messages if m.role == "user"]
        self.agent_last = agent_turns[-1] if agent_turns else ""

    @property
    def unsaid(self) -> list[ScriptItem]:
        return [item for item in self.script.items if not said(item, self.own_turns)]

    @property
    def said_requests(self) -> list[ScriptItem]:
        return [item for item in self.script.items if said(item, self.own_turns)]

    def proposal_matches(self) -> bool:
        """Yes only when every value of one of my revealed requests appears in what the agent proposes."""
        agent = self.agent_last.lower()
        return any(item.values and all(value.lower() in agent for value in item.values)
                   for item in self.said_requests if item.kind != "question")


def human_reply(request: LLMRequest, ctx: SimulationContext, traits: TraitSettings) -> str:
    state = HumanState(request, traits)
    rng = ctx.rng
    pending = bool(state.unsaid) or bool(CONFIRMATION_ASKED.search(state.agent_last))
    asked_for_more = bool(CONFIRMATION_ASKED.search(state.agent_last) or IDENTITY_ASKED.search(state.agent_last))
    if "impatient" in state.traits and asked_for_more and len(state.own_turns) >= traits.impatience_turns:
        return f"This is taking far too long. Forget it. {STOP_TOKEN}"
    last_confirmation = CONFIRMATION_ASKED.search(state.agent_last) and not [
        item for item in state.unsaid if item.kind != "question"]
    if "indecisive" in state.traits and last_confirmation:
        return f"Hmm, on second thought, let's leave everything as it is. {STOP_TOKEN}"
    if pending and state.own_turns and ctx.fires(FaultKind.USER_EARLY_STOP):
        return f"Actually, I have to go now. I'll sort this out another time. {STOP_TOKEN}"
    drift = ctx.fires(FaultKind.USER_DRIFT)

    def say(text: str) -> str:
        return drifted(text, rng) if drift else text

    if CONFIRMATION_ASKED.search(state.agent_last):
        if state.proposal_matches():
            return rng.choice(_YES)
        latest = state.said_requests[-1].text if state.said_requests else ""
        return ("No, that's not what I asked for. " + say(latest)).strip()
    if IDENTITY_ASKED.search(state.agent_last) and state.script.identity:
        return say(state.script.identity)
    if CLARIFICATION_ASKED.search(state.agent_last) and state.said_requests:
        return "Sorry if I was unclear. " + say(state.said_requests[-1].text)
    unsaid = state.unsaid
    if unsaid:
        opener = rng.choice(_NEXT_OPENERS if state.own_turns else _FIRST_OPENERS)
        if state.own_turns and FAILURE_REPORTED.search(state.agent_last):
            opener = "I see, never mind then. " if state.script.has_fallback else "That's a pity. "
        return _with_opener(opener, say(unsaid[0].text))
    return f"{rng.choice(_CLOSINGS)} {STOP_TOKEN}"


def human_handler(request: LLMRequest, ctx: SimulationContext, traits: TraitSettings) -> LLMResponse | None:
    system = next((m.content or "" for m in request.messages if m.role == "system"), "")
    if tagged_text(system, "instruction") is None:
        return None
    return ctx.text_response(human_reply(request, ctx, traits))

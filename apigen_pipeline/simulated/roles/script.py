"""What the simulated human (and critic) read out of an instruction: a script of things to say.

The Phase 1 simulated generator writes one part per line: persona, "If asked to identify yourself,
give your ...", one "Your request: ..." per write, "You also want to know ..." per question, and a
fallback. Any other instruction (hand-written ones, real generator output) falls back to its sentences
with id-like values, turned into the first person. Nothing here invents a value: every value said
comes from the instruction's text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from apigen_pipeline.simulated.roles.instruction import QUESTION_PREFIX, REQUEST_PREFIX

IDENTITY_PREFIX = "If asked to identify yourself, give your "
ItemKind = Literal["request", "question", "statement"]
# Tokens a user could get wrong and an agent would act on: ids, emails, numbers, codes.
# How an agent asks for a confirmation: the human answers it, the critic checks it is not left open.
CONFIRMATION_ASKED = re.compile(r"\(yes/no\)|\bconfirm\b|\bproceed\?|shall i\b|should i go ahead", re.IGNORECASE)
VALUE_TOKEN = re.compile(r"[#\w.@/:-]*\d[#\w.@/:-]*|[\w.+-]+@[\w-]+\.[\w.]+")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")


@dataclass(frozen=True)
class ScriptItem:
    kind: ItemKind
    text: str  # what the user says (first person); also how a revealed item is recognized

    @property
    def values(self) -> list[str]:
        return value_tokens(self.text)


@dataclass(frozen=True)
class HumanScript:
    identity: str | None
    items: tuple[ScriptItem, ...]
    has_fallback: bool


def value_tokens(text: str) -> list[str]:
    return [token.rstrip(".:,;") for token in VALUE_TOKEN.findall(text) if token.rstrip(".:,;")]


def identity_statement(line: str) -> str | None:
    body = line[len(IDENTITY_PREFIX):].strip().rstrip(".")
    parts = []
    for part in body.split(" and "):
        words = part.split()
        if len(words) >= 2:
            parts.append(f"my {' '.join(words[:-1])} is {words[-1]}")
    if not parts:
        return None
    spoken = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return spoken[0].upper() + spoken[1:] + "."


def first_person(sentence: str) -> str:
    replacements = ((r"\bYou are\b", "I am"), (r"\byou are\b", "I am"), (r"\bYou're\b", "I'm"),
                    (r"\byou're\b", "I'm"), (r"\bYour\b", "My"), (r"\byour\b", "my"), (r"\bYou\b", "I"),
                    (r"\byourself\b", "myself"), (r"\byou\b", "me"))
    for pattern, replacement in replacements:
        sentence = re.sub(pattern, replacement, sentence)
    return sentence


def parse_instruction(instruction: str) -> HumanScript:
    identity: str | None = None
    items: list[ScriptItem] = []
    has_fallback = False
    lines = [line.strip() for line in instruction.splitlines() if line.strip()]
    for index, line in enumerate(lines):
        if line.startswith(IDENTITY_PREFIX):
            identity = identity_statement(line)
        elif line.startswith(REQUEST_PREFIX):
            items.append(ScriptItem("request", line[len(REQUEST_PREFIX):].strip()))
        elif line.startswith(QUESTION_PREFIX):
            items.append(ScriptItem("question", "I'd also like to know " + line[len(QUESTION_PREFIX):].strip()))
        elif line.startswith("If "):
            has_fallback = True
        elif index == 0 and not value_tokens(line):
            continue  # the persona: how to talk, not what to say
        else:
            items.extend(_free_text_items(line))
    return HumanScript(identity, tuple(items), has_fallback)


def _free_text_items(text: str) -> list[ScriptItem]:
    """Sentences of an instruction not written by the simulated generator: those with values."""
    items = []
    for sentence in _SENTENCE.split(text):
        if value_tokens(sentence) and not sentence.startswith("If "):
            items.append(ScriptItem("statement", first_person(sentence.strip())))
    return items


def said(item: ScriptItem, own_turns: list[str]) -> bool:
    needle = item.text.lower()
    return any(needle in turn.lower() for turn in own_turns)

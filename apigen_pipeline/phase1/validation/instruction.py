"""Is the instruction a real brief for the simulated user? Empty, placeholder and too-short ones are not.

A weak or broken generator answers with the template's own words ("<instruction>", "placeholder",
"TODO", "...", lorem ipsum); a lenient committee may wave such a blueprint through, and Phase 2 would then
play a conversation around nothing. These checks are deterministic and run in the format stage.
"""

from __future__ import annotations

import re
import string

from apigen_pipeline.phase1.settings import ValidityConfig

_SURROUNDING = string.punctuation + string.whitespace + "…"
_WHITESPACE = re.compile(r"\s+")
_ALPHANUMERIC = re.compile(r"[^\W_]")
# An unfilled template slot: "{user_id}", "{name}", "<order id>", "<user_name>" (an angle-bracket slot needs a
# space or underscore, so markup such as "<b>" is not one).
_TEMPLATE_SLOT = re.compile(r"\{[a-z_][a-z0-9_ ]*\}|<[a-z][a-z0-9]*[_ ][a-z0-9_ ]*>", re.IGNORECASE)


def _bare(text: str) -> str:
    return _WHITESPACE.sub(" ", text.casefold()).strip(_SURROUNDING)


def _marker_pattern(marker: str) -> re.Pattern[str]:
    """The marker case-insensitively, on word boundaries where it starts or ends with a word character."""
    pattern = re.escape(marker.casefold())
    if re.match(r"\w", marker):
        pattern = r"(?<!\w)" + pattern
    if re.search(r"\w$", marker):
        pattern += r"(?!\w)"
    return re.compile(pattern)


def placeholder_found(instruction: str, rules: ValidityConfig) -> str | None:
    """What makes the instruction a placeholder (the matched text), or None."""
    bare = _bare(instruction)
    if not _ALPHANUMERIC.search(bare):
        return instruction.strip()
    if bare in {_bare(p) for p in rules.placeholder_instructions}:
        return bare
    folded = instruction.casefold()
    for marker in rules.placeholder_markers:
        if _marker_pattern(marker).search(folded):
            return marker
    if rules.reject_template_slots and (slot := _TEMPLATE_SLOT.search(instruction)):
        return slot.group(0)
    return None


def instruction_problem(instruction: str, rules: ValidityConfig) -> tuple[str, dict] | None:
    """(reason, details) when the (non-blank) instruction cannot brief a user, else None."""
    found = placeholder_found(instruction, rules)
    if found is not None:
        return "placeholder_instruction", {"error": f"the instruction is a placeholder ({found!r})"}
    length = len(instruction.strip())
    if length < rules.min_instruction_chars:
        return "instruction_too_short", {
            "error": f"the instruction has {length} characters; at least {rules.min_instruction_chars} are needed "
                     "to say who the user is and what they want", "length": length}
    return None

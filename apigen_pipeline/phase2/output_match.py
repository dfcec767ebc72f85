"""Does an expected output appear in the agent's replies? Both sides normalized the same way.

tau-bench compares case-insensitively with commas removed from the agent's text only, so an expected
output holding a comma can never match, and a short number such as "2" matches any reply holding the
digit ("12", "2026", "$2.50"). Here both the output and each reply go through `normalize_for_match`:
- case folded;
- currency symbols dropped, so "$1044.45" and "1044.45" are the same;
- thousands separators dropped (a comma between a digit and exactly three digits: "1,044.45" -> "1044.45");
- trailing zeros of decimals dropped ("10.50" -> "10.5", "12.00" -> "12");
- whitespace runs collapsed.
The output is also stripped of surrounding punctuation and whitespace ("2." is the output "2", "#W12"
the output "w12").

An output holding a digit (a number or an id) must match on token boundaries: not inside a longer word
or number ("2" is not in "12", "2026", "item_2" or "2.5", nor in the "12" of "2026-12-06"), while a
sentence's punctuation still ends a token ("you have 2." and "2 items" hold "2"). An output of letters
only keeps tau-bench's plain substring match ("pending" is in "PENDING.").
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence

CURRENCY_SYMBOLS = "$€£¥₹"
_CURRENCY = re.compile(f"[{re.escape(CURRENCY_SYMBOLS)}]")
_THOUSANDS_SEPARATOR = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
# A standalone decimal (not part of a dotted run such as a version or an address).
_DECIMAL = re.compile(r"(?<![\d.])(\d+)\.(\d+)(?!\.?\d)")
_WHITESPACE = re.compile(r"\s+")
_DIGIT = re.compile(r"\d")
# Characters that join digits into one token ("2.5", "2,5", "2026-12-06", "12:30", "3/4").
_NUMBER_JOINERS = r"[.,\-/:]"
_SURROUNDING = string.punctuation + string.whitespace


def _trim_decimal(match: re.Match[str]) -> str:
    fraction = match.group(2).rstrip("0")
    return f"{match.group(1)}.{fraction}" if fraction else match.group(1)


def normalize_for_match(text: str) -> str:
    text = _CURRENCY.sub("", text.casefold())
    text = _THOUSANDS_SEPARATOR.sub("", text)
    text = _DECIMAL.sub(_trim_decimal, text)
    return _WHITESPACE.sub(" ", text).strip()


def normalize_output(output: str) -> str:
    """The expected output as it is searched for: normalized, surrounding punctuation removed."""
    return normalize_for_match(output).strip(_SURROUNDING)


def output_pattern(output: str) -> re.Pattern[str] | None:
    """The search pattern for one expected output (None when nothing is left to look for)."""
    needle = normalize_output(output)
    if not needle:
        return None
    pattern = re.escape(needle)
    if not _DIGIT.search(needle):
        return re.compile(pattern)
    if re.match(r"\w", needle):
        pattern = rf"(?<!\w)(?<!\d{_NUMBER_JOINERS})" + pattern
    if re.search(r"\w$", needle):
        pattern += rf"(?!\w)(?!{_NUMBER_JOINERS}\d)"
    return re.compile(pattern)


def output_present(output: str, agent_texts: Sequence[str]) -> bool:
    """True when `output` appears in at least one of the agent's replies. An output that normalizes to
    nothing (only punctuation or whitespace) cannot be shown to the user and never matches."""
    pattern = output_pattern(output)
    if pattern is None:
        return False
    return any(pattern.search(normalize_for_match(text)) for text in agent_texts)

"""Expected outputs matched fairly: both sides normalized alike, numbers and ids on token boundaries."""

from __future__ import annotations

import pytest

from apigen_pipeline.phase2.output_match import normalize_for_match, normalize_output
from apigen_pipeline.phase2.verification import output_present

MATCHES = [
    # (expected output, agent reply)
    ("2", "You have 2 items in the order."),
    ("2", "you have 2."),
    ("2", "2 items"),
    ("2", "Items left: 2, 3 and 4 in stock."),
    ("2", "Quantity (2)"),
    ("1,044.45", "Your refund is $1044.45."),
    ("1044.45", "Your refund is $1,044.45."),
    ("1,044.45", "Your refund is 1,044.45 dollars."),
    ("$1,044.45", "The refund comes to 1044.45"),
    ("10.50", "That is 10.5 in total."),
    ("10.5", "That is $10.50 in total."),
    ("12", "It costs $12.00."),
    ("pending", "The order is PENDING."),
    ("Pending", "status: pending"),
    ("#W2378156", "Your order #w2378156 has shipped."),
    ("W2378156", "Order #W2378156."),
    ("user_000", "Found user_000 for that email."),
    ("1,234,567", "We counted 1234567 points."),
    ("  2. ", "you have 2"),
    ("2026-12-06", "It ships on 2026-12-06."),
    ("blue", "the blue one"),
]

MISMATCHES = [
    ("2", "You have 12 items."),
    ("2", "Booked for 2026."),
    ("2", "The fee is $2.50."),
    ("2", "Pick item_2 please."),
    ("2", "The date is 2026-12-06."),
    ("12", "The date is 2026-12-06."),
    ("12", "See you at 12:30."),
    ("W123", "order W1234"),
    ("user_000", "user_0001"),
    ("1044.46", "Your refund is $1,044.45."),
    ("1044.45", "Your refund is $1,044.456."),
    ("10.5", "That is 10.55."),
    ("0.5", "That is 10.5."),
    ("...", "anything at all ..."),
    ("", "anything at all"),
    ("pending", "it is processed"),
]


@pytest.mark.parametrize(("output", "reply"), MATCHES)
def test_output_matches(output: str, reply: str) -> None:
    assert output_present(output, ["Hello.", reply])


@pytest.mark.parametrize(("output", "reply"), MISMATCHES)
def test_output_does_not_match(output: str, reply: str) -> None:
    assert not output_present(output, ["Hello.", reply])


def test_no_reply_matches_nothing() -> None:
    assert not output_present("2", [])


@pytest.mark.parametrize(("text", "normalized"), [
    ("Your Refund is $1,044.45.", "your refund is 1044.45."),
    ("10.50 and 12.00 and 3.0", "10.5 and 12 and 3"),
    ("a   b\n c", "a b c"),
    ("€5 £6 ¥7 ₹8", "5 6 7 8"),
    ("version 10.0.0.1", "version 10.0.0.1"),  # a dotted run is not a decimal
])
def test_both_sides_share_one_normalization(text: str, normalized: str) -> None:
    assert normalize_for_match(text) == normalized


def test_the_output_also_loses_surrounding_punctuation() -> None:
    assert normalize_output(' "Gift card, $10.50." ') == "gift card, 10.5"

"""Money helpers shared by tools and policy checks."""

from __future__ import annotations

from apigen_pipeline.environments.retail.domain import charged_methods, items_total, money, net_charges


def _entry(kind: str, amount: float, method: str) -> dict:
    return {"transaction_type": kind, "amount": amount, "payment_method_id": method}


def test_net_charges_follow_payments_and_refunds():
    order = {"payment_history": [_entry("payment", 100.10, "card"), _entry("payment", 100.10, "gift"),
                                 _entry("refund", 100.10, "card"), _entry("payment", 5.25, "gift")]}
    assert net_charges(order) == {"card": 0.0, "gift": 105.35}
    assert charged_methods(order) == ["gift"]


def test_money_rounds_to_cents():
    assert money(0.1 + 0.2) == 0.3
    assert items_total([{"price": 19.99}, {"price": 0.02}, {"price": 5.1}]) == 25.11

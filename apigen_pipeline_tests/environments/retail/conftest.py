"""Shared fixtures: the default retail environment and finders for records a scenario needs.

Finders scan the seeded database instead of hard-coding ids, so the tests keep working (and keep
meaning the same thing) if the generator's draws change.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from apigen_pipeline.environments.base import Environment, ExecutedCall
from apigen_pipeline.environments.database import Database
from apigen_pipeline.environments.retail import plugin
from apigen_pipeline.environments.retail.domain import ORDERS, PRODUCTS, USERS

Record = dict[str, Any]

NEW_ADDRESS = {"address1": "77 Harbor Drive", "address2": "Apt 5", "city": "Miami", "state": "FL",
               "country": "USA", "zip": "33101"}


@pytest.fixture(scope="session")
def env() -> Environment:
    environment = Environment(plugin)
    environment.snapshot  # noqa: B018 -- build the seed once for the whole session
    return environment


@pytest.fixture
def db(env: Environment) -> Database:
    return env.fresh_database()


def orders_where(db: Database, predicate: Callable[[Record, Record], bool]) -> Iterator[tuple[Record, Record]]:
    """(order, its user) pairs satisfying the predicate, in table order."""
    for _, order in db.records(ORDERS):
        user = db.get(USERS, order["user_id"])
        assert user is not None
        if predicate(order, user):
            yield order, user


def first_order(db: Database, predicate: Callable[[Record, Record], bool]) -> tuple[Record, Record]:
    found = next(orders_where(db, predicate), None)
    assert found is not None, "the seed-0 database has no order for this scenario"
    return found


def methods_of(user: Record, source: str) -> list[str]:
    return [mid for mid, method in user["payment_methods"].items() if method["source"] == source]


def paid_with(order: Record) -> str:
    return order["payment_history"][0]["payment_method_id"]


@dataclass(frozen=True)
class Swap:
    """One item of an order plus variants of its product to swap it to (or not)."""

    item: Record
    available: Record          # another available variant of the same product
    unavailable: Record | None  # a variant of the same product that is out of stock
    foreign: Record            # an available variant of a different product


def swap_for(db: Database, order: Record) -> Swap | None:
    for item in order["items"]:
        product = db.get(PRODUCTS, item["product_id"])
        assert product is not None
        others = [v for v in product["variants"].values() if v["item_id"] != item["item_id"]]
        available = [v for v in others if v["available"]]
        unavailable = [v for v in others if not v["available"]]
        if available:
            foreign = next(v for pid, p in db.records(PRODUCTS) if pid != item["product_id"]
                           for v in p["variants"].values() if v["available"])
            return Swap(item, available[0], unavailable[0] if unavailable else None, foreign)
    return None


def run(env: Environment, db: Database, name: str, **arguments: Any) -> ExecutedCall:
    return env.execute(db, name, arguments)


def assert_rejected(env: Environment, db: Database, name: str, arguments: dict[str, Any], fragment: str) -> None:
    """The call fails as an `Error:` observation naming the problem and leaves the state untouched."""
    hash_before, touched_before = db.state_hash(), db.touched()
    call = env.execute(db, name, arguments)
    assert not call.ok
    assert call.observation.startswith("Error: ")
    assert fragment in call.observation, call.observation
    assert db.state_hash() == hash_before
    assert db.touched() == touched_before


def valid_writes(db: Database) -> list[tuple[str, dict]]:
    """One successful call per write tool, each on a different order of the seed."""
    pending = [o for _, o in db.records(ORDERS) if o["status"] == "pending"]
    delivered = [o for _, o in db.records(ORDERS) if o["status"] == "delivered"]
    with_swap = [o for o in pending if swap_for(db, o)]
    items_order = next(o for o in with_swap
                       if any(m["source"] != "gift_card" for m in db.get(USERS, o["user_id"])["payment_methods"].values()))
    exchange_order = next(o for o in delivered if swap_for(db, o) and any(
        m["source"] != "gift_card" for m in db.get(USERS, o["user_id"])["payment_methods"].values()))
    payment_order = next(o for o in pending if o is not items_order and any(
        m["source"] != "gift_card" and mid != paid_with(o)
        for mid, m in db.get(USERS, o["user_id"])["payment_methods"].items()))
    others = [o for o in pending if o not in (items_order, payment_order)]
    return_order = next(o for o in delivered if o is not exchange_order)
    busy = {o["user_id"] for o in (items_order, exchange_order, payment_order, return_order, *others[:2])}
    profile_user = next(user_id for user_id in db.ids(USERS) if user_id not in busy)

    def non_gift(order: dict, exclude: str = "") -> str:
        methods = db.get(USERS, order["user_id"])["payment_methods"]
        return next(mid for mid, m in methods.items() if m["source"] != "gift_card" and mid != exclude)

    items_swap, exchange_swap = swap_for(db, items_order), swap_for(db, exchange_order)
    return [
        ("cancel_pending_order", {"order_id": others[0]["order_id"], "reason": "no longer needed"}),
        ("modify_pending_order_address", {"order_id": others[1]["order_id"], **NEW_ADDRESS}),
        ("modify_pending_order_payment", {"order_id": payment_order["order_id"],
                                          "payment_method_id": non_gift(payment_order, paid_with(payment_order))}),
        ("modify_pending_order_items", {"order_id": items_order["order_id"], "item_ids": [items_swap.item["item_id"]],
                                        "new_item_ids": [items_swap.available["item_id"]],
                                        "payment_method_id": non_gift(items_order)}),
        ("modify_user_address", {"user_id": profile_user, **NEW_ADDRESS}),
        ("return_delivered_order_items", {"order_id": return_order["order_id"],
                                          "item_ids": [return_order["items"][0]["item_id"]],
                                          "payment_method_id": paid_with(return_order)}),
        ("exchange_delivered_order_items", {"order_id": exchange_order["order_id"],
                                            "item_ids": [exchange_swap.item["item_id"]],
                                            "new_item_ids": [exchange_swap.available["item_id"]],
                                            "payment_method_id": non_gift(exchange_order)}),
    ]

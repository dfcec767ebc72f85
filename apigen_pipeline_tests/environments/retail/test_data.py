"""The seeded retail generator: reproducible bytes, tau-bench's counts, coherent and realistic records."""

from __future__ import annotations

import gc
import random
import re
from collections import Counter

import pytest

from apigen_pipeline.environments.database import canonical_json
from apigen_pipeline.environments.retail.data import generate_data, record_counts
from apigen_pipeline.environments.retail.domain import ORDERS, PRODUCTS, USERS, items_total


@pytest.fixture(scope="module")
def tables():
    return generate_data(0, 1.0)


def test_same_seed_gives_identical_bytes_and_another_seed_differs(tables):
    assert canonical_json(generate_data(0, 1.0)) == canonical_json(tables)
    assert canonical_json(generate_data(1, 1.0)) != canonical_json(tables)


def test_generation_leaves_global_random_and_the_collector_alone():
    random.seed(1234)
    state = random.getstate()
    generate_data(3, 0.1)
    assert random.getstate() == state
    assert gc.isenabled()
    gc.disable()
    try:
        generate_data(3, 0.1)
        assert not gc.isenabled()  # a caller's choice to keep the collector off is respected
    finally:
        gc.enable()


def test_counts_at_scale_one_match_tau_bench(tables):
    assert {t: len(r) for t, r in tables.items()} == {USERS: 500, ORDERS: 1000, PRODUCTS: 50}
    per_product = [len(p["variants"]) for p in tables[PRODUCTS].values()]
    assert sum(per_product) == 591 and min(per_product) >= 10 and max(per_product) <= 20


def test_scale_multiplies_every_count():
    small = generate_data(0, 0.1)
    assert {t: len(r) for t, r in small.items()} == {USERS: 50, ORDERS: 100, PRODUCTS: 5}
    assert sum(len(p["variants"]) for p in small[PRODUCTS].values()) == 59
    assert record_counts(2.0) == {"users": 1000, "orders": 2000, "products": 100, "variants": 1182}
    with pytest.raises(ValueError):
        record_counts(0)


def test_identifiers_look_like_tau_bench(tables):
    assert all(re.fullmatch(r"[a-z]+_[a-z]+_\d{4}", uid) for uid in tables[USERS])
    assert all(re.fullmatch(r"#W\d{7}", oid) for oid in tables[ORDERS])
    assert all(re.fullmatch(r"\d{10}", pid) for pid in tables[PRODUCTS])
    item_ids = [iid for p in tables[PRODUCTS].values() for iid in p["variants"]]
    assert len(set(item_ids)) == len(item_ids) and not set(item_ids) & set(tables[PRODUCTS])
    method_ids = [mid for u in tables[USERS].values() for mid in u["payment_methods"]]
    assert len(set(method_ids)) == len(method_ids)
    assert all(re.fullmatch(r"(credit_card|gift_card|paypal)_\d{7}", mid) for mid in method_ids)


def test_users_can_be_told_apart_by_email_and_by_name_and_zip(tables):
    users = list(tables[USERS].values())
    assert len({u["email"] for u in users}) == len(users)
    assert len({(u["name"]["first_name"], u["name"]["last_name"], u["address"]["zip"]) for u in users}) == len(users)
    assert all(re.fullmatch(r"\d{5}", u["address"]["zip"]) and u["address"]["country"] == "USA" for u in users)


def test_orders_are_consistent_with_users_and_products(tables):
    users, orders, products = tables[USERS], tables[ORDERS], tables[PRODUCTS]
    assert sorted(oid for u in users.values() for oid in u["orders"]) == sorted(orders)
    assert all(u["orders"] for u in users.values())  # 1,000 orders for 500 users: everyone has one
    for order in orders.values():
        user = users[order["user_id"]]
        assert order["order_id"] in user["orders"]
        for item in order["items"]:
            variant = products[item["product_id"]]["variants"][item["item_id"]]
            assert (item["price"], item["options"], item["name"]) == (
                variant["price"], variant["options"], products[item["product_id"]]["name"])
        payment = order["payment_history"][0]
        assert payment["transaction_type"] == "payment" and payment["payment_method_id"] in user["payment_methods"]
        assert payment["amount"] == items_total(order["items"])
        shipped = [iid for parcel in order["fulfillments"] for iid in parcel["item_ids"]]
        if order["status"] in ("processed", "delivered"):
            assert sorted(shipped) == sorted(i["item_id"] for i in order["items"])
        else:
            assert shipped == []
        if order["status"] == "cancelled":
            assert order["payment_history"][1]["transaction_type"] == "refund"
            assert order["cancel_reason"] in ("no longer needed", "ordered by mistake")


def test_values_are_realistic(tables):
    statuses = Counter(o["status"] for o in tables[ORDERS].values())
    assert set(statuses) == {"pending", "processed", "delivered", "cancelled"}
    assert 0.35 < statuses["delivered"] / 1000 < 0.55 and 0.15 < statuses["pending"] / 1000 < 0.35
    variants = [v for p in tables[PRODUCTS].values() for v in p["variants"].values()]
    assert all(round(v["price"], 2) == v["price"] and v["price"] > 0 for v in variants)
    assert len({v["price"] for v in variants}) > 500  # prices with cents, not a handful of round numbers
    assert 0.6 < sum(v["available"] for v in variants) / len(variants) < 0.9
    assert len({p["name"] for p in tables[PRODUCTS].values()}) == 50
    for product in tables[PRODUCTS].values():
        options = [canonical_json(v["options"]) for v in product["variants"].values()]
        assert len(set(options)) == len(options)  # each variant is a distinct option combination
    sources = Counter(m["source"] for u in tables[USERS].values() for m in u["payment_methods"].values())
    assert set(sources) == {"credit_card", "gift_card", "paypal"}
    gift_cards = [m for u in tables[USERS].values() for m in u["payment_methods"].values() if m["source"] == "gift_card"]
    assert all(0 <= m["balance"] <= 300 for m in gift_cards)


def test_large_scales_keep_names_unique():
    tables = generate_data(5, 1.2)
    names = [p["name"] for p in tables[PRODUCTS].values()]
    assert len(names) == 60 and len(set(names)) == 60 and "T-Shirt Series 2" in names


def test_name_and_zip_stay_unique_even_when_they_would_collide(monkeypatch):
    """With one possible name and one city, 50 users would share name+ZIP many times over without the guard."""
    from apigen_pipeline.environments.retail import data
    from apigen_pipeline.environments.retail.vocabulary import CITIES

    monkeypatch.setattr(data, "FIRST_NAMES", ("Ann",))
    monkeypatch.setattr(data, "LAST_NAMES", ("Lee",))
    monkeypatch.setattr(data, "CITIES", CITIES[:1])
    users = data.generate_data(0, 0.1)[USERS].values()
    assert len({u["address"]["zip"] for u in users}) == len(users) == 50

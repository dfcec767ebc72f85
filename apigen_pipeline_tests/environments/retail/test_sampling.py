"""Domain sampling and proposed ground truth: samples fit their write tools, proposals are clean."""

from __future__ import annotations

import random
import time
from dataclasses import replace

import pytest

from apigen_pipeline.environments.base import DomainSample, Environment
from apigen_pipeline.environments.retail import plugin
from apigen_pipeline.environments.retail.domain import ORDERS, USERS, WRITE_TOOLS
from apigen_pipeline.environments.retail.sampling import propose_actions, sample_domain_data

NEEDED_STATUS = {"cancel_pending_order": "pending", "modify_pending_order_address": "pending",
                 "modify_pending_order_payment": "pending", "modify_pending_order_items": "pending",
                 "return_delivered_order_items": "delivered", "exchange_delivered_order_items": "delivered"}


def replay(env: Environment, actions) -> list[str]:
    """Problems found replaying actions on a fresh database: tool errors, then policy violations."""
    session = env.new_session()
    errors = [f"{a.name}: {call.observation}" for a in actions if not (call := session.execute(a.name, a.arguments)).ok]
    return errors + [v.message for v in env.check_policy(env.fresh_database(), session.trace, session.database)]


@pytest.mark.parametrize("tool", WRITE_TOOLS)
def test_two_hundred_proposals_per_write_tool_execute_cleanly(env, tool):
    rng = random.Random(f"proposals-{tool}")
    proposed = 0
    for _ in range(200):
        sample = env.sample_domain_data(rng, [tool])
        actions = propose_actions(sample, [tool], rng)
        assert actions is not None, sample.user_id
        assert [a.name for a in actions if a.name in WRITE_TOOLS] == [tool]
        assert replay(env, actions) == []
        proposed += 1
    assert proposed == 200


@pytest.mark.parametrize("tools", [
    ["modify_pending_order_address", "cancel_pending_order"],
    ["modify_pending_order_payment", "modify_pending_order_items"],
    ["cancel_pending_order", "cancel_pending_order"],
    ["return_delivered_order_items", "exchange_delivered_order_items"],
    ["modify_user_address", "modify_pending_order_address", "return_delivered_order_items"],
])
def test_combined_tools_are_planned_on_compatible_orders(env, tools):
    rng = random.Random(str(tools))
    planned = 0
    for _ in range(40):
        sample = env.sample_domain_data(rng, tools)
        actions = propose_actions(sample, tools, rng)
        if actions is None:
            continue
        planned += 1
        assert sorted(a.name for a in actions if a.name in WRITE_TOOLS) == sorted(tools)
        assert replay(env, actions) == []
    assert planned >= 36  # the sampler finds users who can carry the combination


def test_sample_fits_the_requested_tool_and_authenticates_its_user(env):
    rng = random.Random(5)
    for tool, status in NEEDED_STATUS.items():
        sample = env.sample_domain_data(rng, [tool])
        orders = sample.records[ORDERS].values()
        assert all(order["user_id"] == sample.user_id for order in orders)
        assert orders and all(order["status"] == status for order in orders)  # only what the write can act on
        auth = propose_actions(sample, [tool], rng)[0]
        assert env.execute(env.fresh_database(), auth.name, auth.arguments).ok
        assert set(sample.identity) in ({"email"}, {"first_name", "last_name", "zip"}, {"user_id"})


def test_item_tools_bring_the_products_to_swap_to(env):
    sample = env.sample_domain_data(random.Random(9), ["exchange_delivered_order_items"])
    delivered_products = {item["product_id"] for order in sample.records[ORDERS].values()
                          if order["status"] == "delivered" for item in order["items"]}
    assert delivered_products <= set(sample.records["products"])
    variants = [v for product in sample.records["products"].values() for v in product["variants"].values()]
    assert variants and all(v["available"] for v in variants)  # only a variant on sale can replace an item


def test_sampling_is_reproducible_and_hands_out_copies(env):
    first = env.sample_domain_data(random.Random(11), ["cancel_pending_order"])
    second = env.sample_domain_data(random.Random(11), ["cancel_pending_order"])
    assert first == second
    first.records[USERS][first.user_id]["email"] = "changed@example.com"
    assert env.fresh_database().get(USERS, first.user_id)["email"] != "changed@example.com"


def test_proposals_are_reproducible(env):
    sample = env.sample_domain_data(random.Random(3), ["modify_pending_order_items"])
    assert propose_actions(sample, ["modify_pending_order_items"], random.Random(4)) == propose_actions(
        sample, ["modify_pending_order_items"], random.Random(4))


def test_no_proposal_without_the_data_or_for_foreign_tools(env):
    sample = env.sample_domain_data(random.Random(2), ["return_delivered_order_items"])
    assert propose_actions(sample, ["book_reservation"], random.Random(0)) is None
    without_delivered = DomainSample(
        user_id=sample.user_id, identity=sample.identity,
        records={**sample.records, ORDERS: {oid: o for oid, o in sample.records[ORDERS].items()
                                            if o["status"] != "delivered"}})
    assert propose_actions(without_delivered, ["return_delivered_order_items"], random.Random(0)) is None


def test_sampling_is_fast(env):
    db = env.fresh_database()
    rng = random.Random(0)
    sample_domain_data(db, rng, ["cancel_pending_order"])  # builds the per-database user pools once
    started = time.perf_counter()
    for index in range(2000):
        sample_domain_data(db, rng, [WRITE_TOOLS[index % len(WRITE_TOOLS)]])
    assert time.perf_counter() - started < 1.0  # the budget: 10,000 samples in well under 5 s


def _records_with_optional_fields_missing() -> dict:
    """tau-bench-shaped retail data as another harness ships it: no `user_id` inside user records, and some
    users without email, name, orders or payment methods, some orders without items or payment history."""
    tables = plugin.generate_data(0, 0.2)
    for index, user in enumerate(tables[USERS].values()):
        del user["user_id"]
        for position, field in enumerate(("email", "name", "orders", "payment_methods")):
            if index % 5 == position:
                del user[field]
    for index, order in enumerate(tables[ORDERS].values()):
        if index % 7 == 0:
            del order["items" if index % 2 else "payment_history"]
    return tables


@pytest.mark.parametrize("tools", [[tool] for tool in WRITE_TOOLS] + [[]])
def test_the_sampler_tolerates_records_without_optional_fields(tools):
    foreign = Environment(replace(plugin, generate_data=None, load_data=_records_with_optional_fields_missing))
    rng = random.Random(f"optional-{tools}")
    for _ in range(60):
        sample = foreign.sample_domain_data(rng, tools)
        user = sample.records[USERS][sample.user_id]
        assert "user_id" not in user
        if "user_id" in sample.identity:
            assert sample.identity == {"user_id": sample.user_id}
        elif "email" in sample.identity:
            assert sample.identity == {"email": user["email"]}
        else:
            assert sample.identity["zip"] == user["address"]["zip"]
        actions = propose_actions(sample, tools, rng)
        assert actions is None or [a.name for a in actions if a.name in WRITE_TOOLS] == tools

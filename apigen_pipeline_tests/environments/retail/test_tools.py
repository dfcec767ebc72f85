"""Every retail tool through `Environment.execute`: success, each error path, and state effects."""

from __future__ import annotations

import hashlib
import json
import statistics
import timeit

import pytest

from apigen_pipeline.environments.base import Environment, ToolError
from apigen_pipeline.environments.database import Database, full_state_hash
from apigen_pipeline.environments.retail import tools as retail_tools
from apigen_pipeline.environments.retail.domain import (
    CANCELLED,
    EXCHANGE_REQUESTED,
    ORDERS,
    PENDING_ITEM_MODIFIED,
    PRODUCTS,
    RETURN_REQUESTED,
    USERS,
)
from apigen_pipeline_tests.environments.retail.conftest import (
    NEW_ADDRESS,
    assert_rejected,
    first_order,
    methods_of,
    paid_with,
    run,
    swap_for,
    valid_writes,
)


def _order_status(db: Database, status: str):
    return first_order(db, lambda order, user: order["status"] == status)


def _load(call) -> dict:
    assert call.ok, call.observation
    return json.loads(call.observation)


# -- reads --------------------------------------------------------------------------------------


def test_find_user_by_email_ignores_case_and_spaces(env, db):
    user_id, user = next(db.records(USERS))
    assert run(env, db, "find_user_id_by_email", email=f"  {user['email'].upper()} ").observation == user_id
    assert_rejected(env, db, "find_user_id_by_email", {"email": "nobody@nowhere.test"}, "user not found")


def test_find_user_by_name_zip(env, db):
    user_id, user = list(db.records(USERS))[-1]
    name, zip_code = user["name"], user["address"]["zip"]
    found = run(env, db, "find_user_id_by_name_zip", first_name=name["first_name"].lower(),
                last_name=name["last_name"], zip=zip_code)
    assert found.observation == user_id
    wrong_zip = "00000" if zip_code != "00000" else "99999"
    assert_rejected(env, db, "find_user_id_by_name_zip",
                    {"first_name": name["first_name"], "last_name": name["last_name"], "zip": wrong_zip},
                    "user not found")


def test_get_details_return_the_records(env, db):
    user_id, user = next(db.records(USERS))
    order_id = user["orders"][0]
    product_id = db.get(ORDERS, order_id)["items"][0]["product_id"]
    assert _load(run(env, db, "get_user_details", user_id=user_id)) == user
    assert _load(run(env, db, "get_order_details", order_id=order_id))["user_id"] == user_id
    product = _load(run(env, db, "get_product_details", product_id=product_id))
    assert product["product_id"] == product_id and len(product["variants"]) >= 10
    assert_rejected(env, db, "get_user_details", {"user_id": "no_such_user_1"}, "user not found")
    assert_rejected(env, db, "get_order_details", {"order_id": order_id.lstrip("#")}, "order not found")
    item_id = db.get(ORDERS, order_id)["items"][0]["item_id"]
    assert_rejected(env, db, "get_product_details", {"product_id": item_id}, "product not found")


def test_reads_hand_out_the_stored_record_without_copying(db):
    user_id, user = next(db.records(USERS))
    assert retail_tools.get_user_details(db, user_id) is user
    median = statistics.median(timeit.repeat(lambda: retail_tools.get_user_details(db, user_id),
                                              number=1, repeat=500))
    assert median < 50e-6


def test_list_all_product_types_maps_every_name_to_its_id(env, db):
    listing = _load(run(env, db, "list_all_product_types"))
    assert len(listing) == db.count(PRODUCTS) == 50
    assert all(db.get(PRODUCTS, pid)["name"] == name for name, pid in listing.items())
    assert list(listing) == sorted(listing)


@pytest.mark.parametrize(("expression", "expected"), [
    ("(19.99 + 5.01) * 2", "50.0"), ("-3 / 4", "-0.75"), ("10 - 2.555", "7.45"), ("+7", "7.0"),
])
def test_calculate_evaluates_arithmetic(env, db, expression, expected):
    assert run(env, db, "calculate", expression=expression).observation == expected


@pytest.mark.parametrize(("expression", "fragment"), [
    ("2 ** 10", "only numbers"), ("__import__('os').getcwd()", "only numbers"), ("1 / 0", "division by zero"),
    ("3 +", "invalid expression"), ("abs(-1)", "only numbers"), ("1" * 501, "longer than"),
])
def test_calculate_refuses_anything_else(env, db, expression, fragment):
    assert_rejected(env, db, "calculate", {"expression": expression}, fragment)


def test_think_and_transfer(env, db):
    assert run(env, db, "think", thought="the user wants a refund").observation == ""
    assert run(env, db, "transfer_to_human_agents", summary="wants a discount").observation == "Transfer successful"
    assert db.touched() == set()


# -- cancel -------------------------------------------------------------------------------------


def test_cancel_refunds_a_gift_card_at_once(env, db):
    order, user = first_order(db, lambda o, u: o["status"] == "pending" and paid_with(o).startswith("gift_card"))
    card = paid_with(order)
    balance, amount = user["payment_methods"][card]["balance"], order["payment_history"][0]["amount"]
    result = _load(run(env, db, "cancel_pending_order", order_id=order["order_id"], reason="no longer needed"))
    assert result["status"] == CANCELLED and result["cancel_reason"] == "no longer needed"
    assert result["payment_history"][-1] == {"transaction_type": "refund", "amount": amount,
                                             "payment_method_id": card}
    assert db.get(USERS, user["user_id"])["payment_methods"][card]["balance"] == round(balance + amount, 2)


def test_cancel_error_paths(env, db):
    delivered, _ = _order_status(db, "delivered")
    pending, _ = _order_status(db, "pending")
    assert_rejected(env, db, "cancel_pending_order", {"order_id": "#W0000000", "reason": "no longer needed"},
                    "order not found")
    assert_rejected(env, db, "cancel_pending_order", {"order_id": delivered["order_id"],
                                                      "reason": "ordered by mistake"}, "is delivered")
    assert_rejected(env, db, "cancel_pending_order", {"order_id": pending["order_id"], "reason": "too slow"},
                    "invalid arguments")
    with pytest.raises(ToolError, match="invalid reason"):
        retail_tools.cancel_pending_order(db, order_id=pending["order_id"], reason="too slow")
    run(env, db, "cancel_pending_order", order_id=pending["order_id"], reason="ordered by mistake")
    assert_rejected(env, db, "cancel_pending_order", {"order_id": pending["order_id"],
                                                      "reason": "ordered by mistake"}, "is cancelled")


# -- modify pending order -------------------------------------------------------------------------


def test_modify_order_address(env, db):
    pending, user = _order_status(db, "pending")
    result = _load(run(env, db, "modify_pending_order_address", order_id=pending["order_id"], **NEW_ADDRESS))
    assert result["address"] == NEW_ADDRESS
    assert db.get(USERS, user["user_id"])["address"] != NEW_ADDRESS  # the profile is a different record
    processed, _ = _order_status(db, "processed")
    assert_rejected(env, db, "modify_pending_order_address", {"order_id": processed["order_id"], **NEW_ADDRESS},
                    "is processed")
    assert_rejected(env, db, "modify_pending_order_address", {"order_id": "#W9", **NEW_ADDRESS}, "order not found")


def test_modify_payment_moves_the_charge_to_a_gift_card(env, db):
    order, user = first_order(db, lambda o, u: o["status"] == "pending" and any(
        u["payment_methods"][g]["balance"] >= o["payment_history"][0]["amount"] and g != paid_with(o)
        for g in methods_of(u, "gift_card")))
    amount, old = order["payment_history"][0]["amount"], paid_with(order)
    card = next(g for g in methods_of(user, "gift_card") if user["payment_methods"][g]["balance"] >= amount)
    balance = user["payment_methods"][card]["balance"]
    result = _load(run(env, db, "modify_pending_order_payment", order_id=order["order_id"], payment_method_id=card))
    assert result["payment_history"][1:] == [
        {"transaction_type": "payment", "amount": amount, "payment_method_id": card},
        {"transaction_type": "refund", "amount": amount, "payment_method_id": old}]
    assert db.get(USERS, user["user_id"])["payment_methods"][card]["balance"] == round(balance - amount, 2)
    # After the change, the gift card is the method to move away from: paying with it again is refused.
    assert_rejected(env, db, "modify_pending_order_payment", {"order_id": order["order_id"],
                                                              "payment_method_id": card}, "already paid with")


def test_modify_payment_error_paths(env, db):
    order, user = first_order(db, lambda o, u: o["status"] == "pending")
    order_id = order["order_id"]
    assert_rejected(env, db, "modify_pending_order_payment", {"order_id": order_id,
                                                              "payment_method_id": paid_with(order)},
                    "already paid with")
    assert_rejected(env, db, "modify_pending_order_payment", {"order_id": order_id,
                                                              "payment_method_id": "credit_card_0000000"},
                    "payment method credit_card_0000000 not found")
    poor, poor_user = first_order(db, lambda o, u: o["status"] == "pending" and any(
        u["payment_methods"][g]["balance"] < o["payment_history"][0]["amount"] and g != paid_with(o)
        for g in methods_of(u, "gift_card")))
    card = next(g for g in methods_of(poor_user, "gift_card") if g != paid_with(poor)
                and poor_user["payment_methods"][g]["balance"] < poor["payment_history"][0]["amount"])
    assert_rejected(env, db, "modify_pending_order_payment", {"order_id": poor["order_id"], "payment_method_id": card},
                    "insufficient gift card balance")
    delivered, delivered_user = _order_status(db, "delivered")
    other = next(iter(delivered_user["payment_methods"]))
    assert_rejected(env, db, "modify_pending_order_payment", {"order_id": delivered["order_id"],
                                                              "payment_method_id": other}, "is delivered")


def test_modify_payment_refuses_a_split_payment(env, db):
    order, user = first_order(db, lambda o, u: o["status"] == "pending" and len(u["payment_methods"]) >= 3)
    first, second, third = list(user["payment_methods"])[:3]
    split = db.get_for_update(ORDERS, order["order_id"])  # test setup: a history no tool produces for pending
    split["payment_history"] = [{"transaction_type": "payment", "amount": 10.0, "payment_method_id": first},
                                {"transaction_type": "payment", "amount": 5.0, "payment_method_id": second}]
    assert_rejected(env, db, "modify_pending_order_payment", {"order_id": order["order_id"],
                                                              "payment_method_id": third}, "split across")


def _swappable(db: Database, status: str):
    order, user = first_order(db, lambda o, u: o["status"] == status and swap_for(db, o) is not None
                              and swap_for(db, o).unavailable is not None)
    return order, user, swap_for(db, order)


def test_modify_items_swaps_and_settles_the_difference(env, db):
    order, user, swap = _swappable(db, "pending")
    method = next(iter(user["payment_methods"]))
    if user["payment_methods"][method]["source"] == "gift_card":
        db.get_for_update(USERS, user["user_id"])["payment_methods"][method]["balance"] = 10_000.0
    difference = round(swap.available["price"] - swap.item["price"], 2)
    result = _load(run(env, db, "modify_pending_order_items", order_id=order["order_id"],
                       item_ids=[swap.item["item_id"]], new_item_ids=[swap.available["item_id"]],
                       payment_method_id=method))
    assert result["status"] == PENDING_ITEM_MODIFIED
    swapped = next(i for i in result["items"] if i["item_id"] == swap.available["item_id"])
    assert swapped["price"] == swap.available["price"] and swapped["options"] == swap.available["options"]
    assert len(result["items"]) == len(order["items"])
    assert result["payment_history"][-1] == {"transaction_type": "payment" if difference > 0 else "refund",
                                             "amount": abs(difference), "payment_method_id": method}
    # Only once per order: the new status refuses a second modification.
    assert_rejected(env, db, "modify_pending_order_items",
                    {"order_id": order["order_id"], "item_ids": [swap.available["item_id"]],
                     "new_item_ids": [swap.item["item_id"]], "payment_method_id": method},
                    "is pending (item modified)")


def test_modify_items_with_a_gift_card_adjusts_its_balance(env, db):
    order, user, swap = _swappable(db, "pending")
    card = "gift_card_7777777"
    db.get_for_update(USERS, user["user_id"])["payment_methods"][card] = {
        "source": "gift_card", "id": card, "balance": 1000.0}
    run(env, db, "modify_pending_order_items", order_id=order["order_id"], item_ids=[swap.item["item_id"]],
        new_item_ids=[swap.available["item_id"]], payment_method_id=card)
    expected = round(1000.0 - (swap.available["price"] - swap.item["price"]), 2)
    assert db.get(USERS, user["user_id"])["payment_methods"][card]["balance"] == expected


@pytest.mark.parametrize("tool", ["modify_pending_order_items", "exchange_delivered_order_items"])
def test_item_swaps_error_paths(env, db, tool):
    status = "pending" if tool == "modify_pending_order_items" else "delivered"
    order, user, swap = _swappable(db, status)
    method = next(m for m in user["payment_methods"] if user["payment_methods"][m]["source"] != "gift_card") \
        if methods_of(user, "credit_card") + methods_of(user, "paypal") else None
    if method is None:
        method = "paypal_7777777"
        db.get_for_update(USERS, user["user_id"])["payment_methods"][method] = {"source": "paypal", "id": method}
    base = {"order_id": order["order_id"], "item_ids": [swap.item["item_id"]],
            "new_item_ids": [swap.available["item_id"]], "payment_method_id": method}
    cases = [
        ({"order_id": "#W0000000"}, "order not found"),
        ({"item_ids": ["0000000000"]}, "item 0000000000 not found in order"),
        ({"new_item_ids": [swap.foreign["item_id"]]}, "is not a variant of product"),
        ({"new_item_ids": [swap.unavailable["item_id"]]}, "is not available"),
        ({"new_item_ids": [swap.item["item_id"]]}, "is the same as the item"),
        ({"new_item_ids": [swap.available["item_id"], swap.available["item_id"]]}, "number of items"),
        ({"item_ids": [swap.item["item_id"], swap.item["item_id"]],
          "new_item_ids": [swap.available["item_id"]] * 2}, f"item {swap.item['item_id']} not found"),
        ({"payment_method_id": "paypal_0000000"}, "payment method paypal_0000000 not found"),
    ]
    for change, fragment in cases:
        assert_rejected(env, db, tool, {**base, **change}, fragment)
    wrong_status = "delivered" if status == "pending" else "pending"
    other, _ = _order_status(db, wrong_status)
    other_swap = swap_for(db, other)
    assert other_swap is not None
    assert_rejected(env, db, tool, {**base, "order_id": other["order_id"], "item_ids": [other_swap.item["item_id"]],
                                    "new_item_ids": [other_swap.available["item_id"]]}, f"is {wrong_status}")


@pytest.mark.parametrize("tool", ["modify_pending_order_items", "exchange_delivered_order_items"])
def test_item_swaps_need_a_gift_card_that_covers_the_charge(env, db, tool):
    status = "pending" if tool == "modify_pending_order_items" else "delivered"
    order, user = first_order(db, lambda o, u: o["status"] == status and any(
        v["available"] and v["price"] > i["price"] for i in o["items"]
        for v in db.get(PRODUCTS, i["product_id"])["variants"].values()))
    item, dearer = next((i, v) for i in order["items"] for v in db.get(PRODUCTS, i["product_id"])["variants"].values()
                        if v["available"] and v["price"] > i["price"])
    card = "gift_card_7777777"
    db.get_for_update(USERS, user["user_id"])["payment_methods"][card] = {
        "source": "gift_card", "id": card, "balance": 0.0}
    assert_rejected(env, db, tool, {"order_id": order["order_id"], "item_ids": [item["item_id"]],
                                    "new_item_ids": [dearer["item_id"]], "payment_method_id": card},
                    "insufficient gift card balance")


def test_modify_user_address(env, db):
    user_id, _ = next(db.records(USERS))
    result = _load(run(env, db, "modify_user_address", user_id=user_id, **NEW_ADDRESS))
    assert result["address"] == NEW_ADDRESS
    assert_rejected(env, db, "modify_user_address", {"user_id": "ghost_user_0000", **NEW_ADDRESS}, "user not found")


# -- delivered orders -----------------------------------------------------------------------------


def test_return_records_items_and_refund_method(env, db):
    order, _ = first_order(db, lambda o, u: o["status"] == "delivered" and len(o["items"]) >= 2)
    item_ids = [order["items"][1]["item_id"], order["items"][0]["item_id"]]
    result = _load(run(env, db, "return_delivered_order_items", order_id=order["order_id"], item_ids=item_ids,
                       payment_method_id=paid_with(order)))
    assert result["status"] == RETURN_REQUESTED
    assert result["return_items"] == sorted(item_ids)
    assert result["return_payment_method_id"] == paid_with(order)
    assert_rejected(env, db, "return_delivered_order_items", {"order_id": order["order_id"], "item_ids": item_ids,
                                                              "payment_method_id": paid_with(order)},
                    "is return requested")


def test_return_error_paths(env, db):
    order, _ = _order_status(db, "delivered")
    item_id = order["items"][0]["item_id"]
    base = {"order_id": order["order_id"], "item_ids": [item_id], "payment_method_id": paid_with(order)}
    assert_rejected(env, db, "return_delivered_order_items", {**base, "order_id": "#W0000000"}, "order not found")
    assert_rejected(env, db, "return_delivered_order_items", {**base, "item_ids": ["123"]}, "item 123 not found")
    assert_rejected(env, db, "return_delivered_order_items", {**base, "item_ids": [item_id] * 2},
                    f"item {item_id} not found")
    assert_rejected(env, db, "return_delivered_order_items", {**base, "payment_method_id": "gift_card_0000000"},
                    "payment method gift_card_0000000 not found")
    pending, _ = _order_status(db, "pending")
    assert_rejected(env, db, "return_delivered_order_items",
                    {"order_id": pending["order_id"], "item_ids": [pending["items"][0]["item_id"]],
                     "payment_method_id": paid_with(pending)}, "is pending")


def test_exchange_records_the_request_once(env, db):
    order, user, swap = _swappable(db, "delivered")
    method = paid_with(order)
    if user["payment_methods"][method]["source"] == "gift_card":
        db.get_for_update(USERS, user["user_id"])["payment_methods"][method]["balance"] = 10_000.0
    arguments = {"order_id": order["order_id"], "item_ids": [swap.item["item_id"]],
                 "new_item_ids": [swap.available["item_id"]], "payment_method_id": method}
    result = _load(run(env, db, "exchange_delivered_order_items", **arguments))
    assert result["status"] == EXCHANGE_REQUESTED
    assert result["exchange_items"] == [swap.item["item_id"]]
    assert result["exchange_new_items"] == [swap.available["item_id"]]
    assert result["exchange_price_difference"] == round(swap.available["price"] - swap.item["price"], 2)
    assert result["items"] == order["items"]  # items change only when the exchange is completed
    assert_rejected(env, db, "exchange_delivered_order_items", arguments, "is exchange requested")


# -- malformed calls ------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "arguments", "fragment"), [
    ("refund_everything", {}, "unknown tool 'refund_everything'"),
    ("get_order_details", {}, "'order_id' is a required property"),
    ("get_order_details", {"order_id": "#W1", "verbose": True}, "Additional properties are not allowed"),
    ("get_order_details", {"order_id": 1234567}, "is not of type 'string'"),
    ("return_delivered_order_items", {"order_id": "#W1", "item_ids": "123", "payment_method_id": "x"},
     "is not of type 'array'"),
    ("return_delivered_order_items", {"order_id": "#W1", "item_ids": [], "payment_method_id": "x"},
     "should be non-empty"),
    ("get_user_details", ["not", "an", "object"], "must be an object"),
])
def test_malformed_calls_never_reach_the_tools(env, db, name, arguments, fragment):
    assert_rejected(env, db, name, arguments, fragment)


# -- state identity ---------------------------------------------------------------------------------


def test_every_write_tool_is_covered_by_the_state_tests(env, db):
    assert sorted(name for name, _ in valid_writes(db)) == sorted(env.write_tools)


def test_every_write_changes_the_state_hash(env, db):
    for name, arguments in valid_writes(db):
        before = db.state_hash()
        call = env.execute(db, name, arguments)
        assert call.ok, (name, call.observation)
        assert db.state_hash() != before, name


def test_replaying_writes_gives_the_same_hash_as_a_full_recount(env):
    first, second = env.fresh_database(), env.fresh_database()
    for name, arguments in valid_writes(first):
        assert env.execute(first, name, arguments).ok
        assert env.execute(second, name, arguments).ok
    assert first.state_hash() == second.state_hash() == full_state_hash(first.materialize())
    assert first.state_hash() != env.fingerprint()


def test_diff_names_exactly_the_changed_records_and_fields(env, db):
    writes = dict(valid_writes(db))
    cancel, profile = writes["cancel_pending_order"], writes["modify_user_address"]
    env.execute(db, "cancel_pending_order", cancel)
    env.execute(db, "modify_user_address", profile)
    diff = env.fresh_database().diff(db)
    seed = env.fresh_database()
    cancelled = seed.get(ORDERS, cancel["order_id"])
    payer = paid_with(cancelled)
    refunded_to_gift_card = seed.get(USERS, cancelled["user_id"])["payment_methods"][payer]["source"] == "gift_card"
    expected = {(ORDERS, cancel["order_id"]), (USERS, profile["user_id"])}
    if refunded_to_gift_card:  # the refund lands on the card at once, so its owner changes too
        expected.add((USERS, cancelled["user_id"]))
    assert diff.changed_records == expected
    assert {c.path for c in diff.changes if c.table == ORDERS} == {"status", "cancel_reason", "payment_history"}
    user_paths = {c.path for c in diff.changes if c.record_id == cancelled["user_id"]}
    if refunded_to_gift_card and cancelled["user_id"] != profile["user_id"]:
        assert user_paths == {f"payment_methods.{payer}.balance"}
    seed_address = seed.get(USERS, profile["user_id"])["address"]
    assert {c.path for c in diff.changes if c.record_id == profile["user_id"]} == {
        f"address.{k}" for k, v in NEW_ADDRESS.items() if seed_address[k] != v}


def test_no_tool_ever_mutates_the_seed(env, db):
    digest = hashlib.sha256(env.snapshot.to_bytes()).hexdigest()
    for name, arguments in valid_writes(db):
        env.execute(db, name, arguments)
        env.execute(db, name, arguments)  # the repeat fails on the changed status and is rolled back
    user_id, user = next(env.fresh_database().records(USERS))
    for name, arguments in [("get_user_details", {"user_id": user_id}),
                            ("get_order_details", {"order_id": user["orders"][0]}),
                            ("list_all_product_types", {}), ("find_user_id_by_email", {"email": user["email"]})]:
        env.execute(db, name, arguments)
    assert hashlib.sha256(env.snapshot.to_bytes()).hexdigest() == digest


def test_tool_specs_are_exact_schemas_with_feeding_returns(env: Environment):
    specs = {spec.name: spec for spec in env.tool_specs}
    assert len(specs) == 16 and sorted(env.write_tools) == sorted([
        "cancel_pending_order", "modify_pending_order_address", "modify_pending_order_payment",
        "modify_pending_order_items", "modify_user_address", "return_delivered_order_items",
        "exchange_delivered_order_items"])
    produced = {field for spec in specs.values() if spec.kind == "read" for field in spec.returns}
    for spec in specs.values():
        schema = spec.parameters
        assert schema["type"] == "object" and schema["additionalProperties"] is False
        assert sorted(schema["required"]) == sorted(schema["properties"])
        if spec.kind == "write":
            assert spec.utterance, spec.name
            slots = {part.split("}")[0] for part in spec.utterance.split("{")[1:]}
            assert slots <= set(schema["properties"]), spec.name
            ids = {arg[:-1] if arg.endswith("_ids") else arg for arg in schema["properties"] if "_id" in arg}
            assert ids <= produced, (spec.name, ids - produced)
    assert specs["cancel_pending_order"].parameters["properties"]["reason"]["enum"] == [
        "no longer needed", "ordered by mistake"]

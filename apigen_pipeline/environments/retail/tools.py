"""The retail tools: plain functions over a `Database` plus the specs an LLM sees.

Reads return the stored record itself (the Environment serializes it), so a read costs a dict
lookup. Writes validate everything first and only then take private copies with
`get_for_update`, so a rejected call leaves no trace even before the Environment's rollback.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from apigen_pipeline.environments.base import Tool, ToolError, ToolKind, ToolSpec
from apigen_pipeline.environments.common_tools import calculate, think, transfer_to_human_agents
from apigen_pipeline.environments.database import Database, Record
from apigen_pipeline.environments.retail.domain import (
    CANCEL_REASONS,
    CANCELLED,
    DELIVERED,
    EXCHANGE_REQUESTED,
    ORDERS,
    PENDING,
    PENDING_ITEM_MODIFIED,
    PRODUCTS,
    RETURN_REQUESTED,
    USERS,
    charged_methods,
    money,
    net_charges,
)

# -- lookups ----------------------------------------------------------------------------------


def _user(db: Database, user_id: str) -> Record:
    user = db.get(USERS, user_id)
    if user is None:
        raise ToolError("user not found")
    return user


def _order(db: Database, order_id: str) -> Record:
    order = db.get(ORDERS, order_id)
    if order is None:
        raise ToolError("order not found")
    return order


def _product(db: Database, product_id: str) -> Record:
    product = db.get(PRODUCTS, product_id)
    if product is None:
        raise ToolError("product not found")
    return product


def _require_status(order: Record, status: str, action: str) -> None:
    if order["status"] != status:
        raise ToolError(f"{action} requires a {status} order, but order {order['order_id']} is {order['status']}")


def _payment_method(db: Database, user_id: str, payment_method_id: str) -> Record:
    method = _user(db, user_id)["payment_methods"].get(payment_method_id)
    if method is None:
        raise ToolError(f"payment method {payment_method_id} not found")
    return method


def _require_items_in_order(order: Record, item_ids: list[str]) -> None:
    """Each requested item must be in the order as many times as it is requested."""
    in_order = Counter(item["item_id"] for item in order["items"])
    for item_id, wanted in Counter(item_ids).items():
        if in_order[item_id] < wanted:
            raise ToolError(f"item {item_id} not found in order {order['order_id']}")


def _replacement_variants(db: Database, order: Record, item_ids: list[str], new_item_ids: list[str]) -> list[Record]:
    """The variants replacing each item: same product, available, and actually different."""
    if len(item_ids) != len(new_item_ids):
        raise ToolError("the number of items to change must match the number of new items")
    _require_items_in_order(order, item_ids)
    product_of = {item["item_id"]: item["product_id"] for item in order["items"]}
    replacements: list[Record] = []
    for item_id, new_item_id in zip(item_ids, new_item_ids, strict=True):
        product = _product(db, product_of[item_id])
        variant = product["variants"].get(new_item_id)
        if variant is None:
            raise ToolError(f"new item {new_item_id} is not a variant of product {product['name']} "
                            f"({product['product_id']}) of item {item_id}")
        if new_item_id == item_id:
            raise ToolError(f"new item {new_item_id} is the same as the item it would replace")
        if not variant["available"]:
            raise ToolError(f"new item {new_item_id} is not available")
        replacements.append(variant)
    return replacements


def _price_difference(order: Record, item_ids: list[str], replacements: list[Record]) -> float:
    price_of = {item["item_id"]: item["price"] for item in order["items"]}
    return money(sum(v["price"] for v in replacements) - sum(price_of[i] for i in item_ids))


def _require_balance(method: Record, amount: float) -> None:
    if method["source"] == "gift_card" and method["balance"] < amount:
        raise ToolError(f"insufficient gift card balance: {method['id']} has {method['balance']:.2f}, "
                        f"{amount:.2f} is needed")


def _adjust_gift_card(db: Database, user_id: str, payment_method_id: str, change: float) -> None:
    """Gift cards settle at once; other methods settle outside the store, so only gift cards change here."""
    if change == 0 or _user(db, user_id)["payment_methods"][payment_method_id]["source"] != "gift_card":
        return
    user = db.get_for_update(USERS, user_id)
    assert user is not None
    method = user["payment_methods"][payment_method_id]
    method["balance"] = money(method["balance"] + change)


def _new_address(address1: str, address2: str, city: str, state: str, country: str, zip: str) -> dict[str, str]:
    return {"address1": address1, "address2": address2, "city": city, "state": state, "country": country,
            "zip": zip}


# -- read tools -------------------------------------------------------------------------------


def find_user_id_by_email(db: Database, email: str) -> str:
    wanted = email.strip().lower()
    for user_id, user in db.records(USERS):
        if user["email"].lower() == wanted:
            return user_id
    raise ToolError("user not found")


def find_user_id_by_name_zip(db: Database, first_name: str, last_name: str, zip: str) -> str:
    first, last, wanted_zip = first_name.strip().lower(), last_name.strip().lower(), zip.strip()
    for user_id, user in db.records(USERS):
        name = user["name"]
        if (user["address"]["zip"] == wanted_zip and name["first_name"].lower() == first
                and name["last_name"].lower() == last):
            return user_id
    raise ToolError("user not found")


def get_user_details(db: Database, user_id: str) -> Record:
    return _user(db, user_id)


def get_order_details(db: Database, order_id: str) -> Record:
    return _order(db, order_id)


def get_product_details(db: Database, product_id: str) -> Record:
    return _product(db, product_id)


def list_all_product_types(db: Database) -> dict[str, str]:
    return dict(sorted((product["name"], product_id) for product_id, product in db.records(PRODUCTS)))


# -- write tools ------------------------------------------------------------------------------


def cancel_pending_order(db: Database, order_id: str, reason: str) -> Record:
    order = _order(db, order_id)
    _require_status(order, PENDING, "cancellation")
    if reason not in CANCEL_REASONS:
        raise ToolError(f"invalid reason {reason!r}: must be one of {', '.join(CANCEL_REASONS)}")
    # Each method gets back exactly what it still carries, so an earlier payment change is honoured.
    refunds = [(method, amount) for method, amount in net_charges(order).items() if amount > 0]
    order = db.get_for_update(ORDERS, order_id)
    assert order is not None
    for method_id, amount in refunds:
        order["payment_history"].append(
            {"transaction_type": "refund", "amount": amount, "payment_method_id": method_id})
        _adjust_gift_card(db, order["user_id"], method_id, amount)
    order["status"] = CANCELLED
    order["cancel_reason"] = reason
    return order


def modify_pending_order_address(db: Database, order_id: str, address1: str, address2: str, city: str,
                                 state: str, country: str, zip: str) -> Record:
    _require_status(_order(db, order_id), PENDING, "changing the shipping address")
    order = db.get_for_update(ORDERS, order_id)
    assert order is not None
    order["address"] = _new_address(address1, address2, city, state, country, zip)
    return order


def modify_pending_order_payment(db: Database, order_id: str, payment_method_id: str) -> Record:
    order = _order(db, order_id)
    _require_status(order, PENDING, "changing the payment method")
    new_method = _payment_method(db, order["user_id"], payment_method_id)
    current = charged_methods(order)
    if len(current) != 1:
        raise ToolError("the payment of this order is split across several methods and cannot be changed")
    old_method_id = current[0]
    if payment_method_id == old_method_id:
        raise ToolError(f"order {order_id} is already paid with {payment_method_id}")
    amount = net_charges(order)[old_method_id]
    _require_balance(new_method, amount)
    order = db.get_for_update(ORDERS, order_id)
    assert order is not None
    order["payment_history"].extend([
        {"transaction_type": "payment", "amount": amount, "payment_method_id": payment_method_id},
        {"transaction_type": "refund", "amount": amount, "payment_method_id": old_method_id},
    ])
    _adjust_gift_card(db, order["user_id"], payment_method_id, -amount)
    _adjust_gift_card(db, order["user_id"], old_method_id, amount)
    return order


def _swap_items(order: Record, item_ids: list[str], replacements: list[Record]) -> None:
    # Replacements are consumed in request order, so a repeated item id maps to its own new variant.
    queued: dict[str, list[Record]] = {}
    for item_id, variant in zip(item_ids, replacements, strict=True):
        queued.setdefault(item_id, []).append(variant)
    for item in order["items"]:
        queue = queued.get(item["item_id"])
        if queue:
            variant = queue.pop(0)
            item.update(item_id=variant["item_id"], price=variant["price"], options=dict(variant["options"]))


def _priced_item_change(db: Database, order_id: str, status: str, action: str, item_ids: list[str],
                        new_item_ids: list[str], payment_method_id: str) -> tuple[Record, Any, float]:
    """The checks an items change and an exchange share (status, same-product available variants, a
    payment method that covers the difference), then the order taken for update."""
    order = _order(db, order_id)
    _require_status(order, status, action)
    replacements = _replacement_variants(db, order, item_ids, new_item_ids)
    method = _payment_method(db, order["user_id"], payment_method_id)
    difference = _price_difference(order, item_ids, replacements)
    _require_balance(method, difference)
    order = db.get_for_update(ORDERS, order_id)
    assert order is not None
    return order, replacements, difference


def modify_pending_order_items(db: Database, order_id: str, item_ids: list[str], new_item_ids: list[str],
                               payment_method_id: str) -> Record:
    order, replacements, difference = _priced_item_change(db, order_id, PENDING, "changing items", item_ids,
                                                          new_item_ids, payment_method_id)
    _swap_items(order, item_ids, replacements)
    if difference != 0:
        order["payment_history"].append({"transaction_type": "payment" if difference > 0 else "refund",
                                         "amount": abs(difference), "payment_method_id": payment_method_id})
        _adjust_gift_card(db, order["user_id"], payment_method_id, -difference)
    order["status"] = PENDING_ITEM_MODIFIED
    return order


def modify_user_address(db: Database, user_id: str, address1: str, address2: str, city: str, state: str,
                        country: str, zip: str) -> Record:
    _user(db, user_id)
    user = db.get_for_update(USERS, user_id)
    assert user is not None
    user["address"] = _new_address(address1, address2, city, state, country, zip)
    return user


def return_delivered_order_items(db: Database, order_id: str, item_ids: list[str],
                                 payment_method_id: str) -> Record:
    order = _order(db, order_id)
    _require_status(order, DELIVERED, "a return")
    _require_items_in_order(order, item_ids)
    _payment_method(db, order["user_id"], payment_method_id)
    order = db.get_for_update(ORDERS, order_id)
    assert order is not None
    order["status"] = RETURN_REQUESTED
    order["return_items"] = sorted(item_ids)
    order["return_payment_method_id"] = payment_method_id
    return order


def exchange_delivered_order_items(db: Database, order_id: str, item_ids: list[str], new_item_ids: list[str],
                                   payment_method_id: str) -> Record:
    order, _, difference = _priced_item_change(db, order_id, DELIVERED, "an exchange", item_ids, new_item_ids,
                                               payment_method_id)
    order["status"] = EXCHANGE_REQUESTED
    order["exchange_items"] = sorted(item_ids)
    order["exchange_new_items"] = sorted(new_item_ids)
    order["exchange_payment_method_id"] = payment_method_id
    order["exchange_price_difference"] = difference
    return order


# -- specs ---
# A write's `returns` lists only what can feed a later call: an order that was cancelled, item-modified,
# returned or exchanged takes no further write, so those writes yield nothing to the dependency graph.---------------------------------------------------------------------------------


def _string(description: str) -> dict[str, Any]:
    return {"type": "string", "description": description}


def _string_list(description: str) -> dict[str, Any]:
    return {"type": "array", "items": {"type": "string"}, "minItems": 1, "description": description}


def _object(properties: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(properties),
            "additionalProperties": False}


_ORDER_ID = _string("The order id, such as '#W0000000' (with the leading '#').")
_USER_ID = _string("The user id, such as 'sara_doe_1234'.")
_PAYMENT_METHOD_ID = _string("A payment method id from the user's profile, such as 'credit_card_0000000' "
                             "or 'gift_card_0000000'.")
_ITEM_IDS = _string_list("Item ids of the order to act on; repeat an id to act on several identical items.")
_NEW_ITEM_IDS = _string_list("For each item in item_ids, at the same position, the item id of the variant "
                             "of the same product to replace it with.")
_ADDRESS = {
    "address1": _string("Street address, such as '123 Main Street'."),
    "address2": _string("Apartment, suite or unit, such as 'Apt 1'; an empty string if none."),
    "city": _string("City, such as 'Austin'."),
    "state": _string("State code, such as 'TX'."),
    "country": _string("Country, such as 'USA'."),
    "zip": _string("ZIP code, such as '78701'."),
}
_ADDRESS_UTTERANCE = "{address1}, {address2}, {city}, {state} {zip}, {country}"


def _spec(function: Callable[..., Any], kind: ToolKind, description: str, properties: dict[str, dict[str, Any]],
          returns: list[str], utterance: str | None = None) -> Tool:
    spec = ToolSpec(name=function.__name__, description=description, parameters=_object(properties), kind=kind,
                    returns=returns, utterance=utterance)
    return Tool(spec=spec, function=function)


TOOLS: tuple[Tool, ...] = (
    _spec(find_user_id_by_email, "read",
          "Find a user's id by their email address. Use it to authenticate the user.",
          {"email": _string("The user's email, such as 'sara.doe1234@example.com'.")},
          ["user_id"], "My email address is {email}."),
    _spec(find_user_id_by_name_zip, "read",
          "Find a user's id by first name, last name and ZIP code. Use it to authenticate the user when "
          "they cannot give their email.",
          {"first_name": _string("First name, such as 'Sara'."), "last_name": _string("Last name, such as 'Doe'."),
           "zip": _string("ZIP code of the user's address, such as '78701'.")},
          ["user_id"], "I'm {first_name} {last_name} and my ZIP code is {zip}."),
    _spec(get_user_details, "read",
          "Get a user's profile: name, address, email, payment methods (with gift card balances) and order ids.",
          {"user_id": _USER_ID}, ["user_id", "order_id", "payment_method_id"], "My user id is {user_id}."),
    _spec(get_order_details, "read",
          "Get an order: status, items (product, item id, price, options), shipping address, fulfillments "
          "and payment history.",
          {"order_id": _ORDER_ID}, ["order_id", "user_id", "item_id", "product_id", "payment_method_id"],
          "Could you check the status of my order {order_id}?"),
    _spec(get_product_details, "read",
          "Get a product type and all its variant items, with their options, availability and price.",
          {"product_id": _string("The product id, such as '6086499569'. Not an item id.")},
          ["product_id", "item_id", "new_item_id"]),
    _spec(list_all_product_types, "read",
          "List every product type sold, as a map from product name to product id.",
          {}, ["product_id"], "What kinds of products do you sell?"),
    _spec(calculate, "read",
          "Evaluate an arithmetic expression with numbers, + - * / and parentheses; the result is rounded "
          "to 2 decimals.",
          {"expression": _string("The expression, such as '(19.99 + 5.01) * 2'.")}, []),
    _spec(think, "read",
          "Think through a complex step without changing anything or getting new information. The thought is "
          "logged only.",
          {"thought": _string("The thought to note.")}, []),
    _spec(transfer_to_human_agents, "read",
          "Hand the conversation to a human agent, with a summary of the user's issue. Only when the user "
          "asks for a human or the request is outside what the policy and tools allow.",
          {"summary": _string("A summary of the user's issue.")}, [],
          "I'd like to speak to a human agent, please."),
    _spec(cancel_pending_order, "write",
          "Cancel a pending order. Every payment is refunded to the method that made it; gift cards at once, "
          "other methods in 5-7 business days. Needs the user's explicit confirmation.",
          {"order_id": _ORDER_ID,
           "reason": {"type": "string", "enum": list(CANCEL_REASONS),
                      "description": "Why the user cancels: 'no longer needed' or 'ordered by mistake'."}},
          [], "I want to cancel order {order_id} because it was {reason}."),
    _spec(modify_pending_order_address, "write",
          "Change the shipping address of a pending order. Needs the user's explicit confirmation.",
          {"order_id": _ORDER_ID, **_ADDRESS}, ["order_id"],
          "Please ship order {order_id} to " + _ADDRESS_UTTERANCE + " instead."),
    _spec(modify_pending_order_payment, "write",
          "Pay for a pending order with a different payment method of the user; the old method is refunded. "
          "A gift card must cover the full amount. Needs the user's explicit confirmation.",
          {"order_id": _ORDER_ID, "payment_method_id": _PAYMENT_METHOD_ID}, ["order_id"],
          "I'd like to pay for order {order_id} with {payment_method_id} instead."),
    _spec(modify_pending_order_items, "write",
          "Swap items of a pending order for other available variants of the same products; the price "
          "difference is charged or refunded to the given payment method. Can be done only once per order: "
          "collect every item to change first. Needs the user's explicit confirmation.",
          {"order_id": _ORDER_ID, "item_ids": _ITEM_IDS, "new_item_ids": _NEW_ITEM_IDS,
           "payment_method_id": _PAYMENT_METHOD_ID},
          [],
          "In order {order_id}, please change items {item_ids} to {new_item_ids}; use {payment_method_id} "
          "for any price difference."),
    _spec(modify_user_address, "write",
          "Change the default address in a user's profile. Needs the user's explicit confirmation.",
          {"user_id": _USER_ID, **_ADDRESS}, ["user_id"],
          "Please change the address on my profile to " + _ADDRESS_UTTERANCE + "."),
    _spec(return_delivered_order_items, "write",
          "Request a return of items of a delivered order; the refund goes to the given payment method, which "
          "must be the order's original payment method or one of the user's gift cards. The user receives "
          "return instructions by email. Needs the user's explicit confirmation.",
          {"order_id": _ORDER_ID, "item_ids": _ITEM_IDS, "payment_method_id": _PAYMENT_METHOD_ID},
          [],
          "I want to return items {item_ids} from order {order_id}, refunded to {payment_method_id}."),
    _spec(exchange_delivered_order_items, "write",
          "Request an exchange of items of a delivered order for other available variants of the same "
          "products; the price difference is charged or refunded to the given payment method. Can be done "
          "only once per order: collect every item to exchange first. Needs the user's explicit confirmation.",
          {"order_id": _ORDER_ID, "item_ids": _ITEM_IDS, "new_item_ids": _NEW_ITEM_IDS,
           "payment_method_id": _PAYMENT_METHOD_ID},
          [],
          "I want to exchange items {item_ids} of order {order_id} for {new_item_ids}; use "
          "{payment_method_id} for any price difference."),
)

TOOLS_BY_NAME: dict[str, Tool] = {tool.name: tool for tool in TOOLS}

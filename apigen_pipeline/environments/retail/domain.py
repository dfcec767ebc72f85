"""Retail domain vocabulary shared by the data generator, tools, policy checks and samplers.

Statuses, reasons and money arithmetic live here once so a tool and the policy check that
audits it can never disagree about what "pending" or "the original payment method" means.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

USERS = "users"
ORDERS = "orders"
PRODUCTS = "products"

PENDING = "pending"
PENDING_ITEM_MODIFIED = "pending (item modified)"
PROCESSED = "processed"
DELIVERED = "delivered"
CANCELLED = "cancelled"
RETURN_REQUESTED = "return requested"
EXCHANGE_REQUESTED = "exchange requested"

CANCEL_REASONS: tuple[str, ...] = ("no longer needed", "ordered by mistake")
PAYMENT_SOURCES: tuple[str, ...] = ("credit_card", "gift_card", "paypal")
ADDRESS_FIELDS: tuple[str, ...] = ("address1", "address2", "city", "state", "country", "zip")

# Write tools, by the order status they require.
CANCEL = "cancel_pending_order"
MODIFY_ORDER_ADDRESS = "modify_pending_order_address"
MODIFY_ORDER_PAYMENT = "modify_pending_order_payment"
MODIFY_ORDER_ITEMS = "modify_pending_order_items"
MODIFY_USER_ADDRESS = "modify_user_address"
RETURN_ITEMS = "return_delivered_order_items"
EXCHANGE_ITEMS = "exchange_delivered_order_items"

PENDING_ORDER_WRITES: tuple[str, ...] = (CANCEL, MODIFY_ORDER_ADDRESS, MODIFY_ORDER_PAYMENT, MODIFY_ORDER_ITEMS)
DELIVERED_ORDER_WRITES: tuple[str, ...] = (RETURN_ITEMS, EXCHANGE_ITEMS)
ORDER_WRITES: tuple[str, ...] = PENDING_ORDER_WRITES + DELIVERED_ORDER_WRITES
WRITE_TOOLS: tuple[str, ...] = ORDER_WRITES + (MODIFY_USER_ADDRESS,)
ITEM_CHANGE_WRITES: tuple[str, ...] = (MODIFY_ORDER_ITEMS, EXCHANGE_ITEMS)

# The status each order write leaves behind; an order in that status accepts only the writes
# whose required status matches, which is what makes items changes, returns and cancellations final.
STATUS_REQUIRED: dict[str, str] = {
    **{tool: PENDING for tool in PENDING_ORDER_WRITES},
    **{tool: DELIVERED for tool in DELIVERED_ORDER_WRITES},
}
STATUS_AFTER: dict[str, str] = {
    CANCEL: CANCELLED,
    MODIFY_ORDER_ADDRESS: PENDING,
    MODIFY_ORDER_PAYMENT: PENDING,
    MODIFY_ORDER_ITEMS: PENDING_ITEM_MODIFIED,
    RETURN_ITEMS: RETURN_REQUESTED,
    EXCHANGE_ITEMS: EXCHANGE_REQUESTED,
}
# Writes after which the order accepts no further write.
ORDER_ENDING_WRITES: tuple[str, ...] = tuple(t for t in ORDER_WRITES if STATUS_AFTER[t] != STATUS_REQUIRED[t])

AUTH_BY_EMAIL = "find_user_id_by_email"
AUTH_BY_NAME_ZIP = "find_user_id_by_name_zip"
GET_USER = "get_user_details"
GET_ORDER = "get_order_details"
GET_PRODUCT = "get_product_details"
AUTH_TOOLS: tuple[str, ...] = (AUTH_BY_EMAIL, AUTH_BY_NAME_ZIP, GET_USER)


def money(amount: float) -> float:
    """Amounts are stored rounded to cents so sums of floats never leak 0.30000000000000004."""
    return round(amount + 0.0, 2)


def net_charges(order: Mapping[str, Any]) -> dict[str, float]:
    """What each payment method has paid for the order so far (payments minus refunds), in history order."""
    net: dict[str, float] = {}
    for entry in order.get("payment_history") or []:
        sign = 1.0 if entry["transaction_type"] == "payment" else -1.0
        method = entry["payment_method_id"]
        net[method] = money(net.get(method, 0.0) + sign * entry["amount"])
    return net


def charged_methods(order: Mapping[str, Any]) -> list[str]:
    """The methods currently carrying a positive share of the order's cost: its original payment method(s)."""
    return [method for method, amount in net_charges(order).items() if amount > 0]


def items_total(items: list[Mapping[str, Any]]) -> float:
    return money(sum(item["price"] for item in items))


def is_gift_card(user: Mapping[str, Any], payment_method_id: str) -> bool:
    method = user["payment_methods"].get(payment_method_id)
    return method is not None and method["source"] == "gift_card"

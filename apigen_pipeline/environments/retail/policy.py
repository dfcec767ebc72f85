"""The retail policy: the text the agent is given, and executable checks for what tools don't enforce.

Tools already refuse wrong statuses, foreign items, unavailable or cross-product variants, unknown
payment methods and short gift cards. The checks below cover the rest. Checks about what a trace
*did* look at successful calls only, since a failed call changed nothing. The authentication check
also counts failed write attempts: trying to act for an unverified user breaks the rule whether or
not the tool happened to refuse.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Sequence

from apigen_pipeline.environments.base import (
    AUTHENTICATED_BEFORE_WRITE,
    SINGLE_USER,
    ExecutedCall,
    PolicyCheck,
    PolicySection,
)
from apigen_pipeline.environments.database import Database
from apigen_pipeline.environments.retail.domain import (
    AUTH_BY_EMAIL,
    AUTH_BY_NAME_ZIP,
    CANCEL,
    CANCEL_REASONS,
    EXCHANGE_ITEMS,
    GET_ORDER,
    GET_USER,
    ITEM_CHANGE_WRITES,
    MODIFY_ORDER_ADDRESS,
    MODIFY_ORDER_ITEMS,
    MODIFY_ORDER_PAYMENT,
    MODIFY_USER_ADDRESS,
    ORDERS,
    RETURN_ITEMS,
    USERS,
    WRITE_TOOLS,
    charged_methods,
    is_gift_card,
)

POLICY_SECTIONS: tuple[PolicySection, ...] = (
    PolicySection("role", "Your role", (
        "You are a customer service agent for an online retail store. You help authenticated users with "
        "their orders, their profile and questions about products, using only the tools you are given and "
        "only the information the user and the tools provide. Never make up order details, prices, "
        "availability or procedures, and never give subjective recommendations.\n"
        "- Make at most one tool call per turn, and do not reply to the user in the same turn as a tool call.\n"
        "- Before any action that changes the database (cancel, modify, return, exchange, address change), "
        "list the exact details of the action and ask the user to confirm; act only after an explicit "
        "\"yes\".\n"
        "- Deny requests that this policy does not allow."), ()),
    PolicySection("authentication", "Authentication and who you serve", (
        "At the start of every conversation, authenticate the user before anything else: find their user id "
        "by email, or by first name, last name and ZIP code; a user who gives their user id is authenticated "
        "by looking up that id's details. Until then, do not look up, change or disclose any account data.\n"
        "- Serve one user per conversation. Refuse requests about other users' accounts or orders, and only "
        "act on orders that belong to the authenticated user."),
     (AUTH_BY_EMAIL, AUTH_BY_NAME_ZIP, GET_USER)),
    PolicySection("domain", "What the store knows", (
        "- A user has an id, email, default address and payment methods: credit cards, PayPal and gift cards "
        "(with a balance). A user's profile lists their order ids.\n"
        "- A product type (e.g. 'Hiking Boots') has variant items that differ in options such as color or "
        "size; each item has its own id, price and availability. Product ids and item ids are different "
        "things.\n"
        "- An order has an id like '#W0000000', items, a shipping address, a payment history and a status: "
        "pending, processed, delivered or cancelled (or a later status such as 'pending (item modified)', "
        "'return requested' or 'exchange requested').\n"
        "- Only pending orders can be cancelled or modified, and only delivered orders can be returned or "
        "exchanged. Check the status before acting."),
     (GET_ORDER, "get_product_details", "list_all_product_types")),
    PolicySection("cancel", "Cancelling a pending order", (
        "- Only a 'pending' order can be cancelled. Confirm the order id and the reason with the user; the "
        "reason must be either 'no longer needed' or 'ordered by mistake'.\n"
        "- After confirmation, the order becomes 'cancelled' and every payment goes back to the method that "
        "made it: at once for gift cards, in 5 to 7 business days for other methods."),
     (CANCEL,)),
    PolicySection("modify-order", "Modifying a pending order", (
        "- Only a 'pending' order can be modified: its shipping address, its payment method or its items. "
        "Nothing else (such as the number of items) can be changed.\n"
        "- Payment: the order can be paid with one other payment method of the user. A gift card must have "
        "enough balance for the whole amount. The old method is refunded (gift cards at once, others in 5 to "
        "7 business days).\n"
        "- Items: each item can only be swapped for an available variant of the same product, and the "
        "number of items stays the same. Items can be modified only once per order, after which the order "
        "becomes 'pending (item modified)' and cannot be cancelled or modified any more, so make sure the "
        "user has named every item to change before you ask for confirmation. The price difference is "
        "charged or refunded to a payment method of the user; a gift card must cover a charge."),
     (MODIFY_ORDER_ADDRESS, MODIFY_ORDER_PAYMENT, MODIFY_ORDER_ITEMS)),
    PolicySection("modify-user", "Changing the profile address", (
        "- An authenticated user may change the default address on their own profile. This does not change "
        "the shipping address of existing orders; that is a separate modification of each pending order."),
     (MODIFY_USER_ADDRESS,)),
    PolicySection("return", "Returning items of a delivered order", (
        "- Only a 'delivered' order can be returned. Confirm the order id and the list of items to return.\n"
        "- The refund goes to the order's original payment method or to one of the user's existing gift "
        "cards; no other method.\n"
        "- After confirmation, the order becomes 'return requested' and the user gets an email with return "
        "instructions."),
     (RETURN_ITEMS,)),
    PolicySection("exchange", "Exchanging items of a delivered order", (
        "- Only a 'delivered' order can be exchanged. Each item can only be exchanged for an available "
        "variant of the same product, and the number of items stays the same. An order can be exchanged only "
        "once, so collect every item to exchange before asking for confirmation.\n"
        "- The price difference is charged or refunded to a payment method of the user; a gift card must "
        "cover a charge.\n"
        "- After confirmation, the order becomes 'exchange requested' and the user gets an email with "
        "instructions for sending the items back."),
     (EXCHANGE_ITEMS,)),
    PolicySection("transfer", "Transfer to a human agent", (
        "- Transfer to a human agent only when the user explicitly asks for one, or when the request cannot "
        "be handled within this policy and your tools. Call transfer_to_human_agents with a summary, then "
        "tell the user they are being transferred."),
     ("transfer_to_human_agents",)),
)


# -- reading a trace ----------------------------------------------------------------------------


def _describe(index: int, call: ExecutedCall) -> str:
    return f"call {index} {call.name}({json.dumps(call.arguments, sort_keys=True, ensure_ascii=False)})"


def _successful(trace: Sequence[ExecutedCall], names: Sequence[str]) -> Iterator[tuple[int, ExecutedCall]]:
    for index, call in enumerate(trace):
        if call.ok and call.name in names:
            yield index, call


def authenticated_user(call: ExecutedCall) -> str | None:
    """The user a successful call authenticates: the id a lookup found, or the id whose details were read."""
    if not call.ok:
        return None
    if call.name in (AUTH_BY_EMAIL, AUTH_BY_NAME_ZIP):
        return call.observation.strip()
    if call.name == GET_USER:
        user_id = call.arguments.get("user_id")
        return user_id if isinstance(user_id, str) else None
    return None


def _owner(before: Database, call: ExecutedCall) -> str | None:
    """The user whose data the call reads or writes (orders never change hands, so `before` suffices)."""
    if call.name == MODIFY_USER_ADDRESS or call.name == GET_USER:
        user_id = call.arguments.get("user_id")
        return user_id if isinstance(user_id, str) else None
    order_id = call.arguments.get("order_id")
    if isinstance(order_id, str):
        order = before.get(ORDERS, order_id)
        return order["user_id"] if order is not None else None
    return None


# -- the checks ---------------------------------------------------------------------------------


def check_authentication_before_write(before: Database, trace: Sequence[ExecutedCall],
                                      after: Database) -> list[str]:
    messages: list[str] = []
    authenticated: set[str] = set()
    for index, call in enumerate(trace):
        user_id = authenticated_user(call)
        if user_id is not None:
            authenticated.add(user_id)
            continue
        if call.name not in WRITE_TOOLS:
            continue
        owner = _owner(before, call)
        if not authenticated:
            messages.append(f"{_describe(index, call)} was attempted before the user was authenticated")
        elif owner is not None and owner not in authenticated:
            messages.append(f"{_describe(index, call)} acts for user {owner}, who was never authenticated "
                            f"(authenticated: {', '.join(sorted(authenticated))})")
    return messages


def check_single_user(before: Database, trace: Sequence[ExecutedCall], after: Database) -> list[str]:
    touched: list[tuple[int, ExecutedCall, str, bool]] = []
    for index, call in enumerate(trace):
        if not call.ok:
            continue
        found = authenticated_user(call)
        owner = found if found is not None else _owner(before, call)
        if owner is not None:
            touched.append((index, call, owner, found is not None))
    # The served user is the first one authenticated; reads made before that count against them too.
    served = next((owner for _, _, owner, is_auth in touched if is_auth), None)
    if served is None and touched:
        served = touched[0][2]
    return [f"{_describe(index, call)} concerns user {owner}, but this task serves user {served}"
            for index, call, owner, _ in touched if owner != served]


def check_one_item_change_per_order(before: Database, trace: Sequence[ExecutedCall],
                                    after: Database) -> list[str]:
    messages: list[str] = []
    changes: Counter[str] = Counter()
    for index, call in _successful(trace, ITEM_CHANGE_WRITES):
        order_id = str(call.arguments.get("order_id"))
        changes[order_id] += 1
        if changes[order_id] > 1:
            messages.append(f"{_describe(index, call)} changes the items of order {order_id} again; items may be "
                            "modified or exchanged only once per order")
    return messages


def check_return_refund_destination(before: Database, trace: Sequence[ExecutedCall],
                                    after: Database) -> list[str]:
    messages: list[str] = []
    for index, call in _successful(trace, (RETURN_ITEMS,)):
        order = before.get(ORDERS, str(call.arguments.get("order_id")))
        if order is None:
            continue
        user = before.get(USERS, order["user_id"])
        destination = str(call.arguments.get("payment_method_id"))
        if destination in charged_methods(order) or (user is not None and is_gift_card(user, destination)):
            continue
        messages.append(f"{_describe(index, call)} refunds to {destination}, which is neither the original "
                        f"payment method of order {order['order_id']} nor a gift card of the user")
    return messages


def check_cancel_reason(before: Database, trace: Sequence[ExecutedCall], after: Database) -> list[str]:
    return [f"{_describe(index, call)} gives reason {call.arguments.get('reason')!r}; allowed: "
            f"{', '.join(CANCEL_REASONS)}"
            for index, call in _successful(trace, (CANCEL,)) if call.arguments.get("reason") not in CANCEL_REASONS]


def check_item_count_kept(before: Database, trace: Sequence[ExecutedCall], after: Database) -> list[str]:
    messages: list[str] = []
    for index, call in _successful(trace, ITEM_CHANGE_WRITES):
        old, new = call.arguments.get("item_ids") or [], call.arguments.get("new_item_ids") or []
        if len(old) != len(new):
            messages.append(f"{_describe(index, call)} replaces {len(old)} item(s) with {len(new)}; the number of "
                            "items must stay the same")
            continue
        order_id = str(call.arguments.get("order_id"))
        order_before, order_after = before.get(ORDERS, order_id), after.get(ORDERS, order_id)
        if order_before and order_after and len(order_before["items"]) != len(order_after["items"]):
            messages.append(f"{_describe(index, call)} left order {order_id} with {len(order_after['items'])} "
                            f"item(s) instead of {len(order_before['items'])}")
    return messages


POLICY_CHECKS: tuple[PolicyCheck, ...] = (
    PolicyCheck(AUTHENTICATED_BEFORE_WRITE, "Every write comes after the user it acts for was authenticated "
                "(by email, by name and ZIP, or by reading their own details).", check_authentication_before_write),
    PolicyCheck(SINGLE_USER, "A task serves one user: every user and order it reads or changes is theirs.",
                check_single_user),
    PolicyCheck("one_item_change_per_order", "An order's items are modified or exchanged at most once.",
                check_one_item_change_per_order),
    PolicyCheck("return_refund_destination", "A return is refunded to the original payment method or a gift "
                "card of the user.", check_return_refund_destination),
    PolicyCheck("cancel_reason", f"A cancellation gives one of the allowed reasons ({', '.join(CANCEL_REASONS)}).",
                check_cancel_reason),
    PolicyCheck("item_count_kept", "Modifying or exchanging items keeps the number of items.",
                check_item_count_kept),
)


# Empty on purpose: the dependency graph reads a pair as "never in one task", and any two retail writes
# can share a task when they act on different orders (cancel one, return another). What *is* final is
# per order (a cancelled, item-modified, returned or exchanged order takes no further write), which the
# tools enforce by status and the action planner respects.
FORBIDDEN_PAIRS: tuple[tuple[str, str], ...] = ()

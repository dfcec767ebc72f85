"""A small shop written for another harness, in tau-bench's style (`tau_bench/envs/retail/tools/*.py`): each
tool reads and mutates the plain dict of the whole data set in place and reports a domain error by returning
`"Error: ..."`; its OpenAI function schema comes apart (`TOOLS_INFO`, tau-bench's `get_info()`). Nothing
here knows apigen-pipeline; `plugin.py` adapts it."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

CANCEL_REASONS = ["no longer needed", "ordered by mistake"]


def find_user_id_by_email(data: dict[str, Any], email: str) -> str:
    for user_id, user in data["users"].items():
        if user["email"].lower() == email.lower():
            return user_id
    return "Error: user not found"


def get_user_details(data: dict[str, Any], user_id: str) -> str:
    user = data["users"].get(user_id)
    return json.dumps(user) if user is not None else "Error: user not found"


def get_order_details(data: dict[str, Any], order_id: str) -> str:
    orders = data["orders"]
    if order_id not in orders:
        return "Error: order not found"
    return json.dumps(orders[order_id])


def cancel_pending_order(data: dict[str, Any], order_id: str, reason: str) -> str:
    orders = data["orders"]
    if order_id not in orders:
        return "Error: order not found"
    order = orders[order_id]
    if order["status"] != "pending":
        return "Error: non-pending order cannot be cancelled"
    if reason not in CANCEL_REASONS:
        return "Error: invalid reason"
    order["status"] = "cancelled"
    order["cancel_reason"] = reason
    return json.dumps(order)


def modify_user_email(data: dict[str, Any], user_id: str, email: str) -> str:
    """Sloppy on purpose, as tools written elsewhere can be: it writes first and validates afterwards."""
    users = data["users"]
    if user_id not in users:
        return "Error: user not found"
    users[user_id]["email"] = email
    if "@" not in email:
        return "Error: invalid email"
    return json.dumps(users[user_id])


def transfer_to_human_agents(data: dict[str, Any], summary: str) -> str:
    return "Transfer successful"


def _string(description: str, **extra: Any) -> dict[str, Any]:
    return {"type": "string", "description": description, **extra}


# name -> (description, properties); every property is required.
TOOLS_INFO: dict[str, tuple[str, dict[str, Any]]] = {
    "find_user_id_by_email": ("Find a user id by email. Returns the user id.",
                              {"email": _string("The email, such as 'ada@example.org'.")}),
    "get_user_details": ("Get a user's profile: name, email and order ids.",
                         {"user_id": _string("The user id, such as 'ada_lovelace_4100'.")}),
    "get_order_details": ("Get an order: status, total and items.",
                          {"order_id": _string("The order id, such as '#F1001'.")}),
    "cancel_pending_order": ("Cancel a pending order. Needs the user's explicit confirmation.",
                             {"order_id": _string("The order id, such as '#F1001'."),
                              "reason": _string("'no longer needed' or 'ordered by mistake'.", enum=CANCEL_REASONS)}),
    "modify_user_email": ("Change the email of a user. Needs the user's explicit confirmation.",
                          {"user_id": _string("The user id."), "email": _string("The new email.")}),
    "transfer_to_human_agents": ("Transfer the user to a human agent, with a summary of the issue. Only when the "
                                 "user asks for a human or the request cannot be handled within the policy.",
                                 {"summary": _string("A summary of the user's issue.")}),
}
ALL_TOOLS: list[Callable[..., str]] = [find_user_id_by_email, get_user_details, get_order_details,
                                       cancel_pending_order, modify_user_email, transfer_to_human_agents]


def get_info(name: str) -> dict[str, Any]:
    """tau-bench's `Tool.get_info()` shape: an OpenAI function schema."""
    description, properties = TOOLS_INFO[name]
    return {"type": "function", "function": {"name": name, "description": description, "parameters": {
        "type": "object", "properties": properties, "required": list(properties)}}}

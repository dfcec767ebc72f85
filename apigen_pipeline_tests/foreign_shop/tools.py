"""A small shop written for another harness, in tau-bench's style (`tau_bench/envs/retail/tools/*.py`): each
tool is a class with a static `invoke(data, **kwargs) -> str` that reads and mutates the plain dict of the
whole data set in place and reports a domain error by returning `"Error: ..."`, and a `get_info()` with its
OpenAI function schema. Nothing here knows apigen-pipeline; `plugin.py` adapts it."""

from __future__ import annotations

import json
from typing import Any

CANCEL_REASONS = ["no longer needed", "ordered by mistake"]


def _function(name: str, description: str, properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "function", "function": {"name": name, "description": description, "parameters": {
        "type": "object", "properties": properties, "required": required}}}


class FindUserIdByEmail:
    @staticmethod
    def invoke(data: dict[str, Any], email: str) -> str:
        for user_id, user in data["users"].items():
            if user["email"].lower() == email.lower():
                return user_id
        return "Error: user not found"

    @staticmethod
    def get_info() -> dict[str, Any]:
        return _function("find_user_id_by_email", "Find a user id by email. Returns the user id.",
                         {"email": {"type": "string", "description": "The email, such as 'ada@example.org'."}},
                         ["email"])


def _record(data: dict[str, Any], table: str, record_id: str) -> str:
    if record_id not in data[table]:
        return f"Error: {table.removesuffix('s')} not found"
    return json.dumps(data[table][record_id])


class GetUserDetails:
    @staticmethod
    def invoke(data: dict[str, Any], user_id: str) -> str:
        return _record(data, "users", user_id)

    @staticmethod
    def get_info() -> dict[str, Any]:
        return _function("get_user_details", "Get a user's profile: name, email and order ids.",
                         {"user_id": {"type": "string", "description": "The user id, such as 'ada_lovelace_4100'."}},
                         ["user_id"])


class GetOrderDetails:
    @staticmethod
    def invoke(data: dict[str, Any], order_id: str) -> str:
        return _record(data, "orders", order_id)

    @staticmethod
    def get_info() -> dict[str, Any]:
        return _function("get_order_details", "Get an order: status, total and items.",
                         {"order_id": {"type": "string", "description": "The order id, such as '#F1001'."}},
                         ["order_id"])


class CancelPendingOrder:
    @staticmethod
    def invoke(data: dict[str, Any], order_id: str, reason: str) -> str:
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

    @staticmethod
    def get_info() -> dict[str, Any]:
        return _function("cancel_pending_order", "Cancel a pending order. Needs the user's explicit confirmation.",
                         {"order_id": {"type": "string", "description": "The order id, such as '#F1001'."},
                          "reason": {"type": "string", "enum": CANCEL_REASONS,
                                     "description": "'no longer needed' or 'ordered by mistake'."}},
                         ["order_id", "reason"])


class ModifyUserEmail:
    """Sloppy on purpose, as tools written elsewhere can be: it writes first and validates afterwards."""

    @staticmethod
    def invoke(data: dict[str, Any], user_id: str, email: str) -> str:
        users = data["users"]
        if user_id not in users:
            return "Error: user not found"
        users[user_id]["email"] = email
        if "@" not in email:
            return "Error: invalid email"
        return json.dumps(users[user_id])

    @staticmethod
    def get_info() -> dict[str, Any]:
        return _function("modify_user_email", "Change the email of a user. Needs the user's explicit confirmation.",
                         {"user_id": {"type": "string", "description": "The user id."},
                          "email": {"type": "string", "description": "The new email."}},
                         ["user_id", "email"])


class TransferToHumanAgents:
    @staticmethod
    def invoke(data: dict[str, Any], summary: str) -> str:
        return "Transfer successful"

    @staticmethod
    def get_info() -> dict[str, Any]:
        return _function("transfer_to_human_agents",
                         "Transfer the user to a human agent, with a summary of the issue. Only when the user asks "
                         "for a human or the request cannot be handled within the policy.",
                         {"summary": {"type": "string", "description": "A summary of the user's issue."}},
                         ["summary"])


ALL_TOOLS = [FindUserIdByEmail, GetUserDetails, GetOrderDetails, CancelPendingOrder, ModifyUserEmail,
             TransferToHumanAgents]

"""A tiny plugin environment defined only in the test suite: fast, LLM-free, and a living example of
the plugin contract for users writing their own domains."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence

from apigen_pipeline.environments.base import (
    DomainSample,
    EnvironmentPlugin,
    ExampleTask,
    ExecutedCall,
    PolicyCheck,
    PolicySection,
    Tool,
    ToolCall,
    ToolError,
    ToolSpec,
)
from apigen_pipeline.environments.database import Database, Tables


def generate_data(seed: int, scale: float) -> Tables:
    rng = random.Random(seed)
    users = {}
    orders = {}
    for u in range(max(2, int(20 * scale))):
        user_id = f"user_{u:03d}"
        order_ids = []
        for _ in range(rng.randint(1, 3)):
            order_id = f"O{len(orders):04d}"
            orders[order_id] = {"order_id": order_id, "user_id": user_id,
                                "status": rng.choice(["pending", "pending", "shipped"]),
                                "total": round(rng.uniform(5, 200), 2)}
            order_ids.append(order_id)
        users[user_id] = {"user_id": user_id, "email": f"{user_id}@example.com",
                          "nickname": f"nick{u}", "orders": order_ids}
    return {"users": users, "orders": orders}


def find_user(db: Database, email: str) -> str:
    for user_id, user in db.records("users"):
        if user["email"] == email:
            return user_id
    raise ToolError("user not found")


def get_order(db: Database, order_id: str) -> dict:
    order = db.get("orders", order_id)
    if order is None:
        raise ToolError("order not found")
    return order


def cancel_order(db: Database, order_id: str) -> dict:
    order = db.get("orders", order_id)
    if order is None:
        raise ToolError("order not found")
    if order["status"] != "pending":
        raise ToolError(f"order is {order['status']}, only pending orders can be cancelled")
    order = db.get_for_update("orders", order_id)
    order["status"] = "cancelled"
    return order


def rename_user(db: Database, user_id: str, nickname: str) -> dict:
    if db.get("users", user_id) is None:
        raise ToolError("user not found")
    user = db.get_for_update("users", user_id)
    user["nickname"] = nickname
    return user


def _obj(properties: dict, required: list[str]) -> dict:
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}


TOOLS = [
    Tool(ToolSpec(name="find_user", description="Find a user id by email.", kind="read", returns=["user_id"],
                  parameters=_obj({"email": {"type": "string"}}, ["email"])), find_user),
    Tool(ToolSpec(name="get_order", description="Get an order.", kind="read", returns=["order_id", "user_id"],
                  parameters=_obj({"order_id": {"type": "string"}}, ["order_id"])), get_order),
    Tool(ToolSpec(name="cancel_order", description="Cancel a pending order.", kind="write",
                  utterance="Please cancel order {order_id}.",
                  parameters=_obj({"order_id": {"type": "string"}}, ["order_id"])), cancel_order),
    Tool(ToolSpec(name="rename_user", description="Change a user's nickname.", kind="write",
                  utterance="Please change my nickname to {nickname}.",
                  parameters=_obj({"user_id": {"type": "string"}, "nickname": {"type": "string"}},
                                  ["user_id", "nickname"])), rename_user),
]


def _authenticated_first(before: Database, trace: Sequence[ExecutedCall], after: Database) -> list[str]:
    for index, call in enumerate(trace):
        if call.kind == "write" and call.ok and not any(c.name == "find_user" and c.ok for c in trace[:index]):
            return [f"call {index} ({call.name}) happens before the user was authenticated with find_user"]
    return []


def sample_domain_data(db: Database, rng: random.Random, write_tools: Sequence[str]) -> DomainSample:
    user_ids = list(db.ids("users"))
    user_id = rng.choice(user_ids)
    user = db.get("users", user_id)
    orders = {oid: db.get("orders", oid) for oid in user["orders"]}
    return DomainSample(user_id=user_id, records={"users": {user_id: user}, "orders": orders},
                        identity={"email": user["email"]})


def propose_actions(sample: DomainSample, write_tools: Sequence[str], rng: random.Random) -> list[ToolCall] | None:
    actions = [ToolCall("find_user", {"email": sample.identity["email"]})]
    for tool in write_tools:
        if tool == "cancel_order":
            pending = [oid for oid, o in sample.records["orders"].items() if o["status"] == "pending"]
            if not pending:
                return None
            actions.append(ToolCall("cancel_order", {"order_id": rng.choice(pending)}))
        elif tool == "rename_user":
            actions.append(ToolCall("rename_user", {"user_id": sample.user_id, "nickname": f"n{rng.randint(1, 99)}"}))
    return actions


plugin = EnvironmentPlugin(
    name="mockshop",
    tools=TOOLS,
    policy_sections=[
        PolicySection("auth", "Authentication", "Find the user by email before any change."),
        PolicySection("cancel", "Cancellation", "Only pending orders can be cancelled.", ("cancel_order",)),
    ],
    generate_data=generate_data,
    policy_checks=[PolicyCheck("authenticate_first", "find_user before any write", _authenticated_first)],
    sample_domain_data=sample_domain_data,
    example_tasks=[ExampleTask(instruction="You are user_000 (user_000@example.com) and want order O0000 cancelled.",
                               actions=[{"name": "find_user", "arguments": {"email": "user_000@example.com"}},
                                        {"name": "cancel_order", "arguments": {"order_id": "O0000"}}],
                               write_tools=["cancel_order"])],
    auth_tools=("find_user",),
    propose_actions=propose_actions,
    description="A two-table shop for tests.",
)


def malformed_plugin() -> EnvironmentPlugin:
    """The mock plugin with a duplicated tool and a tool whose schema is not an object."""
    broken = Tool(ToolSpec(name="broken", description="x", kind="read", parameters={"type": "string"}), find_user)
    return dataclasses.replace(plugin, name="brokenshop", tools=[*TOOLS, TOOLS[0], broken])


def make_plugin() -> EnvironmentPlugin:
    """A zero-argument factory: plugins may be exported this way as well as as objects."""
    return plugin

"""The foreign shop (`tools.py`, `data.json`: tau-bench's style) as an apigen-pipeline plugin, with no
adapter code beyond the contract's own options:

- `tool_data="dict"`: the tools get the data set as a plain dict and mutate it in place; each session sees
  its own copy-on-write state;
- `"Error: ..."` strings the tools return are errors (state rolled back) like a raised `ToolError`;
- `load_data` and no generator: a fixed data set (any `scale` but 1 is refused);
- `terminating_tools`: the transfer to a human ends the conversation;
- no read/write tags: the tool kinds are inferred by probing;
- a per-order business rule the tools do not enforce, as a policy check (`record_rule`).

`plugin` adds the optional hooks the offline simulated backend needs (`propose_actions`, an `utterance`
per write tool, `auth_tools`); `plugin_without_hooks` is the same environment without them.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from apigen_pipeline.environments.base import (
    DomainSample,
    EnvironmentPlugin,
    ExampleTask,
    PolicySection,
    Tool,
    ToolCall,
    ToolSpec,
    record_rule,
)
from apigen_pipeline.environments.database import Database
from apigen_pipeline_tests.foreign_shop.tools import ALL_TOOLS, CANCEL_REASONS, get_info

DATA_FILE = Path(__file__).with_name("data.json")
HUMAN_ONLY_TOTAL = 500.0
TRANSFER = "transfer_to_human_agents"


def load_data() -> dict[str, Any]:
    return json.loads(DATA_FILE.read_text())


# What our dependency graph needs (the fields each read returns) and, for the simulated backend only, how a
# user asks for each write. Kinds are left out on purpose: they are inferred.
RETURNS = {"find_user_id_by_email": ["user_id"], "get_user_details": ["user_id", "order_id"],
           "get_order_details": ["order_id"]}
UTTERANCES = {"cancel_pending_order": "I want to cancel order {order_id} because it was {reason}.",
              "modify_user_email": "Please change my email to {email}.",
              TRANSFER: "I'd like to talk to a human agent, please."}


def _tool(function: Any, with_utterance: bool) -> Tool:
    name = function.__name__
    spec = ToolSpec(**get_info(name)["function"], returns=RETURNS.get(name, []),
                    utterance=UTTERANCES.get(name) if with_utterance else None)
    return Tool(spec, function)


def _large_order(order: dict[str, Any], call: Any) -> str | None:
    if order.get("total", 0) > HUMAN_ONLY_TOTAL:
        return f"order {order.get('order_id')} totals {order['total']}: over {HUMAN_ONLY_TOTAL:.0f}, only a human agent may cancel it"
    return None


POLICY_SECTIONS = [
    PolicySection("auth", "Authentication", "Find the user's id by email before looking anything up or changing it."),
    PolicySection("cancel", "Cancellation", f"Only pending orders can be cancelled, for one of the reasons "
                  f"{CANCEL_REASONS}. Orders over ${HUMAN_ONLY_TOTAL:.0f} are cancelled by a human agent only: "
                  "transfer the user instead.", ("cancel_pending_order", TRANSFER)),
    PolicySection("confirm", "Confirmation", "Describe every change and get an explicit yes before making it."),
]
POLICY_CHECKS = [record_rule("large_order_needs_a_human", f"orders over {HUMAN_ONLY_TOTAL:.0f} are cancelled by a "
                             "human agent only", ["cancel_pending_order"], "orders", "order_id", _large_order)]


def sample_domain_data(db: Database, rng: random.Random, write_tools: Sequence[str]) -> DomainSample:
    """One user (a user record carries no `user_id`: the key is the id) and their orders."""
    user_id = rng.choice(sorted(db.ids("users")))
    user = db.get("users", user_id) or {}
    orders = {oid: order for oid in user.get("orders", []) if (order := db.get("orders", oid)) is not None}
    return DomainSample(user_id=user_id, records=json.loads(json.dumps({"users": {user_id: user}, "orders": orders})),
                        identity={"email": user["email"]})


def propose_actions(sample: DomainSample, write_tools: Sequence[str], rng: random.Random) -> list[ToolCall] | None:
    """Simulated-backend hook: authenticate, then each write grounded in the sample (None when it cannot be)."""
    actions = [ToolCall("find_user_id_by_email", {"email": sample.identity["email"]})]
    orders = sample.records.get("orders", {})
    for tool in write_tools:
        if tool == "cancel_pending_order":
            cancellable = sorted(oid for oid, o in orders.items()
                                 if o["status"] == "pending" and o["total"] <= HUMAN_ONLY_TOTAL)
            if not cancellable:
                return None
            order_id = rng.choice(cancellable)
            actions += [ToolCall("get_order_details", {"order_id": order_id}),
                        ToolCall(tool, {"order_id": order_id, "reason": rng.choice(CANCEL_REASONS)})]
        elif tool == "modify_user_email":
            actions.append(ToolCall(tool, {"user_id": sample.user_id, "email": f"{sample.user_id}.{rng.randint(10, 99)}@example.net"}))
        else:
            return None
    return actions


def _plugin(with_hooks: bool) -> EnvironmentPlugin:
    return EnvironmentPlugin(
        name="foreignshop",
        tools=[_tool(function, with_hooks) for function in ALL_TOOLS],
        policy_sections=POLICY_SECTIONS,
        generate_data=None,
        load_data=load_data,
        tool_data="dict",
        terminating_tools=(TRANSFER,),
        policy_checks=POLICY_CHECKS,
        sample_domain_data=sample_domain_data,
        example_tasks=[ExampleTask(
            instruction="You are Ada Lovelace (ada.lovelace@example.org). Cancel your pending order #F1001: you "
                        "no longer need it.",
            actions=[{"name": "find_user_id_by_email", "arguments": {"email": "ada.lovelace@example.org"}},
                     {"name": "cancel_pending_order", "arguments": {"order_id": "#F1001", "reason": "no longer needed"}}],
            write_tools=["cancel_pending_order"])],
        auth_tools=("find_user_id_by_email",) if with_hooks else (),
        propose_actions=propose_actions if with_hooks else None,
        description="A small shop written for another harness (tau-bench's style).",
    )


plugin = _plugin(with_hooks=True)
plugin_without_hooks = _plugin(with_hooks=False)

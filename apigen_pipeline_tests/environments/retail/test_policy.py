"""Each retail policy check on a violating and a compliant trace.

Traces are executed in a Session wherever the tools let the violation happen. Where a tool already
blocks it (a second items change, a bad cancel reason, unequal item lists), the violating call is
written by hand as a trace from another source would arrive: the check must still catch it.
"""

from __future__ import annotations

import dataclasses

import pytest

from apigen_pipeline.environments.base import Environment, ExecutedCall, Session
from apigen_pipeline.environments.database import Database
from apigen_pipeline.environments.retail.domain import (
    ORDER_ENDING_WRITES,
    ORDER_WRITES,
    ORDERS,
    USERS,
)
from apigen_pipeline.environments.retail.policy import FORBIDDEN_PAIRS, POLICY_CHECKS, POLICY_SECTIONS
from apigen_pipeline_tests.environments.retail.conftest import (
    first_order,
    methods_of,
    paid_with,
    swap_for,
    valid_writes,
)

CHECKS = {check.rule: check for check in POLICY_CHECKS}


def violations(env: Environment, rule: str, session: Session, trace: list[ExecutedCall] | None = None) -> list[str]:
    before = env.fresh_database()
    return [v.message for v in CHECKS[rule](before, session.trace if trace is None else trace, session.database)]


def _pending_pair(db: Database):
    """Pending orders of two different users."""
    first, first_user = first_order(db, lambda o, u: o["status"] == "pending")
    second, _ = first_order(db, lambda o, u: o["status"] == "pending" and u["user_id"] != first_user["user_id"])
    return first, first_user, second


def _email(db: Database, user_id: str) -> str:
    return db.get(USERS, user_id)["email"]


# -- authentication ----------------------------------------------------------------------------------


def test_write_without_authentication_is_flagged(env):
    session = env.new_session()
    order, _, _ = _pending_pair(session.database)
    assert session.execute("cancel_pending_order", {"order_id": order["order_id"], "reason": "no longer needed"}).ok
    [message] = violations(env, "authenticated_before_write", session)
    assert "call 0 cancel_pending_order" in message and "before the user was authenticated" in message


def test_a_failed_write_attempt_before_authentication_is_flagged_too(env):
    session = env.new_session()
    order, user, _ = _pending_pair(session.database)
    session.execute("cancel_pending_order", {"order_id": "#W0000000", "reason": "no longer needed"})
    session.execute("find_user_id_by_email", {"email": user["email"]})
    session.execute("cancel_pending_order", {"order_id": order["order_id"], "reason": "no longer needed"})
    [message] = violations(env, "authenticated_before_write", session)
    assert message.startswith("call 0 ")


def test_a_failed_lookup_does_not_authenticate(env):
    session = env.new_session()
    order, _, _ = _pending_pair(session.database)
    assert not session.execute("find_user_id_by_email", {"email": "someone@else.test"}).ok
    session.execute("modify_pending_order_address", {"order_id": order["order_id"], "address1": "1 A St",
                                                     "address2": "", "city": "Austin", "state": "TX",
                                                     "country": "USA", "zip": "78701"})
    assert len(violations(env, "authenticated_before_write", session)) == 1


def test_acting_for_a_user_other_than_the_authenticated_one_is_flagged(env):
    session = env.new_session()
    mine, me, theirs = _pending_pair(session.database)
    session.execute("find_user_id_by_email", {"email": me["email"]})
    session.execute("cancel_pending_order", {"order_id": theirs["order_id"], "reason": "ordered by mistake"})
    [message] = violations(env, "authenticated_before_write", session)
    assert f"acts for user {theirs['user_id']}, who was never authenticated" in message


@pytest.mark.parametrize("how", ["email", "name_zip", "user_id"])
def test_each_way_of_authenticating_satisfies_the_rule(env, how):
    session = env.new_session()
    order, user, _ = _pending_pair(session.database)
    if how == "email":
        session.execute("find_user_id_by_email", {"email": user["email"]})
    elif how == "name_zip":
        session.execute("find_user_id_by_name_zip", {**user["name"], "zip": user["address"]["zip"]})
    else:
        session.execute("get_user_details", {"user_id": user["user_id"]})
    assert session.execute("cancel_pending_order", {"order_id": order["order_id"], "reason": "no longer needed"}).ok
    assert violations(env, "authenticated_before_write", session) == []


# -- one user ------------------------------------------------------------------------------------------


def test_touching_another_users_data_is_flagged(env):
    session = env.new_session()
    mine, me, theirs = _pending_pair(session.database)
    session.execute("get_order_details", {"order_id": theirs["order_id"]})  # before authenticating: still theirs
    session.execute("find_user_id_by_email", {"email": me["email"]})
    session.execute("get_order_details", {"order_id": mine["order_id"]})
    session.execute("get_user_details", {"user_id": theirs["user_id"]})
    messages = violations(env, "single_user", session)
    assert [m.split(" ")[1] for m in messages] == ["0", "3"]
    assert all(f"concerns user {theirs['user_id']}, but this task serves user {me['user_id']}" in m for m in messages)


def test_a_second_authenticated_user_is_flagged(env):
    session = env.new_session()
    _, me, theirs = _pending_pair(session.database)
    session.execute("find_user_id_by_email", {"email": me["email"]})
    session.execute("find_user_id_by_email", {"email": _email(session.database, theirs["user_id"])})
    [message] = violations(env, "single_user", session)
    assert "call 1 find_user_id_by_email" in message


def test_one_users_task_is_compliant(env):
    session = env.new_session()
    mine, me, _ = _pending_pair(session.database)
    session.execute("find_user_id_by_email", {"email": me["email"]})
    session.execute("get_user_details", {"user_id": me["user_id"]})
    session.execute("get_order_details", {"order_id": mine["order_id"]})
    session.execute("cancel_pending_order", {"order_id": mine["order_id"], "reason": "no longer needed"})
    assert env.check_policy(env.fresh_database(), session.trace, session.database) == []


# -- item changes --------------------------------------------------------------------------------------


def _modified_items_session(env: Environment) -> tuple[Session, ExecutedCall]:
    session = env.new_session()
    db = session.database
    order, user = first_order(db, lambda o, u: o["status"] == "pending" and swap_for(db, o) is not None
                              and (methods_of(u, "credit_card") or methods_of(u, "paypal")))
    swap = swap_for(db, order)
    method = (methods_of(user, "credit_card") or methods_of(user, "paypal"))[0]
    session.execute("find_user_id_by_email", {"email": user["email"]})
    call = session.execute("modify_pending_order_items", {
        "order_id": order["order_id"], "item_ids": [swap.item["item_id"]],
        "new_item_ids": [swap.available["item_id"]], "payment_method_id": method})
    assert call.ok, call.observation
    return session, call


def test_a_second_items_change_on_one_order_is_flagged(env):
    session, change = _modified_items_session(env)
    assert violations(env, "one_item_change_per_order", session) == []
    again = dataclasses.replace(change, name="exchange_delivered_order_items")
    [message] = violations(env, "one_item_change_per_order", session, [*session.trace, again])
    assert "call 2 exchange_delivered_order_items" in message and "again" in message


def test_item_count_must_be_kept(env):
    session, change = _modified_items_session(env)
    assert violations(env, "item_count_kept", session) == []
    uneven = dataclasses.replace(change, arguments={**change.arguments,
                                                    "new_item_ids": change.arguments["new_item_ids"] * 2})
    [message] = violations(env, "item_count_kept", session, [session.trace[0], uneven])
    assert "replaces 1 item(s) with 2" in message
    shrunk = session.database.get_for_update(ORDERS, change.arguments["order_id"])
    shrunk["items"].pop()  # an order that lost an item, as a buggy tool elsewhere might leave it
    [message] = violations(env, "item_count_kept", session)
    assert f"left order {change.arguments['order_id']} with" in message


# -- refunds and reasons -------------------------------------------------------------------------------


def test_return_refund_must_go_to_the_original_method_or_a_gift_card(env):
    session = env.new_session()
    db = session.database
    order, user = first_order(db, lambda o, u: o["status"] == "delivered" and methods_of(u, "gift_card") and any(
        m["source"] != "gift_card" and mid != paid_with(o) for mid, m in u["payment_methods"].items()))
    elsewhere = next(mid for mid, m in user["payment_methods"].items()
                     if m["source"] != "gift_card" and mid != paid_with(order))
    session.execute("find_user_id_by_email", {"email": user["email"]})
    arguments = {"order_id": order["order_id"], "item_ids": [order["items"][0]["item_id"]]}
    assert session.execute("return_delivered_order_items", {**arguments, "payment_method_id": elsewhere}).ok
    [message] = violations(env, "return_refund_destination", session)
    assert f"refunds to {elsewhere}" in message
    for allowed in (paid_with(order), methods_of(user, "gift_card")[0]):
        fresh = env.new_session()
        fresh.execute("find_user_id_by_email", {"email": user["email"]})
        assert fresh.execute("return_delivered_order_items", {**arguments, "payment_method_id": allowed}).ok
        assert violations(env, "return_refund_destination", fresh) == []


def test_cancel_reason_outside_the_two_allowed_is_flagged(env):
    session = env.new_session()
    order, user, _ = _pending_pair(session.database)
    session.execute("find_user_id_by_email", {"email": user["email"]})
    cancel = session.execute("cancel_pending_order", {"order_id": order["order_id"], "reason": "ordered by mistake"})
    assert violations(env, "cancel_reason", session) == []
    foreign = dataclasses.replace(cancel, arguments={**cancel.arguments, "reason": "found it cheaper"})
    [message] = violations(env, "cancel_reason", session, [session.trace[0], foreign])
    assert "'found it cheaper'" in message


# -- the policy as a whole -----------------------------------------------------------------------------


def test_policy_sections_name_real_tools_and_state_the_rules(env):
    names = {spec.name for spec in env.tool_specs}
    governed = {tool for section in POLICY_SECTIONS for tool in section.tools}
    assert governed <= names
    assert set(env.write_tools) <= governed
    text = env.policy_text
    for phrase in ("no longer needed", "ordered by mistake", "gift card", "only once", "explicit \"yes\""):
        assert phrase in text


def test_order_ending_writes_match_the_tools_and_no_pair_is_forbidden_per_task(env):
    """After an order-ending write, every order write on that order is refused by the tool itself."""
    assert FORBIDDEN_PAIRS == ()
    db = env.fresh_database()
    writes = dict(valid_writes(db))
    for ending in ORDER_ENDING_WRITES:
        session = env.new_session()
        assert session.execute(ending, writes[ending]).ok
        order_id = writes[ending]["order_id"]
        for follow_up in ORDER_WRITES:
            arguments = {**writes[follow_up], "order_id": order_id}
            call = session.execute(follow_up, arguments)
            assert not call.ok and "requires a" in call.observation, (ending, follow_up, call.observation)
    assert set(ORDER_ENDING_WRITES) == {"cancel_pending_order", "modify_pending_order_items",
                                        "return_delivered_order_items", "exchange_delivered_order_items"}

"""Domain-data sampling and ground-truth action proposals for retail task contexts.

`sample_domain_data` picks one user whose orders can carry the requested write tools; the same
planner that `propose_actions` uses decides "can carry", so a sample the sampler accepts is one the
proposer can turn into actions that execute cleanly and pass the policy checks.

Both read records as data they did not make (tau-bench's own files, a plugin's fixed data set): a
field that is optional there (a user record without its `user_id`, a user without orders or payment
methods, an order without items or payments) narrows what can be planned, never crashes the sampler.
"""

from __future__ import annotations

import math
import pickle
import random
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from apigen_pipeline.environments.base import DomainSample, ToolCall
from apigen_pipeline.environments.database import Database, Record
from apigen_pipeline.environments.retail.data import random_address
from apigen_pipeline.environments.retail.domain import (
    AUTH_BY_EMAIL,
    AUTH_BY_NAME_ZIP,
    CANCEL,
    CANCEL_REASONS,
    DELIVERED,
    DELIVERED_ORDER_WRITES,
    EXCHANGE_ITEMS,
    GET_ORDER,
    GET_PRODUCT,
    GET_USER,
    ITEM_CHANGE_WRITES,
    MODIFY_ORDER_ADDRESS,
    MODIFY_ORDER_ITEMS,
    MODIFY_ORDER_PAYMENT,
    MODIFY_USER_ADDRESS,
    ORDER_ENDING_WRITES,
    ORDERS,
    PENDING,
    PENDING_ORDER_WRITES,
    PRODUCTS,
    RETURN_ITEMS,
    STATUS_REQUIRED,
    USERS,
    WRITE_TOOLS,
    charged_methods,
    money,
    net_charges,
)

# Writes run in this order so that nothing closes an order before another write still needs it
# (address and payment changes keep an order pending; items changes and cancellations end it).
EXECUTION_ORDER: tuple[str, ...] = (
    MODIFY_USER_ADDRESS, MODIFY_ORDER_ADDRESS, MODIFY_ORDER_PAYMENT, MODIFY_ORDER_ITEMS, CANCEL,
    RETURN_ITEMS, EXCHANGE_ITEMS,
)
_MAX_USER_ATTEMPTS = 40
_IDENTITY_WEIGHTS: tuple[tuple[str, float], ...] = (("email", 0.45), ("name_zip", 0.45), ("user_id", 0.10))


# -- which users can carry which writes ---------------------------------------------------------

@dataclass(frozen=True)
class _UserPools:
    everyone: tuple[str, ...]
    with_pending: tuple[str, ...]
    with_delivered: tuple[str, ...]
    with_both: tuple[str, ...]


_POOL_CACHE: OrderedDict[str, _UserPools] = OrderedDict()
_POOL_CACHE_SIZE = 4
_POOL_CACHE_LOCK = threading.Lock()


def _user_pools(db: Database) -> _UserPools:
    """Pools per database *content* (keyed by state hash, O(1) on a fresh database), built once."""
    key = db.state_hash()
    with _POOL_CACHE_LOCK:
        if key in _POOL_CACHE:
            _POOL_CACHE.move_to_end(key)
            return _POOL_CACHE[key]
    statuses: dict[str, set[str]] = {}
    for _, order in db.records(ORDERS):
        statuses.setdefault(order.get("user_id"), set()).add(order.get("status"))
    everyone = tuple(db.ids(USERS))
    pending = tuple(u for u in everyone if PENDING in statuses.get(u, ()))
    delivered = tuple(u for u in everyone if DELIVERED in statuses.get(u, ()))
    both = tuple(u for u in pending if DELIVERED in statuses[u])
    pools = _UserPools(everyone, pending, delivered, both)
    with _POOL_CACHE_LOCK:
        _POOL_CACHE[key] = pools
        while len(_POOL_CACHE) > _POOL_CACHE_SIZE:
            _POOL_CACHE.popitem(last=False)
    return pools


def _requested(write_tools: Sequence[str]) -> list[str]:
    """The known write tools in execution order. A repeated tool (two cancellations) acts on two orders;
    a repeated profile-address change would only overwrite itself, so it counts once."""
    known = [tool for tool in write_tools if tool in EXECUTION_ORDER]
    if known.count(MODIFY_USER_ADDRESS) > 1:
        known = [t for t in known if t != MODIFY_USER_ADDRESS] + [MODIFY_USER_ADDRESS]
    return sorted(known, key=EXECUTION_ORDER.index)


def sample_domain_data(db: Database, rng: random.Random, write_tools: Sequence[str]) -> DomainSample:
    tools = _requested(write_tools)
    pools = _user_pools(db)
    needs_pending = any(tool in PENDING_ORDER_WRITES for tool in tools)
    needs_delivered = any(tool in DELIVERED_ORDER_WRITES for tool in tools)
    pool = {(True, True): pools.with_both, (True, False): pools.with_pending,
            (False, True): pools.with_delivered, (False, False): pools.everyone}[(needs_pending, needs_delivered)]
    pool = pool or pools.everyone
    records: dict[str, dict[str, Any]] = {}
    user_id = pool[0]
    for _ in range(_MAX_USER_ATTEMPTS):
        user_id = rng.choice(pool)
        records = _records_for(db, user_id, tools, rng)
        if _plan_writes(records, user_id, tools, rng) is not None:
            break
    # Private copies, so a caller editing its sample can never reach the seed (pickle: 4x faster than JSON).
    records = pickle.loads(pickle.dumps(records, protocol=pickle.HIGHEST_PROTOCOL))
    return DomainSample(user_id=user_id, records=records, identity=_identity(user_id, records[USERS][user_id], rng))


def _records_for(db: Database, user_id: str, tools: Sequence[str], rng: random.Random) -> dict[str, dict[str, Any]]:
    """The records the task can involve: the user, the orders in a status the writes act on (all of them when
    no write acts on an order), and the products of the orders whose items may change, with the variants on
    sale (only an available variant can replace an item)."""
    user = db.get(USERS, user_id)
    assert user is not None
    orders = {order_id: order for order_id in user.get("orders") or [] if (order := db.get(ORDERS, order_id)) is not None}
    statuses = {STATUS_REQUIRED[tool] for tool in tools if tool in STATUS_REQUIRED}
    orders = {order_id: order for order_id, order in orders.items() if not statuses or order.get("status") in statuses}
    if any(tool in ITEM_CHANGE_WRITES for tool in tools):
        # Every order that could be changed brings its products, so the variants to swap to are known.
        wanted = {PENDING} if MODIFY_ORDER_ITEMS in tools else set()
        wanted |= {DELIVERED} if EXCHANGE_ITEMS in tools else set()
        source = [order for order in orders.values() if order.get("status") in wanted]
    else:
        source = [rng.choice(list(orders.values()))] if orders else []
    products: dict[str, Record] = {}
    for order in source:
        for item in order.get("items") or []:
            product = db.get(PRODUCTS, str(item.get("product_id")))
            if product is not None:
                products[item["product_id"]] = _on_sale(product)
    return {USERS: {user_id: user}, ORDERS: orders, PRODUCTS: products}


def _on_sale(product: Record) -> Record:
    variants = product.get("variants") or {}
    return {**product, "variants": {key: variant for key, variant in variants.items() if variant.get("available")}}


def _identity(user_id: str, user: Mapping[str, Any], rng: random.Random) -> dict[str, Any]:
    """How the user identifies: by email, name and zip, or user id (weighted); a way the record cannot
    support (no email, no name or zip) falls back to the user id, which the record's key always gives."""
    kind = _weighted(rng, _IDENTITY_WEIGHTS)
    name, address = user.get("name") or {}, user.get("address") or {}
    if kind == "email" and user.get("email"):
        return {"email": user["email"]}
    if kind == "name_zip" and name.get("first_name") and name.get("last_name") and address.get("zip"):
        return {"first_name": name["first_name"], "last_name": name["last_name"], "zip": address["zip"]}
    return {"user_id": user_id}


def _weighted(rng: random.Random, weighted: tuple[tuple[str, float], ...]) -> str:
    draw, cumulative = rng.random(), 0.0
    for value, weight in weighted:
        cumulative += weight
        if draw < cumulative:
            return value
    return weighted[-1][0]


# -- planning the writes ------------------------------------------------------------------------

@dataclass
class _Ledger:
    """What the planned writes have done so far: gift card balances and each order's paying method."""

    balances: dict[str, float]
    payer: dict[str, tuple[str, float]] = field(default_factory=dict)  # order -> (method, amount)

    def can_pay(self, user: Mapping[str, Any], method_id: str, amount: float) -> bool:
        method = _methods(user).get(method_id) or {}
        return method.get("source") != "gift_card" or self.balances.get(method_id, 0.0) >= amount

    def charge(self, method_id: str, amount: float) -> None:
        if method_id in self.balances:
            self.balances[method_id] = money(self.balances[method_id] - amount)


def _swap_options(order: Mapping[str, Any], products: Mapping[str, Record]) -> list[tuple[int, list[Record]]]:
    """(item position, available other variants of its product) for every item that could be swapped."""
    options: list[tuple[int, list[Record]]] = []
    for position, item in enumerate(order.get("items") or []):
        product = products.get(item.get("product_id"))
        if product is None:
            continue
        others = [v for v in (product.get("variants") or {}).values()
                  if v.get("available") and v.get("item_id") != item.get("item_id")]
        if others:
            options.append((position, others))
    return options


def _plan_writes(records: Mapping[str, Mapping[str, Any]], user_id: str, tools: Sequence[str],
                 rng: random.Random) -> list[ToolCall] | None:
    """Valid write calls for the tools on this user's data, or None when the data cannot carry them."""
    user, orders, products = records[USERS][user_id], records[ORDERS], records[PRODUCTS]
    assignment = _assign_orders(orders, products, user, tools, rng)
    if assignment is None:
        return None
    ledger = _Ledger({mid: m.get("balance", 0.0) for mid, m in _methods(user).items() if m.get("source") == "gift_card"})
    for order_id in assignment:
        charged = [(m, a) for m, a in net_charges(orders[order_id]).items() if a > 0] if order_id else []
        if len(charged) == 1:
            ledger.payer[order_id] = charged[0]
    writes: list[ToolCall] = []
    for tool, order_id in zip(tools, assignment, strict=True):
        if order_id is None:
            writes.append(ToolCall(tool, {"user_id": user_id, **random_address(rng)}))
            continue
        call = _plan_order_write(tool, order_id, orders[order_id], user, products, ledger, rng)
        if call is None:
            return None
        writes.append(call)
    return writes


def _assign_orders(orders: Mapping[str, Any], products: Mapping[str, Record], user: Mapping[str, Any],
                   tools: Sequence[str], rng: random.Random) -> list[str | None] | None:
    """The order each write acts on (None for the profile address), or None when there are too few.

    A write that ends an order (items change, cancel, return, exchange) needs an order of its own;
    address and payment changes run before those, so they may share any pending order. Two uses of
    one tool always go to two orders."""
    assignment: list[str | None] = [None] * len(tools)
    ended: set[str] = set()
    used_by: dict[str, set[str]] = {}
    # Most constrained first: item swaps need swappable items, then the other order-ending writes.
    positions = sorted((p for p, t in enumerate(tools) if t != MODIFY_USER_ADDRESS),
                       key=lambda p: (tools[p] not in ITEM_CHANGE_WRITES, tools[p] not in ORDER_ENDING_WRITES))
    for position in positions:
        tool = tools[position]
        status = DELIVERED if tool in DELIVERED_ORDER_WRITES else PENDING
        taken = used_by.setdefault(tool, set())
        candidates = [oid for oid, order in orders.items() if order.get("status") == status and oid not in taken
                      and (oid not in ended or tool not in ORDER_ENDING_WRITES)]
        if tool in ITEM_CHANGE_WRITES:
            candidates = [oid for oid in candidates if _swap_options(orders[oid], products)]
        if tool == MODIFY_ORDER_PAYMENT:
            candidates = [oid for oid in candidates if _payment_alternatives(orders[oid], user)]
        if not candidates:
            return None
        chosen = rng.choice(candidates)
        assignment[position] = chosen
        taken.add(chosen)
        if tool in ORDER_ENDING_WRITES:
            ended.add(chosen)
    return assignment


def _payment_alternatives(order: Mapping[str, Any], user: Mapping[str, Any]) -> list[str]:
    """Methods that could take over the whole payment of a single-payer order, at current balances."""
    charged = [(method, amount) for method, amount in net_charges(order).items() if amount > 0]
    if len(charged) != 1:
        return []
    current, amount = charged[0]
    return [mid for mid, method in _methods(user).items()
            if mid != current and (method.get("source") != "gift_card" or method.get("balance", 0.0) >= amount)]


def _plan_order_write(tool: str, order_id: str, order: Mapping[str, Any], user: Mapping[str, Any],
                      products: Mapping[str, Record], ledger: _Ledger, rng: random.Random) -> ToolCall | None:
    methods = list(_methods(user))
    if tool == MODIFY_ORDER_ADDRESS:
        return ToolCall(tool, {"order_id": order_id, **random_address(rng)})
    if tool == CANCEL:
        method, amount = ledger.payer.get(order_id, ("", 0.0))
        ledger.charge(method, -amount)
        return ToolCall(tool, {"order_id": order_id, "reason": rng.choice(CANCEL_REASONS)})
    if tool == MODIFY_ORDER_PAYMENT:
        if order_id not in ledger.payer:
            return None
        current, amount = ledger.payer[order_id]
        choices = [m for m in methods if m != current and ledger.can_pay(user, m, amount)]
        if not choices:
            return None
        new_method = rng.choice(choices)
        ledger.charge(new_method, amount)
        ledger.charge(current, -amount)
        ledger.payer[order_id] = (new_method, amount)
        return ToolCall(tool, {"order_id": order_id, "payment_method_id": new_method})
    if tool == RETURN_ITEMS:
        item_ids = [item["item_id"] for item in order.get("items") or [] if "item_id" in item]
        originals = charged_methods(order)
        if not item_ids or not originals:
            return None
        chosen = rng.sample(item_ids, rng.randint(1, len(item_ids)))
        original = originals[0]
        gift_cards = [m for m in methods if _methods(user)[m].get("source") == "gift_card"]
        destination = rng.choice(gift_cards) if gift_cards and rng.random() < 0.3 else original
        return ToolCall(tool, {"order_id": order_id, "item_ids": chosen, "payment_method_id": destination})
    return _plan_item_swap(tool, order_id, order, user, products, ledger, rng)


def _plan_item_swap(tool: str, order_id: str, order: Mapping[str, Any], user: Mapping[str, Any],
                    products: Mapping[str, Record], ledger: _Ledger, rng: random.Random) -> ToolCall | None:
    options = _swap_options(order, products)
    if not options:
        return None
    # Only swaps the user can pay for: any non-gift method pays anything, gift cards up to their balance.
    budget = math.inf if any(m.get("source") != "gift_card" for m in _methods(user).values()) \
        else max(ledger.balances.values(), default=0.0)
    wanted = 2 if len(options) > 1 and rng.random() < 0.3 else 1
    chosen: list[tuple[int, Record]] = []
    difference = 0.0
    for position, others in rng.sample(options, len(options)):
        item = order["items"][position]
        affordable = [v for v in others if money(difference + v["price"] - item["price"]) <= budget]
        if affordable:
            variant = rng.choice(affordable)
            chosen.append((position, variant))
            difference += variant["price"] - item["price"]
            if len(chosen) == wanted:
                break
    if not chosen:
        return None
    chosen.sort(key=lambda pair: pair[0])  # the order's own item order reads naturally
    item_ids = [order["items"][position]["item_id"] for position, _ in chosen]
    new_item_ids = [variant["item_id"] for _, variant in chosen]
    difference = money(difference)
    payers = [m for m in _methods(user) if ledger.can_pay(user, m, difference)]
    if not payers:
        return None
    method = rng.choice(payers)
    ledger.charge(method, difference)
    return ToolCall(tool, {"order_id": order_id, "item_ids": item_ids, "new_item_ids": new_item_ids,
                           "payment_method_id": method})


def _methods(user: Mapping[str, Any]) -> Mapping[str, Any]:
    return user.get("payment_methods") or {}


# -- the ground-truth action list ---------------------------------------------------------------

def _authentication(sample: DomainSample) -> ToolCall:
    identity = sample.identity
    if "email" in identity:
        return ToolCall(AUTH_BY_EMAIL, {"email": identity["email"]})
    if {"first_name", "last_name", "zip"} <= identity.keys():
        return ToolCall(AUTH_BY_NAME_ZIP, {key: identity[key] for key in ("first_name", "last_name", "zip")})
    return ToolCall(GET_USER, {"user_id": sample.user_id})


def propose_actions(sample: DomainSample, write_tools: Sequence[str], rng: random.Random) -> list[ToolCall] | None:
    """Authenticate, read the profile, then for each write read what it needs and make it."""
    if any(tool not in WRITE_TOOLS for tool in write_tools):
        return None  # not a retail write tool: nothing grounded can be proposed
    tools = _requested(write_tools)
    if sample.user_id not in sample.records.get(USERS, {}):
        return None
    records = {table: sample.records.get(table, {}) for table in (USERS, ORDERS, PRODUCTS)}
    writes = _plan_writes(records, sample.user_id, tools, rng)
    if writes is None:
        return None
    actions = [_authentication(sample)]
    if actions[0].name != GET_USER:
        actions.append(ToolCall(GET_USER, {"user_id": sample.user_id}))
    seen_orders: set[str] = set()
    seen_products: set[str] = set()
    for write in writes:
        order_id = write.arguments.get("order_id")
        if order_id is not None and order_id not in seen_orders:
            seen_orders.add(order_id)
            actions.append(ToolCall(GET_ORDER, {"order_id": order_id}))
        if write.name in ITEM_CHANGE_WRITES:
            product_of = {item["item_id"]: item["product_id"] for item in records[ORDERS][order_id]["items"]}
            for item_id in write.arguments["item_ids"]:
                if product_of[item_id] not in seen_products:
                    seen_products.add(product_of[item_id])
                    actions.append(ToolCall(GET_PRODUCT, {"product_id": product_of[item_id]}))
        actions.append(write)
    return actions

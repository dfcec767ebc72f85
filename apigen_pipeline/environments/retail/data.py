"""Seeded generator of the retail database: users, orders and products at any scale.

Everything is drawn from one `random.Random(seed)` in a fixed order, so a seed always gives the same
bytes. Work and memory are linear in the record counts: order items share their variant's options
dict and an order shipped to its owner shares the owner's address dict (the seed is read-only;
`Database.get_for_update` copies a record before anyone changes it).
"""

from __future__ import annotations

import gc
import random
from typing import Any, TypeVar

from apigen_pipeline.environments.database import Record, Tables
from apigen_pipeline.environments.retail.domain import (
    CANCEL_REASONS,
    CANCELLED,
    DELIVERED,
    ORDERS,
    PENDING,
    PROCESSED,
    PRODUCTS,
    USERS,
    money,
)
from apigen_pipeline.environments.retail.vocabulary import (
    CARD_BRANDS,
    CATALOGUE,
    CITIES,
    EMAIL_DOMAINS,
    FIRST_NAMES,
    LAST_NAMES,
    STREET_NAMES,
    UNIT_KINDS,
    ProductType,
)

# tau-bench's retail database size; `scale` multiplies all of them.
DEFAULT_COUNTS: dict[str, int] = {"users": 500, "orders": 1000, "products": 50, "variants": 591}
MIN_VARIANTS_PER_PRODUCT = 10
MAX_VARIANTS_PER_PRODUCT = 20

_STATUS_WEIGHTS: tuple[tuple[str, float], ...] = (
    (DELIVERED, 0.45), (PENDING, 0.25), (PROCESSED, 0.20), (CANCELLED, 0.10),
)
_ITEM_COUNT_WEIGHTS: tuple[tuple[int, float], ...] = ((1, 0.30), (2, 0.30), (3, 0.20), (4, 0.12), (5, 0.08))
_PAYMENT_COUNT_WEIGHTS: tuple[tuple[int, float], ...] = ((1, 0.45), (2, 0.40), (3, 0.15))
_AVAILABLE_SHARE = 0.75
_SHIPPED_TO_OWNER_SHARE = 0.85


def record_counts(scale: float) -> dict[str, int]:
    """Record counts for a scale; variants stay within 10-20 per product whatever the rounding."""
    if scale <= 0:
        raise ValueError(f"scale must be positive, got {scale}")
    counts = {table: max(1, round(n * scale)) for table, n in DEFAULT_COUNTS.items()}
    products = counts["products"]
    counts["variants"] = min(max(counts["variants"], MIN_VARIANTS_PER_PRODUCT * products),
                             MAX_VARIANTS_PER_PRODUCT * products)
    return counts


def generate_data(seed: int, scale: float = 1.0) -> Tables:
    rng = random.Random(seed)
    counts = record_counts(scale)
    mint = _IdMint(rng)
    # Millions of small acyclic dicts would trigger repeated full cyclic-GC passes (2x the run time
    # at scale 100) without ever freeing anything, so the collector pauses while we build them.
    collector_was_enabled = gc.isenabled()
    gc.disable()
    try:
        products = _generate_products(rng, mint, counts["products"], counts["variants"])
        users = _generate_users(rng, mint, counts["users"])
        orders = _generate_orders(rng, mint, users, products, counts["orders"])
    finally:
        if collector_was_enabled:
            gc.enable()
    return {USERS: users, ORDERS: orders, PRODUCTS: products}


class _IdMint:
    """Unique random identifiers; the used-set is only ever probed, never iterated (order-safe)."""

    def __init__(self, rng: random.Random):
        self._rng = rng
        self._used: set[str] = set()

    def make(self, prefix: str, digits: int, low: int = 0) -> str:
        while True:
            candidate = f"{prefix}{self._rng.randint(low, 10 ** digits - 1):0{digits}d}"
            if candidate not in self._used:
                self._used.add(candidate)
                return candidate

    def claim(self, candidate: str) -> bool:
        if candidate in self._used:
            return False
        self._used.add(candidate)
        return True


# -- products ---------------------------------------------------------------------------------

def _generate_products(rng: random.Random, mint: _IdMint, product_count: int, variant_count: int) -> dict[str, Record]:
    per_product = _allocate_variants(rng, product_count, variant_count)
    products: dict[str, Record] = {}
    for index, n_variants in enumerate(per_product):
        kind = CATALOGUE[index % len(CATALOGUE)]
        series = index // len(CATALOGUE)
        # Beyond the default catalogue, product types repeat as later "series" so names stay unique.
        name = kind.name if series == 0 else f"{kind.name} Series {series + 1}"
        product_id = mint.make("", 10, low=10 ** 9)
        products[product_id] = {
            "product_id": product_id,
            "name": name,
            "variants": _generate_variants(rng, mint, kind, n_variants),
        }
    return products


def _allocate_variants(rng: random.Random, product_count: int, variant_count: int) -> list[int]:
    """Each product gets the minimum, then the remainder lands on random products below the cap."""
    per_product = [MIN_VARIANTS_PER_PRODUCT] * product_count
    open_slots = list(range(product_count))
    for _ in range(variant_count - MIN_VARIANTS_PER_PRODUCT * product_count):
        slot = rng.randrange(len(open_slots))
        product = open_slots[slot]
        per_product[product] += 1
        if per_product[product] == MAX_VARIANTS_PER_PRODUCT:
            open_slots[slot] = open_slots[-1]
            open_slots.pop()
    return per_product


def _generate_variants(rng: random.Random, mint: _IdMint, kind: ProductType, count: int) -> dict[str, Record]:
    radices = [len(values) for _, values in kind.options]
    combinations = 1
    for radix in radices:
        combinations *= radix
    low, high = kind.price_range
    base_price = rng.uniform(low, low + (high - low) * 0.7)
    variants: dict[str, Record] = {}
    for combination in rng.sample(range(combinations), count):
        options: dict[str, str] = {}
        for (option, values), radix in zip(kind.options, radices, strict=True):
            combination, digit = divmod(combination, radix)
            options[option] = values[digit]
        item_id = mint.make("", 10, low=10 ** 9)
        variants[item_id] = {
            "item_id": item_id,
            "options": options,
            "available": rng.random() < _AVAILABLE_SHARE,
            "price": money(min(high, max(low, base_price * rng.uniform(0.85, 1.3)))),
        }
    return variants


# -- users ------------------------------------------------------------------------------------

def _generate_users(rng: random.Random, mint: _IdMint, count: int) -> dict[str, Record]:
    users: dict[str, Record] = {}
    for _ in range(count):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        while True:
            suffix = rng.randint(1000, 9999)
            user_id = f"{first.lower()}_{last.lower()}_{suffix}"
            if mint.claim(user_id):
                break
        # Name + zip is an identity the user can give, so it must single out one user.
        while True:
            address = _random_address(rng)
            if mint.claim(f"name-zip:{first}|{last}|{address['zip']}"):
                break
        users[user_id] = {
            "user_id": user_id,
            "name": {"first_name": first, "last_name": last},
            "address": address,
            "email": f"{first.lower()}.{last.lower()}{suffix}@{rng.choice(EMAIL_DOMAINS)}",
            "payment_methods": _generate_payment_methods(rng, mint),
            "orders": [],
        }
    return users


def _random_address(rng: random.Random) -> dict[str, str]:
    city = rng.choice(CITIES)
    unit = f"{rng.choice(UNIT_KINDS)} {rng.randint(100, 999)}" if rng.random() < 0.6 else ""
    return {
        "address1": f"{rng.randint(10, 9999)} {rng.choice(STREET_NAMES)}",
        "address2": unit,
        "city": city.name,
        "state": city.state,
        "country": "USA",
        "zip": f"{city.zip_prefix}{rng.randint(0, 99):02d}",
    }


def random_address(rng: random.Random) -> dict[str, str]:
    """A plausible US address (used by samplers to propose a new shipping address)."""
    return _random_address(rng)


def _generate_payment_methods(rng: random.Random, mint: _IdMint) -> dict[str, Record]:
    methods: dict[str, Record] = {}
    count = _weighted(rng, _PAYMENT_COUNT_WEIGHTS)
    has_paypal = False
    for _ in range(count):
        draw = rng.random()
        if draw < 0.25 and not has_paypal:
            has_paypal = True
            method_id = mint.make("paypal_", 7)
            methods[method_id] = {"source": "paypal", "id": method_id}
        elif draw < 0.5:
            method_id = mint.make("gift_card_", 7)
            methods[method_id] = {"source": "gift_card", "id": method_id, "balance": money(rng.uniform(0, 300))}
        else:
            method_id = mint.make("credit_card_", 7)
            methods[method_id] = {"source": "credit_card", "id": method_id, "brand": rng.choice(CARD_BRANDS),
                                  "last_four": f"{rng.randint(0, 9999):04d}"}
    return methods


T = TypeVar("T")


# -- orders -----------------------------------------------------------------------------------

def _generate_orders(rng: random.Random, mint: _IdMint, users: dict[str, Record],
                     products: dict[str, Record], count: int) -> dict[str, Record]:
    user_list = list(users.values())
    product_list = [(product, list(product["variants"].values())) for product in products.values()]
    owners = _order_owners(rng, len(user_list), count)
    orders: dict[str, Record] = {}
    for owner_index in owners:
        user = user_list[owner_index]
        order_id = mint.make("#W", 7)
        orders[order_id] = _generate_order(rng, mint, order_id, user, product_list)
        user["orders"].append(order_id)
    return orders


def _order_owners(rng: random.Random, user_count: int, order_count: int) -> list[int]:
    """Every user gets an order while orders last; the rest go to random users (some are regulars)."""
    owners = list(range(user_count))
    rng.shuffle(owners)
    owners = owners[:order_count]
    owners.extend(rng.randrange(user_count) for _ in range(order_count - len(owners)))
    return owners


def _generate_order(rng: random.Random, mint: _IdMint, order_id: str, user: Record,
                    product_list: list[tuple[Record, list[Record]]]) -> Record:
    item_count = min(_weighted(rng, _ITEM_COUNT_WEIGHTS), len(product_list))
    items: list[dict[str, Any]] = []
    for product_index in rng.sample(range(len(product_list)), item_count):
        product, variants = product_list[product_index]
        variant = rng.choice(variants)
        items.append({"name": product["name"], "product_id": product["product_id"], "item_id": variant["item_id"],
                      "price": variant["price"], "options": variant["options"]})
    status = _weighted(rng, _STATUS_WEIGHTS)
    address = user["address"] if rng.random() < _SHIPPED_TO_OWNER_SHARE else _random_address(rng)
    payment_method_id = rng.choice(list(user["payment_methods"]))
    total = money(sum(item["price"] for item in items))
    payment_history = [{"transaction_type": "payment", "amount": total, "payment_method_id": payment_method_id}]
    order: Record = {
        "order_id": order_id,
        "user_id": user["user_id"],
        "address": address,
        "items": items,
        "fulfillments": _fulfillments(rng, items) if status in (PROCESSED, DELIVERED) else [],
        "status": status,
        "payment_history": payment_history,
    }
    if status == CANCELLED:
        payment_history.append({"transaction_type": "refund", "amount": total, "payment_method_id": payment_method_id})
        order["cancel_reason"] = rng.choice(CANCEL_REASONS)
    return order


def _fulfillments(rng: random.Random, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Shipped orders leave in one parcel, or two when they have several items."""
    item_ids = [item["item_id"] for item in items]
    split = rng.randint(1, len(item_ids) - 1) if len(item_ids) > 1 and rng.random() < 0.3 else len(item_ids)
    parcels = [item_ids[:split], item_ids[split:]] if split < len(item_ids) else [item_ids]
    return [{"tracking_id": [str(rng.randint(10 ** 11, 10 ** 12 - 1))], "item_ids": parcel} for parcel in parcels]


def _weighted(rng: random.Random, weighted: tuple[tuple[T, float], ...]) -> T:
    draw = rng.random()
    cumulative = 0.0
    for value, weight in weighted:
        cumulative += weight
        if draw < cumulative:
            return value
    return weighted[-1][0]
